package sqlitestore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

const benchProcEnv = "IDEM_SQLITESTORE_BENCH_PROC" // "mode,id,calls,path"

// BenchmarkFirstCallProcesses runs first calls (claim, then complete, on a
// fresh key) from 1 and 4 processes sharing one file, each process one
// caller after another, so that the cost of the claims' fsyncs across
// processes shows. "open" is a store made by Open (commits with
// synchronous=NORMAL, the log's fsync after the commit, outside the write
// lock); "fsync-under-lock", the baseline in the same run, is a store made
// by New on a *sql.DB opened with DSN (synchronous=FULL: the fsync at
// commit, under the lock). ns/op is per first call across all processes.
//
//	go test ./runtime/sqlitestore -run '^$' -bench FirstCallProcesses -benchtime 2000x -count 5
func BenchmarkFirstCallProcesses(b *testing.B) {
	for _, procs := range []int{1, 4} {
		for _, mode := range []string{"fsync-under-lock", "open"} {
			b.Run(fmt.Sprintf("procs=%d/%s", procs, mode), func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "idem.db")
				s, err := sqlitestore.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
				calls := max(b.N/procs, 1)
				b.ResetTimer()
				var wg sync.WaitGroup
				errs := make(chan error, procs)
				for p := range procs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						cmd := exec.Command(os.Args[0], "-test.run=^TestBenchProcess$")
						cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d,%s", benchProcEnv, mode, p, calls, path))
						if out, err := cmd.CombinedOutput(); err != nil {
							errs <- fmt.Errorf("process %d: %v\n%s", p, err, out)
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Error(err)
				}
				b.ReportMetric(float64(procs*calls)/b.Elapsed().Seconds(), "calls/s")
			})
		}
	}
}

// TestBenchProcess is one process of BenchmarkFirstCallProcesses; it does
// nothing in a normal test run.
func TestBenchProcess(t *testing.T) {
	arg := os.Getenv(benchProcEnv)
	if arg == "" {
		testenv.NotApplicable(t, "helper process, run only by BenchmarkFirstCallProcesses")
	}
	parts := strings.SplitN(arg, ",", 4)
	mode, id, path := parts[0], parts[1], parts[3]
	calls, err := strconv.Atoi(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	var s *sqlitestore.Store
	if mode == "open" {
		s, err = sqlitestore.Open(path)
	} else {
		var db *sql.DB
		db, err = sql.Open("sqlite", sqlitestore.DSN(path))
		if err == nil {
			defer db.Close()
			s, err = sqlitestore.New(db)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	owner := store.Owner{1}
	for i := range calls {
		now := time.Now()
		key := store.Key(sha256.Sum256([]byte(id + "/" + strconv.Itoa(i))))
		res, err := s.Claim(ctx, store.ClaimRequest{Key: key, Namespace: "bench", Owner: owner, Now: now,
			LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour)})
		if err != nil || !res.Granted {
			t.Fatalf("claim %d: granted %v, %v", i, res.Granted, err)
		}
		if err := s.Complete(ctx, key, store.Fence{Owner: owner, Token: res.Record.Token}, []byte("r"), now.Add(time.Hour)); err != nil {
			t.Fatalf("complete %d: %v", i, err)
		}
	}
}
