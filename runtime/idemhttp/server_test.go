package idemhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemhttp"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
	"github.com/idem-go/idem/runtime/store"
)

// charges is a handler that makes one charge per request it runs and
// counts them: the sink the middleware must protect.
type charges struct {
	runs atomic.Int64
	// before, if set, runs at the start of every request.
	before func(w http.ResponseWriter, r *http.Request) bool
}

func (c *charges) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.before != nil && !c.before(w, r) {
		return
	}
	n := c.runs.Add(1)
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", fmt.Sprintf("/v1/charges/ch_%d", n))
	w.Header().Set("Set-Cookie", "session=secret")
	w.Header().Set("X-Trace", "t")
	w.WriteHeader(http.StatusCreated)
	_, _ = fmt.Fprintf(w, `{"id":"ch_%d","request":%q}`, n, body)
}

type server struct {
	t   *testing.T
	url string
	h   *charges
}

func newServer(t *testing.T, h *charges, opts ...idemhttp.Option) *server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /v1/charges", idemhttp.Middleware(opts...)(h))
	mux.Handle("GET /v1/charges", idemhttp.Middleware(opts...)(h))
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return &server{t: t, url: s.URL + "/v1/charges", h: h}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (s *server) do(method, key, body string, hdr ...string) answer {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url, strings.NewReader(body))
	require.NoError(s.t, err)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func problemTitle(t *testing.T, a answer) string {
	t.Helper()
	require.Equal(t, "application/problem+json", a.header.Get("Content-Type"), a.body)
	var p struct {
		Title  string
		Status int
	}
	require.NoError(t, json.Unmarshal([]byte(a.body), &p))
	require.Equal(t, a.status, p.Status)
	return p.Title
}

// stores gives a test each store the middleware must work on.
func stores(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"memory": func(t *testing.T) store.Store { return memstore.New() },
		"sqlite": func(t *testing.T) store.Store {
			s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "idem.db"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"postgres": func(t *testing.T) store.Store {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := pgstore.Open(ctx, testenv.PostgresDSN(t))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"redis": func(t *testing.T) store.Store {
			s, err := redisstore.Open(testenv.RedisURL(t))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

// uniq makes keys unique per test run, since durable stores outlive it.
func uniq(t *testing.T, k string) string {
	return fmt.Sprintf("%s-%s-%d", k, t.Name(), time.Now().UnixNano())
}

func TestMiddlewareOnEveryStore(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, &charges{}, idemhttp.Unscoped(), idemhttp.WithStore(open(t)))
			key := uniq(t, "order-1")

			first := s.do("POST", key, `{"amount":100}`)
			require.Equal(t, http.StatusCreated, first.status)
			require.Empty(t, first.header.Get(idemhttp.ReplayedHeader))
			require.Equal(t, "session=secret", first.header.Get("Set-Cookie"), "the first response is the handler's own")

			again := s.do("POST", key, `{"amount":100}`)
			require.Equal(t, http.StatusCreated, again.status)
			require.Equal(t, "true", again.header.Get(idemhttp.ReplayedHeader))
			require.Equal(t, first.body, again.body)
			require.Equal(t, first.header.Get("Location"), again.header.Get("Location"))
			require.Equal(t, "application/json", again.header.Get("Content-Type"))
			require.Empty(t, again.header.Get("Set-Cookie"), "Set-Cookie is never replayed")
			require.Empty(t, again.header.Get("X-Trace"), "only allowed headers are replayed")

			other := s.do("POST", key, `{"amount":999}`)
			require.Equal(t, http.StatusUnprocessableEntity, other.status)
			require.Equal(t, "Idempotency key reused", problemTitle(t, other))

			// 32 concurrent duplicates of a new key: one charge.
			key2 := uniq(t, "order-2")
			var wg sync.WaitGroup
			statuses := make(chan int, 32)
			for i := 0; i < 32; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses <- s.do("POST", key2, `{"amount":5}`).status
				}()
			}
			wg.Wait()
			close(statuses)
			for st := range statuses {
				require.Contains(t, []int{http.StatusCreated, http.StatusConflict}, st)
			}
			require.Equal(t, int64(2), s.h.runs.Load(), "one charge per key")
		})
	}
}

func TestMiddlewareNeedsAScope(t *testing.T) {
	require.PanicsWithValue(t,
		"idemhttp.Middleware: no scope: pass idemhttp.Scope(func(*http.Request) string) naming the tenant of a request (for example the authenticated account), so that one client can never replay another's response by sending its key; or idemhttp.Unscoped() if all clients share one key space",
		func() { idemhttp.Middleware() })
}

