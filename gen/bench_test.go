package gen

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/tools/go/packages"
)

// benchModule writes a module whose package has n annotated functions of
// several shapes, spread over files of 20 functions each.
func benchModule(b *testing.B, n int) string { return benchModuleT(b, n) }

// benchModuleT is benchModule for any testing.TB.
func benchModuleT(b testing.TB, n int) string {
	files := map[string]string{
		"types.go": `package bench

import "time"

// Item is keyed on.
type Item struct {
	ID    string
	At    time.Time
	Tags  []string
	Attrs map[string]int
	Next  *Item
}

// Repo has methods.
type Repo struct{ Name string }
`,
	}
	for f := 0; f*20 < n; f++ {
		var sb strings.Builder
		sb.WriteString("package bench\n\nimport \"context\"\n")
		for i := f * 20; i < n && i < (f+1)*20; i++ {
			switch i % 4 {
			case 0:
				fmt.Fprintf(&sb, "\n// F%d is wrapped.\n//\n//idem:key it.ID\n//idem:effect api\n//idem:retry attempts=3\nfunc F%d(ctx context.Context, it Item, n int) (int64, error) { return 0, nil }\n", i, i)
			case 1:
				fmt.Fprintf(&sb, "\n// M%d is wrapped.\n//\n//idem:key id, it\nfunc (r *Repo) M%d(ctx context.Context, id string, it *Item) (Item, string, error) { return Item{}, \"\", nil }\n", i, i)
			case 2:
				fmt.Fprintf(&sb, "\n// G%d is wrapped.\n//\n//idem:key k\nfunc G%d[K comparable, V any](ctx context.Context, k K, v V) (V, error) { return v, nil }\n", i, i)
			case 3:
				fmt.Fprintf(&sb, "\n// V%d is wrapped.\n//\n//idem:key name, xs\n//idem:fingerprint -\nfunc V%d(name string, xs ...int) error { return nil }\n", i, i)
			}
		}
		files[fmt.Sprintf("f%02d.go", f)] = sb.String()
	}
	dir := writeModule(b, files)
	return dir
}

// cpuTime returns the CPU time (user and system) used so far by this
// process and by its waited-for children (the go list processes that
// packages.Load runs).
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// BenchmarkIdemgenVsLoad measures idemgen on a package of 200 annotated
// functions against a bare packages.Load of the same package with the same
// mode and build flags, and reports the ratios (idemgen/load; target ≤ 1.3)
// of wall time and of CPU time (which other work on the machine disturbs
// less). "warm" regenerates a package whose generated files are up to date
// (the usual go generate run); "cold" generates all of them from scratch
// (-check, nothing on disk).
//
//	go test ./gen -run '^$' -bench IdemgenVsLoad -benchtime 20x
func BenchmarkIdemgenVsLoad(b *testing.B) {
	b.Run("warm", func(b *testing.B) {
		dir := benchModule(b, 200)
		if _, err := Run(Config{Dir: dir}); err != nil {
			b.Fatal(err)
		}
		benchVsLoad(b, Config{Dir: dir}, Unchanged)
	})
	b.Run("cold", func(b *testing.B) {
		dir := benchModule(b, 200)
		benchVsLoad(b, Config{Dir: dir, Check: true}, Created)
	})
}

func benchVsLoad(b *testing.B, cfg Config, want Action) {
	var load, gen, loadCPU, genCPU time.Duration
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime()
		pkgs, err := packages.Load(&packages.Config{Mode: loadMode, Dir: cfg.Dir, BuildFlags: []string{"-tags=" + buildTag}}, ".")
		if err != nil || len(pkgs) != 1 || len(pkgs[0].Errors) > 0 {
			b.Fatal(err, pkgs[0].Errors)
		}
		t1, c1 := time.Now(), cpuTime()
		res, err := Run(cfg)
		if err != nil {
			b.Fatal(err)
		}
		t2, c2 := time.Now(), cpuTime()
		if len(res.Files) != 10 {
			b.Fatalf("%d files", len(res.Files))
		}
		for _, f := range res.Files {
			if f.Action != want {
				b.Fatalf("%s: %s, want %s", f.Path, f.Action, want)
			}
		}
		load += t1.Sub(t0)
		gen += t2.Sub(t1)
		loadCPU += c1 - c0
		genCPU += c2 - c1
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / 1000 }
	b.ReportMetric(ms(load), "load-ms/op")
	b.ReportMetric(ms(gen), "idemgen-ms/op")
	b.ReportMetric(float64(gen)/float64(load), "idemgen/load")
	b.ReportMetric(ms(loadCPU), "load-cpu-ms/op")
	b.ReportMetric(ms(genCPU), "idemgen-cpu-ms/op")
	b.ReportMetric(float64(genCPU)/float64(loadCPU), "cpu-idemgen/load")
}

// BenchmarkGenerate measures idemgen's own work on the same package, once
// loaded: analysis, code building, formatting and comparing with the disk.
func BenchmarkGenerate(b *testing.B) {
	dir := benchModule(b, 200)
	cfg := Config{Dir: dir}
	if _, err := Run(cfg); err != nil {
		b.Fatal(err)
	}
	pkgs, fset, err := load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var cpu time.Duration
	for b.Loop() {
		c0 := cpuTime()
		res, err := generate(cfg, pkgs, fset)
		if err != nil || len(res.Changed()) != 0 {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/1000, "cpu-ms/op")
}
