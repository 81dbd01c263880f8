package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/store"
)

// record is the JSON form of a record: a stable schema.
type record struct {
	Key         string    `json:"key"`
	Namespace   string    `json:"namespace"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	Token       int64     `json:"token"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	LeaseUntil  time.Time `json:"lease_until"`
	RetainUntil time.Time `json:"retain_until"`
	ResultBytes int       `json:"result_bytes"`
	Result      any       `json:"result,omitempty"`       // show only: the decoded result
	ResultError string    `json:"result_error,omitempty"` // show only: why it could not be decoded
}

func toJSON(r store.Record) record {
	return record{
		Key: r.Key.String(), Namespace: r.Namespace, State: r.State.String(), Attempts: r.Attempts, Token: r.Token,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), LeaseUntil: r.LeaseUntil.UTC(), RetainUntil: r.RetainUntil.UTC(),
		ResultBytes: len(r.Result),
	}
}

func lister(s store.Store) (store.Lister, error) {
	l, ok := s.(store.Lister)
	if !ok {
		return nil, fmt.Errorf("%w (%T)", store.ErrListUnsupported, s)
	}
	return l, nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func cmdList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("list", "[-namespace NS] [-state S] [-limit N] [-cursor C] [-json]")
	ns := fs.String("namespace", "", "only this namespace")
	state := fs.String("state", "", "only this state: in_progress, completed or indeterminate")
	limit := fs.Int("limit", 50, "records per page")
	cursor := fs.String("cursor", "", "where the page starts (printed after a full page)")
	asJSON := fs.Bool("json", false, "print JSON: {\"records\": [...], \"next\": cursor}")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	q := store.ListQuery{Namespace: *ns, Limit: *limit, Cursor: *cursor}
	if *limit < 1 {
		return usagef("-limit %d: a page holds at least one record", *limit)
	}
	if *state != "" {
		st, err := parseState(*state)
		if err != nil {
			return err
		}
		q.State = st
	}
	s, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	l, err := lister(s)
	if err != nil {
		return err
	}
	page, err := l.List(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		out := struct {
			Records []record `json:"records"`
			Next    string   `json:"next,omitempty"`
		}{Records: []record{}, Next: page.Next}
		for _, r := range page.Records {
			out.Records = append(out.Records, toJSON(r))
		}
		return writeJSON(e, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tNAMESPACE\tSTATE\tATTEMPTS\tCREATED\tUPDATED\tRETAINED UNTIL")
	for _, r := range page.Records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Key, r.Namespace, r.State, r.Attempts, stamp(r.CreatedAt), stamp(r.UpdatedAt), stamp(r.RetainUntil))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(e.stdout, "more: idem list -cursor %s\n", page.Next)
	}
	return nil
}

func cmdShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("show", "[-json] KEY")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("show takes one key")
	}
	key, err := parseKey(fs.Arg(0))
	if err != nil {
		return err
	}
	s, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := s.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no record for key %s (never claimed, released, deleted or swept)", key)
	}
	if err != nil {
		return err
	}
	out := toJSON(r)
	if r.State == store.StateCompleted {
		if v, err := runtime.DecodeRecordedResult(r.Result); err != nil {
			out.ResultError = err.Error()
		} else {
			out.Result = v
		}
	}
	if *asJSON {
		return writeJSON(e, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "key\t%s\n", out.Key)
	fmt.Fprintf(tw, "namespace\t%s\n", out.Namespace)
	fmt.Fprintf(tw, "state\t%s\n", out.State)
	fmt.Fprintf(tw, "attempts\t%d\n", out.Attempts)
	fmt.Fprintf(tw, "token\t%d\n", out.Token)
	fmt.Fprintf(tw, "created\t%s\n", stamp(r.CreatedAt))
	fmt.Fprintf(tw, "updated\t%s\n", stamp(r.UpdatedAt))
	if r.State == store.StateInProgress {
		fmt.Fprintf(tw, "lease until\t%s\n", stamp(r.LeaseUntil))
	}
	fmt.Fprintf(tw, "retained until\t%s\n", stamp(r.RetainUntil))
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case out.ResultError != "":
		fmt.Fprintf(e.stdout, "result: %d bytes that cannot be decoded: %s\n", out.ResultBytes, out.ResultError)
	case r.State == store.StateCompleted:
		b, err := json.MarshalIndent(out.Result, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "result:\n%s\n", b)
	}
	return nil
}

