package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Environment variables that supply the default servers: the same ones the
// store tests read (internal/testenv), set by scripts/services.sh.
const (
	envPostgres = "IDEM_TEST_POSTGRES_DSN"
	envRedis    = "IDEM_TEST_REDIS_URL"
)

// off is the flag value that deselects a store.
const off = "off"

// Targets are the lowest acceptable ratios of runtime to baseline
// throughput.
const (
	targetFirst  = 0.45
	targetReplay = 0.85
)

// config is what the flags select.
type config struct {
	sqlite     string // a file path; "" for a temporary file; off to skip
	postgres   string // a DSN; "" (no DSN anywhere) or off to skip
	redis      string // a URL; "" (no URL anywhere) or off to skip
	memory     bool
	conns      int
	sweep      []int // -conns 1,8,32: the worker counts to run one after another; nil for one
	duration   time.Duration
	n          int64 // ops per measurement; 0 means measure for duration
	rounds     int
	replayKeys int
	check      bool
	cpuprofile string
}

// parseFlags reads the flags in args; getenv supplies the PostgreSQL and
// Redis defaults. Usage and errors go to errw.
func parseFlags(args []string, getenv func(string) string, errw io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("idembench", flag.ContinueOnError)
	fs.SetOutput(errw)
	fs.StringVar(&c.sqlite, "sqlite", "", "SQLite file to measure in (a temporary file when empty; "+off+" skips SQLite)")
	fs.StringVar(&c.postgres, "postgres", "", "PostgreSQL DSN (default $"+envPostgres+"; "+off+" skips PostgreSQL)")
	fs.StringVar(&c.redis, "redis", "", "Redis URL (default $"+envRedis+"; "+off+" skips Redis)")
	fs.BoolVar(&c.memory, "memory", false, "also measure memstore against a mutex-guarded map (informational: no targets)")
	c.conns = 8
	fs.Func("conns", "concurrent workers, and the connection pool size, for baseline and runtime alike (default 8); a list such as 1,8,32 runs the whole benchmark once per count (a concurrency sweep)", func(v string) error {
		var counts []int
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("%q is not a worker count", f)
			}
			if n < 1 {
				return fmt.Errorf("%d: need at least one worker", n)
			}
			counts = append(counts, n)
		}
		c.conns, c.sweep = counts[0], nil
		if len(counts) > 1 {
			c.sweep = counts
		}
		return nil
	})
	fs.DurationVar(&c.duration, "duration", 3*time.Second, "length of each measurement (ignored when -n is set)")
	fs.Int64Var(&c.n, "n", 0, "operations per measurement instead of -duration")
	fs.IntVar(&c.rounds, "rounds", 3, "measurements of baseline and of runtime per workload; medians are reported")
	fs.IntVar(&c.replayKeys, "replay-keys", 64, "number of completed keys the replay workload cycles through")
	fs.BoolVar(&c.check, "check", false, "exit 1 when a ratio is below its target")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.Usage = func() {
		fmt.Fprintln(errw, "usage: idembench [flags]\n\nMeasures the idem runtime against raw store operations; see `go doc ./cmd/idembench`.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q: idembench takes flags only", fs.Args())
	}
	if c.postgres == "" {
		c.postgres = getenv(envPostgres)
	}
	if c.redis == "" {
		c.redis = getenv(envRedis)
	}
	switch {
	case c.n < 0:
		return c, fmt.Errorf("-n %d: need a positive number of operations, or 0 to measure for -duration", c.n)
	case c.n == 0 && c.duration <= 0:
		return c, fmt.Errorf("-duration %v: need a positive duration, or -n", c.duration)
	case c.rounds < 1:
		return c, fmt.Errorf("-rounds %d: need at least one round", c.rounds)
	case c.replayKeys < 1:
		return c, fmt.Errorf("-replay-keys %d: need at least one key", c.replayKeys)
	}
	return c, nil
}

// flagLine returns the effective flags, defaults resolved, in a form that
// repeats the run (passwords redacted).
func (c config) flagLine(sqlitePath string) string {
	sq := c.sqlite
	if sq == "" {
		sq = sqlitePath
	}
	if sq == "" {
		sq = "(temporary file)"
	}
	pg, rd := redact(c.postgres), redact(c.redis)
	if pg == "" {
		pg = off
	}
	if rd == "" {
		rd = off
	}
	measure := fmt.Sprintf("-duration=%v", c.duration)
	if c.n > 0 {
		measure = fmt.Sprintf("-n=%d", c.n)
	}
	return fmt.Sprintf("-sqlite=%s -postgres=%s -redis=%s -memory=%t -conns=%d %s -rounds=%d -replay-keys=%d -check=%t",
		sq, pg, rd, c.memory, c.conns, measure, c.rounds, c.replayKeys, c.check)
}

var passwordKV = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// redact hides the password of a URL or of a key=value connection string.
func redact(dsn string) string {
	if dsn == "" || dsn == off {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		dsn = u.Redacted()
		// A password may also sit in the query string.
		return passwordKV.ReplaceAllString(dsn, "${1}xxxxx")
	}
	return passwordKV.ReplaceAllString(dsn, "${1}xxxxx")
}

// run is the whole command: it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, out, errw io.Writer) int {
	cfg, err := parseFlags(args, getenv, errw)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(errw, "idembench:", err)
		return 2
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			fmt.Fprintln(errw, "idembench: -cpuprofile:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(errw, "idembench: -cpuprofile:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(out, "command: idembench %s\n", strings.Join(redactArgs(args), " "))
	counts := cfg.sweep
	if counts == nil {
		counts = []int{cfg.conns}
	}
	code := 0
	for _, n := range counts {
		cfg.conns = n
		if cfg.sweep != nil {
			fmt.Fprintf(out, "\n=== %d worker(s)\n", n)
		}
		rep := benchmark(ctx, cfg, errw)
		rep.print(out)
		for _, e := range rep.errs {
			fmt.Fprintln(errw, "idembench:", e)
		}
		code = max(code, rep.exitCode(cfg.check))
	}
	return code
}

// redactArgs returns args with the passwords in them redacted.
func redactArgs(args []string) []string {
	r := make([]string, len(args))
	for i, a := range args {
		if name, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") {
			r[i] = name + "=" + redact(val)
			continue
		}
		r[i] = redact(a)
	}
	return r
}
