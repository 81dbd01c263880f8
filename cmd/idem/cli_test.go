package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/store"
)

// cli runs the command in-process and returns its exit status and output.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// Receipt is a recorded result with fields for show to decode.
type Receipt struct {
	ChargeID string
	Amount   int64
	Tags     []string
}

// fixture makes records through the runtime on the store dsn names.
type fixture struct {
	t    *testing.T
	s    store.Store
	spec *runtime.Spec
	runs map[string]int
}

func newFixture(t *testing.T, dsn string) *fixture {
	s, err := runtime.Open(dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return &fixture{t: t, s: s, runs: map[string]int{},
		spec: &runtime.Spec{Namespace: fmt.Sprintf("cli/test.Charge.%d", time.Now().UnixNano()), Version: 1, TTL: time.Hour}}
}

// call runs the wrapped function for order; fail makes it fail after its
// effect (indeterminate).
func (f *fixture) call(ctx context.Context, order string, fail bool) (Receipt, string, error) {
	var key, fp runtime.Encoder
	key.Begin(f.spec.Namespace, f.spec.Version)
	key.String(order)
	fp.Begin(f.spec.Namespace, f.spec.Version)
	var k string
	r, err := runtime.Do(runtime.WithStore(ctx, f.s), f.spec, &key, &fp, func(ctx context.Context) (Receipt, error) {
		k, _ = runtime.KeyFrom(ctx)
		f.runs[order]++
		if fail {
			return Receipt{}, errors.New("the mail server hung up after DATA")
		}
		return Receipt{ChargeID: "ch_" + order, Amount: 4200, Tags: []string{"a", "b"}}, nil
	})
	if k == "" {
		sum, _ := key.Sum()
		k = sum.String()
	}
	return r, k, err
}

func dsns(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "idem.db") },
		"postgres": func(t *testing.T) string { return testenv.PostgresDSN(t) },
		"redis":    func(t *testing.T) string { return testenv.RedisURL(t) },
	}
}

func TestRecordsCLI(t *testing.T) {
	for name, dsn := range dsns(t) {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			f := newFixture(t, d)
			ctx := context.Background()
			_, done, err := f.call(ctx, "o1", false)
			require.NoError(t, err)
			_, stuck, err := f.call(ctx, "o2", true)
			require.ErrorIs(t, err, runtime.ErrIndeterminate)

			// list: both, the newest first; filtered by state, as JSON.
			code, out, errs := cli(t, "", "-store", d, "list", "-namespace", f.spec.Namespace)
			require.Equal(t, 0, code, errs)
			require.Contains(t, out, "KEY")
			require.Less(t, strings.Index(out, stuck), strings.Index(out, done), "newest first:\n%s", out)
			require.Contains(t, out, "indeterminate")
			code, out, errs = cli(t, "", "-store", d, "list", "-namespace", f.spec.Namespace, "-state", "indeterminate", "-json")
			require.Equal(t, 0, code, errs)
			var listed struct {
				Records []record
				Next    string
			}
			require.NoError(t, json.Unmarshal([]byte(out), &listed))
			require.Len(t, listed.Records, 1)
			require.Equal(t, stuck, listed.Records[0].Key)
			require.Empty(t, listed.Next)

			// show decodes the recorded result into names and values.
			code, out, errs = cli(t, "", "-store", d, "show", done)
			require.Equal(t, 0, code, errs)
			require.Contains(t, out, "completed")
			require.Contains(t, out, `"ChargeID": "ch_o1"`)
			require.Contains(t, out, `"Amount": 4200`)
			code, out, errs = cli(t, "", "-store", d, "show", "-json", done)
			require.Equal(t, 0, code, errs)
			var shown record
			require.NoError(t, json.Unmarshal([]byte(out), &shown))
			require.Equal(t, done, shown.Key)
			require.NotNil(t, shown.Result, out)

			// stats counts by namespace and state.
			code, out, errs = cli(t, "", "-store", d, "stats", "-json")
			require.Equal(t, 0, code, errs)
			require.Contains(t, out, `"namespace": "`+f.spec.Namespace+`",
    "in_progress": 0,
    "completed": 1,
    "indeterminate": 1`)

			// delete unblocks the indeterminate key: the function runs again.
			code, _, errs = cli(t, "no\n", "-store", d, "delete", stuck)
			require.Equal(t, 1, code)
			require.Contains(t, errs, "not confirmed")
			_, _, err = f.call(ctx, "o2", false)
			require.ErrorIs(t, err, runtime.ErrIndeterminate, "still blocked")
			code, out, errs = cli(t, "yes\n", "-store", d, "delete", stuck)
			require.Equal(t, 0, code, errs)
			require.Contains(t, out, "deleted "+stuck)
			r, _, err := f.call(ctx, "o2", false)
			require.NoError(t, err)
			require.Equal(t, "ch_o2", r.ChargeID)
			require.Equal(t, 2, f.runs["o2"])
			require.Equal(t, 1, f.runs["o1"])
		})
	}
}