func TestScopesNeverShareResponses(t *testing.T) {
	h := &charges{}
	s := newServer(t, h, idemhttp.WithStore(memstore.New()),
		idemhttp.Scope(func(r *http.Request) string { return r.Header.Get("X-Account") }))
	a := s.do("POST", "same-key", "x", "X-Account", "alice")
	b := s.do("POST", "same-key", "x", "X-Account", "bob")
	require.Equal(t, int64(2), h.runs.Load())
	require.NotEqual(t, a.body, b.body)
	require.Empty(t, b.header.Get(idemhttp.ReplayedHeader))
	require.Equal(t, a.body, s.do("POST", "same-key", "x", "X-Account", "alice").body)
	require.Equal(t, int64(2), h.runs.Load())
}

func TestRequestsWithoutKeyOrWithSafeMethodsPassThrough(t *testing.T) {
	h := &charges{}
	s := newServer(t, h, idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))
	s.do("POST", "", "x")
	s.do("POST", "", "x")
	s.do("GET", "k", "x")
	s.do("GET", "k", "x")
	require.Equal(t, int64(4), h.runs.Load())

	req := newServer(t, &charges{}, idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()), idemhttp.RequireKey())
	a := req.do("POST", "", "x")
	require.Equal(t, http.StatusBadRequest, a.status)
	require.Equal(t, "Idempotency key missing", problemTitle(t, a))
	require.Zero(t, req.h.runs.Load())
}

func TestMalformedKeysAreRejected(t *testing.T) {
	h := &charges{}
	s := newServer(t, h, idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))
	for _, k := range []string{strings.Repeat("k", 256), "caf\u00e9", `"open`, `"a"b`, `"bad\n"`, `""`} {
		a := s.do("POST", k, "x")
		require.Equal(t, http.StatusBadRequest, a.status, "%q", k)
		require.Equal(t, "Idempotency key malformed", problemTitle(t, a))
	}
	require.Zero(t, h.runs.Load())
	// A structured-field string and the raw key are the same key.
	require.Equal(t, http.StatusCreated, s.do("POST", strings.Repeat("k", 255), "x").status)
	require.Equal(t, "true", s.do("POST", `"`+strings.Repeat("k", 255)+`"`, "x").header.Get(idemhttp.ReplayedHeader))
	require.Equal(t, int64(1), h.runs.Load())
}

// blocking returns a handler hook that holds requests until release is
// closed and signals each start.
func blocking() (before func(http.ResponseWriter, *http.Request) bool, started chan struct{}, release chan struct{}) {
	started, release = make(chan struct{}, 64), make(chan struct{})
	return func(http.ResponseWriter, *http.Request) bool {
		started <- struct{}{}
		<-release
		return true
	}, started, release
}

func TestInProgressIsConflictOrWaits(t *testing.T) {
	before, started, release := blocking()
	h := &charges{before: before}
	s := newServer(t, h, idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()), idemhttp.RetryAfterDelay(3*time.Second))
	done := make(chan answer)
	go func() { done <- s.do("POST", "k", "x") }()
	<-started
	c := s.do("POST", "k", "x")
	require.Equal(t, http.StatusConflict, c.status)
	require.Equal(t, "3", c.header.Get("Retry-After"))
	require.Equal(t, "Request in progress", problemTitle(t, c))
	close(release)
	require.Equal(t, http.StatusCreated, (<-done).status)

	// With Wait, the duplicate waits and replays.
	before, started, release = blocking()
	h = &charges{before: before}
	s = newServer(t, h, idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()), idemhttp.Wait())
	first := make(chan answer)
	go func() { first <- s.do("POST", "k", "x") }()
	<-started
	second := make(chan answer)
	go func() { second <- s.do("POST", "k", "x") }()
	close(release)
	a, b := <-first, <-second
	require.Equal(t, http.StatusCreated, b.status)
	require.Equal(t, a.body, b.body)
	require.Equal(t, int64(1), h.runs.Load())
}

func TestServerErrorsAndTooManyRequestsAreNotRecorded(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusTooManyRequests} {
		var runs atomic.Int64
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if runs.Add(1) == 1 {
				w.WriteHeader(code)
				return
			}
			w.WriteHeader(http.StatusCreated)
		})
		srv := httptest.NewServer(idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))(h))
		s := &server{t: t, url: srv.URL}
		require.Equal(t, code, s.do("POST", "k", "x").status)
		require.Equal(t, http.StatusCreated, s.do("POST", "k", "x").status, "the retry runs again")
		require.Equal(t, int64(2), runs.Load())
		srv.Close()
	}
	// RecordServerErrors keeps and replays a 500, as Stripe does.
	var runs atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs.Add(1); w.WriteHeader(500) })
	srv := httptest.NewServer(idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()), idemhttp.RecordServerErrors())(h))
	defer srv.Close()
	s := &server{t: t, url: srv.URL}
	require.Equal(t, 500, s.do("POST", "k", "x").status)
	a := s.do("POST", "k", "x")
	require.Equal(t, 500, a.status)
	require.Equal(t, "true", a.header.Get(idemhttp.ReplayedHeader))
	require.Equal(t, int64(1), runs.Load())
}

