package sqlitestore_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

const (
	helperEnv     = "IDEM_SQLITESTORE_HELPER"
	helperDBEnv   = "IDEM_SQLITESTORE_HELPER_DB"
	processKeys   = 200
	helperWorkers = 4
)

func processKey(i int) store.Key {
	return store.Key{0xab, byte(i), byte(i >> 8)}
}

// Two processes race to claim the same 200 keys in one file, each with
// several goroutines. Every key is granted exactly once across the
// processes, the loser of each key sees the winner's record, and no
// "database is locked" error escapes the store.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idem.db")

	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
		stderr string // file the child's stderr goes to
	}
	children := make([]*child, 2)
	for i := range children {
		c := &child{cmd: exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")}
		c.cmd.Env = append(os.Environ(), helperEnv+"="+strconv.Itoa(i), helperDBEnv+"="+path)
		c.stderr = filepath.Join(t.TempDir(), "stderr")
		errFile, err := os.Create(c.stderr)
		require.NoError(t, err)
		defer errFile.Close()
		c.cmd.Stderr = errFile
		c.stdin, err = c.cmd.StdinPipe()
		require.NoError(t, err)
		out, err := c.cmd.StdoutPipe()
		require.NoError(t, err)
		c.stdout = bufio.NewReader(out)
		require.NoError(t, c.cmd.Start())
		children[i] = c
	}
	// Both processes open the fresh file at once, then report ready; the
	// race starts when both are.
	for i, c := range children {
		line, err := c.stdout.ReadString('\n')
		if err != nil || line != "ready\n" {
			_ = c.cmd.Wait()
			stderr, _ := os.ReadFile(c.stderr)
			t.Fatalf("child %d did not get ready: %q, %v\n%s", i, line, err, stderr)
		}
	}
	for _, c := range children {
		_, err := c.stdin.Write([]byte("go\n"))
		require.NoError(t, err)
		require.NoError(t, c.stdin.Close())
	}

	granted := make(map[int]int) // key index -> child that was granted it
	seen := make([]map[int]bool, len(children))
	for i, c := range children {
		seen[i] = make(map[int]bool)
		out, err := io.ReadAll(c.stdout)
		require.NoError(t, err)
		waitErr := c.cmd.Wait()
		stderr, err := os.ReadFile(c.stderr)
		require.NoError(t, err)
		require.NoError(t, waitErr, "child %d failed:\n%s\n%s", i, out, stderr)
		assert.NotContains(t, strings.ToLower(string(out)+string(stderr)), "locked", "child %d", i)
		for _, line := range strings.Split(string(out), "\n") {
			var k int
			var outcome string
			if _, err := fmt.Sscanf(line, "idem-result %d %s", &k, &outcome); err != nil {
				continue
			}
			seen[i][k] = true
			if outcome == "granted" {
				prev, dup := granted[k]
				assert.False(t, dup, "key %d granted to child %d and child %d", k, prev, i)
				granted[k] = i
			}
		}
	}
	for i := range children {
		assert.Len(t, seen[i], processKeys, "child %d reported every key", i)
	}
	assert.Len(t, granted, processKeys, "every key was granted once")
	t.Logf("grants: child 0 %d, child 1 %d", count(granted, 0), count(granted, 1))
	for _, c := range children {
		b, _ := os.ReadFile(c.stderr)
		t.Logf("%s", b)
	}

	// The file agrees: every key completed by the child that won it.
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer s.Close()
	for k := range processKeys {
		r, err := s.Get(context.Background(), processKey(k))
		require.NoError(t, err)
		assert.Equal(t, store.StateCompleted, r.State, "key %d", k)
		assert.Equal(t, "child "+strconv.Itoa(granted[k]), string(r.Result), "key %d", k)
		assert.Equal(t, int64(1), r.Token, "key %d", k)
	}
}

func count(m map[int]int, v int) int {
	n := 0
	for _, x := range m {
		if x == v {
			n++
		}
	}
	return n
}

// TestHelperProcess is one racer of TestTwoProcesses, run in a child
// process; it does nothing in a normal test run.
func TestHelperProcess(t *testing.T) {
	id := os.Getenv(helperEnv)
	if id == "" {
		testenv.NotApplicable(t, "helper process, run only by TestTwoProcesses")
	}
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "child %s: "+format+"\n", append([]any{id}, args...)...)
		os.Exit(2)
	}
	s, err := sqlitestore.Open(os.Getenv(helperDBEnv))
	if err != nil {
		fail("open: %v", err)
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fail("waiting for go: %v", err)
	}

	ctx := context.Background()
	start := time.Now()
	defer func() { fmt.Fprintf(os.Stderr, "child %s: %v\n", id, time.Since(start)) }()
	var owner store.Owner
	copy(owner[:], "child "+id)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var (
		mu    sync.Mutex
		lines []string
		wg    sync.WaitGroup
	)
	for w := range helperWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker of each process visits every key of its share in
			// its own random order, so the processes meet on keys all
			// through the run rather than one trailing the other.
			share := make([]int, 0, processKeys/helperWorkers+1)
			for k := w; k < processKeys; k += helperWorkers {
				share = append(share, k)
			}
			rand.Shuffle(len(share), func(i, j int) { share[i], share[j] = share[j], share[i] })
			for _, k := range share {
				key := processKey(k)
				res, err := s.Claim(ctx, claimReq(key, owner, base))
				if err != nil {
					fail("claim key %d: %v", k, err)
				}
				outcome := "held"
				if res.Granted {
					outcome = "granted"
					err := s.Complete(ctx, key, store.Fence{Owner: owner, Token: res.Record.Token}, []byte("child "+id), base.Add(time.Hour))
					if err != nil {
						fail("complete key %d: %v", k, err)
					}
				} else if res.Record.Owner == owner {
					fail("key %d: not granted, yet the record names this process as owner", k)
				}
				mu.Lock()
				lines = append(lines, fmt.Sprintf("idem-result %d %s", k, outcome))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		fail("close: %v", err)
	}
	fmt.Println(strings.Join(lines, "\n"))
}