func TestDeleteRefusesALiveHolderUnlessForced(t *testing.T) {
	d := "sqlite:" + filepath.Join(t.TempDir(), "idem.db")
	f := newFixture(t, d)
	var key store.Key
	key[0] = 7
	now := time.Now()
	_, err := f.s.Claim(context.Background(), store.ClaimRequest{Key: key, Namespace: "cli/held", Owner: store.Owner{1},
		Now: now, LeaseUntil: now.Add(time.Hour), RetainUntil: now.Add(2 * time.Hour)})
	require.NoError(t, err)
	code, _, errs := cli(t, "", "-store", d, "delete", "-yes", key.String())
	require.Equal(t, 1, code)
	require.Contains(t, errs, "in progress")
	require.Contains(t, errs, "-force")
	code, _, errs = cli(t, "", "-store", d, "delete", "-yes", "-force", key.String())
	require.Equal(t, 0, code, errs)
	_, err = f.s.Get(context.Background(), key)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestSweepRemovesExpiredRecords(t *testing.T) {
	d := "sqlite:" + filepath.Join(t.TempDir(), "idem.db")
	f := newFixture(t, d)
	// Records made two days ago with a one-hour TTL have expired.
	ctx := runtime.WithClock(context.Background(), fakeclock.New(time.Now().Add(-48*time.Hour)))
	for _, o := range []string{"a", "b", "c"} {
		_, _, err := f.call(ctx, o, false)
		require.NoError(t, err)
	}
	code, out, errs := cli(t, "", "-store", d, "sweep")
	require.Equal(t, 0, code, errs)
	require.Equal(t, "swept 3 expired record(s)\n", out)
}

func TestCLIErrors(t *testing.T) {
	t.Setenv(runtime.EnvStore, "")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"list"}, 2, "pass -store DSN or set IDEM_STORE"},
		{[]string{"-store", "nosuch:x", "list"}, 1, `"nosuch"`},
		{[]string{"-store", "memory:", "list"}, 2, "in-process memory"},
		{[]string{"-store", "sqlite:" + filepath.Join(t.TempDir(), "x.db"), "show", "zz"}, 2, "is not a key"},
		{[]string{"-store", "sqlite:" + filepath.Join(t.TempDir(), "x.db"), "show", strings.Repeat("ab", 32)}, 1, "no record for key"},
		{[]string{"-store", "sqlite:" + filepath.Join(t.TempDir(), "x.db"), "list", "-state", "done"}, 2, "use in_progress, completed or indeterminate"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"-store", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "list"}, 1, "opening the store"},
	}
	for _, c := range cases {
		code, _, errs := cli(t, "", c.args...)
		require.Equal(t, c.code, code, "%v: %s", c.args, errs)
		require.Contains(t, errs, c.want, "%v", c.args)
		if c.code == 1 {
			require.Equal(t, 1, strings.Count(strings.TrimSpace(errs), "\n")+1, "one line: %q", errs)
		}
	}
}

func TestCheckEnv(t *testing.T) {
	t.Setenv(runtime.EnvStore, "")
	t.Setenv(runtime.EnvRetry, "example.com/app/billing.*=attempts:8,delay:200ms; *=attempts:1")
	code, out, errs := cli(t, "", "check-env")
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "example.com/app/billing.* attempts=8 delay=200ms")
	require.Contains(t, out, "ok")
	t.Setenv(runtime.EnvRetry, "billing.*=attempts:many")
	code, _, errs = cli(t, "", "check-env")
	require.Equal(t, 1, code)
	require.Contains(t, errs, `"attempts:many"`)
}