func TestPanicReleasesTheKeyAndGoesOn(t *testing.T) {
	var runs atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if runs.Add(1) == 1 {
			panic("boom")
		}
		w.WriteHeader(http.StatusCreated)
	})
	mw := idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))(h)
	serve := func() (rec *httptest.ResponseRecorder, p any) {
		rec = httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/x", strings.NewReader("x"))
		req.Header.Set("Idempotency-Key", "k")
		defer func() { p = recover() }()
		mw.ServeHTTP(rec, req)
		return rec, nil
	}
	_, p := serve()
	require.Equal(t, "boom", p)
	rec, p := serve()
	require.Nil(t, p)
	require.Equal(t, http.StatusCreated, rec.Code)
	require.Equal(t, int64(2), runs.Load())
}

func TestLargeResponseIsSentButNotKept(t *testing.T) {
	var runs atomic.Int64
	big := strings.Repeat("x", 5000)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		for i := 0; i < 5; i++ {
			_, _ = io.WriteString(w, big[:1000])
		}
	})
	srv := httptest.NewServer(idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()), idemhttp.MaxResponse(1024))(h))
	defer srv.Close()
	s := &server{t: t, url: srv.URL}
	first := s.do("POST", "k", "x")
	require.Equal(t, http.StatusCreated, first.status)
	require.Equal(t, big, first.body)
	again := s.do("POST", "k", "x")
	require.Equal(t, http.StatusCreated, again.status)
	require.Equal(t, "true", again.header.Get(idemhttp.ReplayedHeader))
	require.Equal(t, "Response too large to replay", problemTitle(t, again))
	require.Equal(t, int64(1), runs.Load())
}

func TestStreamedResponseBlocksTheKey(t *testing.T) {
	var runs atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		_, _ = io.WriteString(w, "part 1;")
		require.NoError(t, http.NewResponseController(w).Flush())
		_, _ = io.WriteString(w, "part 2")
	})
	srv := httptest.NewServer(idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))(h))
	defer srv.Close()
	s := &server{t: t, url: srv.URL}
	first := s.do("POST", "k", "x")
	require.Equal(t, http.StatusOK, first.status)
	require.Equal(t, "part 1;part 2", first.body)
	again := s.do("POST", "k", "x")
	require.Equal(t, http.StatusConflict, again.status)
	require.Equal(t, "Outcome unknown", problemTitle(t, again))
	require.Equal(t, int64(1), runs.Load())
}

// failingStore fails every claim.
type failingStore struct{ store.Store }

func (failingStore) Claim(context.Context, store.ClaimRequest) (store.ClaimResult, error) {
	return store.ClaimResult{}, errors.New("connection refused")
}

func TestFailingStoreIs503AndTheHandlerDoesNotRun(t *testing.T) {
	h := &charges{}
	s := newServer(t, h, idemhttp.Unscoped(), idemhttp.WithStore(failingStore{memstore.New()}))
	a := s.do("POST", "k", "x")
	require.Equal(t, http.StatusServiceUnavailable, a.status)
	require.Equal(t, "Service unavailable", problemTitle(t, a))
	require.NotEmpty(t, a.header.Get("Retry-After"))
	require.Zero(t, h.runs.Load())
}

func TestLostLeaseCancelsTheRequest(t *testing.T) {
	ms := memstore.New()
	canceled := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := runtime.KeyFrom(r.Context())
		require.True(t, ok)
		key, err := store.ParseKey(k)
		require.NoError(t, err)
		// An operator deletes the record while the handler runs: its next
		// renewal is fenced, and the request's context ends.
		require.NoError(t, ms.Delete(r.Context(), key))
		select {
		case <-r.Context().Done():
			canceled <- context.Cause(r.Context())
		case <-time.After(30 * time.Second):
			canceled <- errors.New("not canceled")
		}
	})
	srv := httptest.NewServer(idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(ms), idemhttp.Lease(300*time.Millisecond))(h))
	defer srv.Close()
	(&server{t: t, url: srv.URL}).do("POST", "k", "x")
	require.ErrorIs(t, <-canceled, runtime.ErrLeaseLost)
}

func TestObserverSeesTheRouteAsNamespace(t *testing.T) {
	var mu sync.Mutex
	var events []runtime.Event
	obs := runtime.ObserverFunc(func(e runtime.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	h := &charges{}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/charges/{id}", idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))(h))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(runtime.WithObserver(r.Context(), obs)))
	}))
	defer srv.Close()
	s := &server{t: t, url: srv.URL + "/v1/charges/7"}
	s.do("POST", "k", "x")
	s.do("POST", "k", "x")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, events, 2)
	require.Equal(t, "POST /v1/charges/{id}", events[0].Namespace)
	require.Equal(t, runtime.EventExecuted, events[0].Kind)
	require.Equal(t, runtime.EventReplayed, events[1].Kind)
}
