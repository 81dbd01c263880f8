package idemhttp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/fakeclock"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemhttp"
	"github.com/idem-go/idem/runtime/memstore"
)

// inCall runs f inside a wrapped call (so that its context carries a key)
// and returns the key.
func inCall(t *testing.T, f func(ctx context.Context)) string {
	t.Helper()
	var key, fp runtime.Encoder
	spec := &runtime.Spec{Namespace: "idemhttp/test." + t.Name(), Version: 1}
	key.Begin(spec.Namespace, spec.Version)
	key.String("k")
	fp.Begin(spec.Namespace, spec.Version)
	var got string
	_, err := runtime.Do(runtime.WithStore(context.Background(), memstore.New()), spec, &key, &fp, func(ctx context.Context) (int, error) {
		got, _ = runtime.KeyFrom(ctx)
		f(ctx)
		return 0, nil
	})
	require.NoError(t, err)
	return got
}

// headerEcho answers with the Idempotency-Key header it received.
func headerEcho(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get(name))
	}))
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, c *http.Client, ctx context.Context, method, url string, hdr map[string]string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader("body"))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestTransportSetsTheKeyOnUnsafeRequests(t *testing.T) {
	srv := headerEcho(t, "Idempotency-Key")
	c := &http.Client{Transport: &idemhttp.Transport{}}
	var post, get1, put, own string
	key := inCall(t, func(ctx context.Context) {
		post = get(t, c, ctx, http.MethodPost, srv.URL, nil)
		put = get(t, c, ctx, http.MethodPut, srv.URL, nil)
		get1 = get(t, c, ctx, http.MethodGet, srv.URL, nil)
		own = get(t, c, ctx, http.MethodPost, srv.URL, map[string]string{"Idempotency-Key": "mine"})
	})
	require.Len(t, key, 64)
	require.Equal(t, key, post)
	require.Equal(t, key, put)
	require.Empty(t, get1, "safe methods carry no key")
	require.Equal(t, "mine", own, "a key the request already has is kept")
	// Outside a wrapped call requests pass through untouched.
	require.Empty(t, get(t, c, context.Background(), http.MethodPost, srv.URL, nil))
}

func TestTransportHeaderNameAndStructuredFieldFormat(t *testing.T) {
	srv := headerEcho(t, "X-Request-Key")
	c := &http.Client{Transport: &idemhttp.Transport{Header: "X-Request-Key", Format: idemhttp.SFString}}
	var got string
	key := inCall(t, func(ctx context.Context) { got = get(t, c, ctx, http.MethodPost, srv.URL, nil) })
	require.Equal(t, `"`+key+`"`, got)
	parsed, err := idemhttp.ParseKey(got)
	require.NoError(t, err)
	require.Equal(t, key, parsed)
}

// behaviour runs a wrapped call (effect none, two attempts) whose first
// attempt fails with err and reports how many attempts ran and what a
// second call with the same key then does.
func behaviour(t *testing.T, err error) (attempts int, again error) {
	t.Helper()
	s := memstore.New()
	ctx := runtime.WithStore(context.Background(), s)
	spec := &runtime.Spec{Namespace: "idemhttp/classify", Version: 1, Retry: runtime.RetryPolicy{Attempts: 2, Delay: time.Microsecond, MaxDelay: time.Microsecond}}
	call := func(fail bool) error {
		var key, fp runtime.Encoder
		key.Begin(spec.Namespace, spec.Version)
		key.String("k")
		fp.Begin(spec.Namespace, spec.Version)
		_, e := runtime.Do(ctx, spec, &key, &fp, func(context.Context) (int, error) {
			attempts++
			if fail {
				return 0, err
			}
			return 1, nil
		})
		return e
	}
	first := call(true)
	require.Error(t, first)
	n := attempts
	again = call(false)
	return n, again
}