func cmdDelete(ctx context.Context, e *env, args []string) error {
	fs := e.flags("delete", "[-yes] [-force] KEY...")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	force := fs.Bool("force", false, "also delete in-progress records whose lease is live (their holder may be running)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("delete takes one or more keys")
	}
	var keys []store.Key
	for _, a := range fs.Args() {
		k, err := parseKey(a)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	s, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	// Check every key before deleting any.
	var recs []store.Record
	for _, k := range keys {
		r, err := s.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no record for key %s; nothing was deleted", k)
		}
		if err != nil {
			return err
		}
		if r.State == store.StateInProgress && r.LeaseUntil.After(e.now()) && !*force {
			return fmt.Errorf("key %s is in progress and its holder's lease runs until %s: the function may be running; wait, or pass -force to delete it anyway; nothing was deleted", k, stamp(r.LeaseUntil))
		}
		recs = append(recs, r)
	}
	if !*yes {
		fmt.Fprintf(e.stdout, "Delete %d record(s)? Their keys will run their function again on the next call.\n", len(recs))
		for _, r := range recs {
			fmt.Fprintf(e.stdout, "  %s  %s  %s\n", r.Key, r.Namespace, r.State)
		}
		fmt.Fprint(e.stdout, "Type yes to delete: ")
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errors.New("not confirmed; nothing was deleted (pass -yes to skip the question)")
		}
	}
	for _, r := range recs {
		if err := s.Delete(ctx, r.Key); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted %s (%s, %s)\n", r.Key, r.Namespace, r.State)
	}
	return nil
}

func cmdSweep(ctx context.Context, e *env, args []string) error {
	fs := e.flags("sweep", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	sw, ok := s.(store.Sweeper)
	if !ok {
		return fmt.Errorf("the store (%T) cannot sweep", s)
	}
	n, err := sw.Sweep(ctx, e.now())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "swept %d expired record(s)\n", n)
	return nil
}

func cmdStats(ctx context.Context, e *env, args []string) error {
	fs := e.flags("stats", "[-json]")
	asJSON := fs.Bool("json", false, "print JSON: [{namespace, in_progress, completed, indeterminate}]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	l, err := lister(s)
	if err != nil {
		return err
	}
	type counts struct {
		Namespace     string `json:"namespace"`
		InProgress    int    `json:"in_progress"`
		Completed     int    `json:"completed"`
		Indeterminate int    `json:"indeterminate"`
	}
	by := map[string]*counts{}
	q := store.ListQuery{Limit: 1000}
	for {
		page, err := l.List(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range page.Records {
			c := by[r.Namespace]
			if c == nil {
				c = &counts{Namespace: r.Namespace}
				by[r.Namespace] = c
			}
			switch r.State {
			case store.StateInProgress:
				c.InProgress++
			case store.StateCompleted:
				c.Completed++
			case store.StateIndeterminate:
				c.Indeterminate++
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	out := make([]counts, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	if *asJSON {
		return writeJSON(e, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tIN PROGRESS\tCOMPLETED\tINDETERMINATE")
	for _, c := range out {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", c.Namespace, c.InProgress, c.Completed, c.Indeterminate)
	}
	return tw.Flush()
}

func cmdCheckEnv(_ context.Context, e *env, args []string) error {
	fs := e.flags("check-env", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	v := os.Getenv(runtime.EnvRetry)
	overrides, err := runtime.ParseRetryOverrides(v)
	if err != nil {
		return err
	}
	if v == "" {
		fmt.Fprintf(e.stdout, "%s is not set: wrapped functions retry as generated\n", runtime.EnvRetry)
	}
	for _, o := range overrides {
		fmt.Fprintf(e.stdout, "%s: %s", runtime.EnvRetry, o.Pattern)
		if o.Policy.Attempts > 0 {
			fmt.Fprintf(e.stdout, " attempts=%d", o.Policy.Attempts)
		}
		if o.Policy.Delay > 0 {
			fmt.Fprintf(e.stdout, " delay=%s", o.Policy.Delay)
		}
		if o.Policy.MaxDelay > 0 {
			fmt.Fprintf(e.stdout, " max-delay=%s", o.Policy.MaxDelay)
		}
		fmt.Fprintln(e.stdout)
	}
	if dsn := os.Getenv(runtime.EnvStore); dsn != "" {
		scheme, _, ok := strings.Cut(dsn, ":")
		if !ok || scheme == "" {
			return fmt.Errorf("%s=%q has no scheme; use sqlite:<path>, postgres://… or redis://…", runtime.EnvStore, dsn)
		}
		fmt.Fprintf(e.stdout, "%s: a %s store\n", runtime.EnvStore, scheme)
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
