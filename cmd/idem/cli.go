package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/store"
)

// openTimeout bounds opening the store: an unreachable server is reported
// instead of waited for.
const openTimeout = 10 * time.Second

// env is what a command runs with.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	dsn            string
	now            func() time.Time
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

const usage = `usage: idem [-store DSN] COMMAND [flags] [args]

Commands:
  list       list records, newest first: [-namespace NS] [-state in_progress|completed|indeterminate] [-limit N] [-cursor C] [-json]
  show       show one record and its recorded result: [-json] KEY
  delete     delete records so that their keys run again: [-yes] [-force] KEY...
  sweep      delete the records whose retention has passed
  stats      count records by namespace and state: [-json]
  check-env  validate IDEM_RETRY (and IDEM_STORE's syntax) before deploying

The store is -store DSN, else $IDEM_STORE (sqlite:<path>, postgres://…, redis://…).
`

// commands maps a command name to its implementation.
var commands = map[string]func(ctx context.Context, e *env, args []string) error{
	"list":      cmdList,
	"show":      cmdShow,
	"delete":    cmdDelete,
	"sweep":     cmdSweep,
	"stats":     cmdStats,
	"check-env": cmdCheckEnv,
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("idem", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	dsn := fs.String("store", "", "the store's DSN (default $IDEM_STORE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "idem: unknown command %q\n\n%s", name, usage)
		return 2
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, dsn: *dsn, now: time.Now}
	if e.dsn == "" {
		e.dsn = os.Getenv(runtime.EnvStore)
	}
	if err := cmd(context.Background(), e, rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(stderr, "idem %s: %v\n", name, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// open opens the command's store, bounded by openTimeout.
func (e *env) open(ctx context.Context) (store.Store, error) {
	if e.dsn == "" {
		return nil, usagef("no store: pass -store DSN or set %s (sqlite:<path>, postgres://…, redis://…)", runtime.EnvStore)
	}
	if strings.HasPrefix(e.dsn, "memory:") || strings.HasPrefix(e.dsn, "mem:") {
		return nil, usagef("store %q is in-process memory: another process cannot see its records; name the store your service uses", e.dsn)
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	s, err := openStore(ctx, e.dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	return s, nil
}

// flags makes a command's flag set, reporting to e.stderr.
func (e *env) flags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: idem %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseState reads a -state value.
func parseState(s string) (store.State, error) {
	for _, st := range []store.State{store.StateInProgress, store.StateCompleted, store.StateIndeterminate} {
		if s == st.String() {
			return st, nil
		}
	}
	return 0, usagef("-state %q: use in_progress, completed or indeterminate", s)
}

// parseKey reads a key argument.
func parseKey(s string) (store.Key, error) {
	k, err := store.ParseKey(strings.TrimSpace(s))
	if err != nil {
		return k, usagef("%q is not a key: a key is the 64 hexadecimal characters a wrapped call reads with runtime.KeyFrom (or the wrapper's Key function returns)", s)
	}
	return k, nil
}