func resp(code int, hdr ...string) *http.Response {
	r := &http.Response{StatusCode: code, Status: http.StatusText(code), Header: http.Header{}, Body: io.NopCloser(strings.NewReader("payload"))}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

func TestClassify(t *testing.T) {
	require.NoError(t, idemhttp.Classify(resp(200), nil))
	require.NoError(t, idemhttp.Classify(resp(302), nil))

	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	afterSend := errors.New("read: connection reset by peer")
	cases := []struct {
		name     string
		err      error
		attempts int  // attempts of a none wrapper with 2 attempts
		blocked  bool // the key is then indeterminate
	}{
		{"dial refused: not applied", idemhttp.Classify(nil, dial), 2, false},
		{"409: not applied", idemhttp.Classify(resp(409), nil), 2, false},
		{"429: not applied", idemhttp.Classify(resp(429), nil), 2, false},
		{"503: not applied", idemhttp.Classify(resp(503), nil), 2, false},
		{"422: permanent", idemhttp.Classify(resp(422), nil), 1, false},
		{"404: permanent", idemhttp.Classify(resp(404), nil), 1, false},
		{"500: indeterminate", idemhttp.Classify(resp(500), nil), 1, true},
		{"502: indeterminate", idemhttp.Classify(resp(502), nil), 1, true},
		{"error after sending: indeterminate", idemhttp.Classify(nil, afterSend), 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, again := behaviour(t, c.err)
			require.Equal(t, c.attempts, n)
			if c.blocked {
				require.ErrorIs(t, again, runtime.ErrIndeterminate)
			} else {
				require.NoError(t, again, "the key was released or recorded")
			}
		})
	}
	// The response and its unread body stay reachable.
	err := idemhttp.Classify(resp(422), nil)
	var se *idemhttp.StatusError
	require.ErrorAs(t, err, &se)
	b, rerr := io.ReadAll(se.Response.Body)
	require.NoError(t, rerr)
	require.Equal(t, "payload", string(b))
	require.ErrorIs(t, idemhttp.Classify(nil, afterSend), afterSend)
}

func TestClassifyHonoursRetryAfter(t *testing.T) {
	for _, ra := range []string{"2", time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC).Format(http.TimeFormat)} {
		t.Run(ra, func(t *testing.T) {
			clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			ctx := runtime.WithClock(runtime.WithStore(context.Background(), memstore.New()), clock)
			spec := &runtime.Spec{Namespace: "idemhttp/retryafter", Version: 1, Retry: runtime.RetryPolicy{Attempts: 2, Delay: time.Millisecond, MaxDelay: 10 * time.Second}}
			var attempts atomic.Int32
			done := make(chan error, 1)
			go func() {
				var key, fp runtime.Encoder
				key.Begin(spec.Namespace, spec.Version)
				key.String(ra)
				fp.Begin(spec.Namespace, spec.Version)
				_, err := runtime.Do(ctx, spec, &key, &fp, func(context.Context) (int, error) {
					if attempts.Add(1) == 1 {
						return 0, idemhttp.Classify(resp(503, "Retry-After", ra, "Date", "Thu, 01 Jan 2026 00:00:00 GMT"), nil)
					}
					return 1, nil
				})
				done <- err
			}()
			// The retry waits on the clock for its delay: the first
			// deadline the call registers within the next ten seconds
			// (the heartbeat comes later) is Retry-After's.
			t0 := clock.Now()
			inWindow := func(ds []time.Time) (first time.Time, ok bool) {
				for _, d := range ds {
					if d.After(t0) && d.Before(t0.Add(10*time.Second)) && (!ok || d.Before(first)) {
						first, ok = d, true
					}
				}
				return first, ok
			}
			ds := clock.WaitFor(func(ds []time.Time) bool { _, ok := inWindow(ds); return ok })
			first, _ := inWindow(ds)
			require.Equal(t, t0.Add(2*time.Second), first, "the retry must wait for Retry-After")
			require.Equal(t, int32(1), attempts.Load())
			clock.Advance(2 * time.Second)
			require.NoError(t, <-done)
			require.Equal(t, int32(2), attempts.Load())
		})
	}
}
