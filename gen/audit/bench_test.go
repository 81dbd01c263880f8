package audit_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/tools/go/packages"

	"github.com/idem-go/idem/gen/audit"
)

// benchModule writes a module whose package has n functions of several
// shapes (database writes, HTTP posts, file writes, composites calling two
// of them, some marked), in files of 20 functions, as gen's benchmark
// package is built.
func benchModule(b testing.TB, n int) string {
	files := map[string]string{
		"types.go": "package bench\n\n// Item is written.\ntype Item struct {\n\tID   string\n\tBody []byte\n}\n",
	}
	for f := 0; f*20 < n; f++ {
		var sb strings.Builder
		sb.WriteString("package bench\n\nimport (\n\t\"bytes\"\n\t\"context\"\n\t\"database/sql\"\n\t\"net/http\"\n\t\"os\"\n)\n\nvar _ = bytes.NewReader\n")
		for i := f * 20; i < n && i < (f+1)*20; i++ {
			switch i % 4 {
			case 0:
				fmt.Fprintf(&sb, "\n// F%d writes a row.\n//\n//idem:key it.ID\nfunc F%d(ctx context.Context, db *sql.DB, it Item) error {\n\t_, err := db.ExecContext(ctx, \"INSERT INTO t (id) VALUES ($1)\", it.ID)\n\treturn err\n}\n", i, i)
			case 1:
				fmt.Fprintf(&sb, "\n// F%d posts.\nfunc F%d(ctx context.Context, c *http.Client, it Item) error {\n\tresp, err := c.Post(\"https://example.com/\"+it.ID, \"text/plain\", bytes.NewReader(it.Body))\n\tif err != nil {\n\t\treturn err\n\t}\n\treturn resp.Body.Close()\n}\n", i, i)
			case 2:
				fmt.Fprintf(&sb, "\n// F%d writes a file.\nfunc F%d(it Item) error { return os.WriteFile(it.ID, it.Body, 0o644) }\n", i, i)
			case 3:
				fmt.Fprintf(&sb, "\n// F%d is composite.\nfunc F%d(ctx context.Context, c *http.Client, it Item) error {\n\tif err := F%d(ctx, c, it); err != nil {\n\t\treturn err\n\t}\n\treturn F%d(it)\n}\n", i, i, i-2, i-1)
			}
		}
		files[fmt.Sprintf("f%02d.go", f)] = sb.String()
	}
	return writeModule(b, files)
}

// cpuTime returns the CPU time used so far by this process and its
// waited-for children (the go list processes packages.Load runs).
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// BenchmarkAuditVsLoad measures `idemgen audit` on a package of 200
// functions against a bare packages.Load of the same package in the same
// mode, and reports the ratios (audit/load; target ≤ 1.5) of wall and CPU
// time.
//
//	go test ./gen/audit -run '^$' -bench AuditVsLoad -benchtime 20x
func BenchmarkAuditVsLoad(b *testing.B) {
	dir := benchModule(b, 200)
	var load, aud, loadCPU, audCPU time.Duration
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime()
		pkgs, err := packages.Load(&packages.Config{Mode: audit.LoadMode, Dir: dir}, ".")
		if err != nil || len(pkgs) != 1 || len(pkgs[0].Errors) > 0 {
			b.Fatal(err, pkgs)
		}
		t1, c1 := time.Now(), cpuTime()
		rep, err := audit.Run(audit.Config{Dir: dir, Patterns: []string{"."}})
		if err != nil {
			b.Fatal(err)
		}
		t2, c2 := time.Now(), cpuTime()
		if rep.Sites != 150 {
			b.Fatalf("%d sites, want 150", rep.Sites)
		}
		load += t1.Sub(t0)
		aud += t2.Sub(t1)
		loadCPU += c1 - c0
		audCPU += c2 - c1
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / 1000 }
	b.ReportMetric(ms(load), "load-ms/op")
	b.ReportMetric(ms(aud), "audit-ms/op")
	b.ReportMetric(float64(aud)/float64(load), "audit/load")
	b.ReportMetric(ms(loadCPU), "load-cpu-ms/op")
	b.ReportMetric(ms(audCPU), "audit-cpu-ms/op")
	b.ReportMetric(float64(audCPU)/float64(loadCPU), "cpu-audit/load")
}
