package idemhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemhttp"
	"github.com/idem-go/idem/runtime/memstore"
)

// fault is what the flaky front does with one request.
type fault int

const (
	deliver     fault = iota
	failBefore        // drop the connection before the server processes the request
	failAfter         // process the request, then drop the connection instead of answering
	unavailable       // answer 503 without processing
)

// flaky sits in front of a server handler and applies, to the n-th
// request carrying a key (counted per key), the fault plan(key, n) names.
type flaky struct {
	next http.Handler
	plan func(key string, n int) fault
	mu   sync.Mutex
	seen map[string]int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	f.seen[key]++
	n := f.seen[key]
	f.mu.Unlock()
	switch f.plan(key, n) {
	case failBefore:
		drop(w)
	case failAfter:
		f.next.ServeHTTP(httptest.NewRecorder(), r) // processed, answer lost
		drop(w)
	case unavailable:
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		f.next.ServeHTTP(w, r)
	}
}

func (f *flaky) requests(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[key]
}

// drop closes the client's connection without an answer.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// payments is a server whose handler charges once per request it runs,
// behind the middleware.
type payments struct {
	mu      sync.Mutex
	charged map[string]int // order -> charges made
	next    atomic.Int64
}

func (p *payments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct{ Order string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.charged[req.Order]++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": fmt.Sprintf("ch_%d", p.next.Add(1)), "order": req.Order})
}

func (p *payments) charges(order string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.charged[order]
}

// TestEveryLogicalRequestRunsOnceAtTheServer is the whole pattern: a
// wrapped api function sends its key with Transport and classifies with
// Classify; the server honours the key with Middleware; between them,
// connections fail before and after the server processed the request, and
// the server is briefly unavailable. Every order is charged exactly once,
// and every caller gets that charge.
func TestEveryLogicalRequestRunsOnceAtTheServer(t *testing.T) {
	pay := &payments{charged: map[string]int{}}
	front := &flaky{
		next: idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))(pay),
		seen: map[string]int{},
		plan: func(key string, n int) fault {
			// Each key meets every fault once, in an order that depends on
			// the key, then gets through.
			order := []fault{failBefore, failAfter, unavailable, failAfter}
			shift := int(key[0]) % len(order)
			if n > len(order) {
				return deliver
			}
			return order[(n-1+shift)%len(order)]
		},
	}
	srv := httptest.NewServer(front)
	defer srv.Close()
	client := &http.Client{Transport: &idemhttp.Transport{Base: &http.Transport{}}}

	spec := &runtime.Spec{Namespace: "idemhttp/e2e.Charge", Version: 1, Effect: runtime.EffectAPI,
		Retry: runtime.RetryPolicy{Attempts: 8, Delay: time.Millisecond, MaxDelay: 5 * time.Millisecond}}
	ctx := runtime.WithStore(context.Background(), memstore.New())
	charge := func(order string) (string, error) {
		var key, fp runtime.Encoder
		key.Begin(spec.Namespace, spec.Version)
		key.String(order)
		fp.Begin(spec.Namespace, spec.Version)
		return runtime.Do(ctx, spec, &key, &fp, func(ctx context.Context) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/charges", strings.NewReader(fmt.Sprintf(`{"Order":%q}`, order)))
			if err != nil {
				return "", runtime.Permanent(err)
			}
			resp, err := client.Do(req)
			if err := idemhttp.Classify(resp, err); err != nil {
				if resp != nil {
					resp.Body.Close()
				}
				return "", err
			}
			defer resp.Body.Close()
			var out struct{ ID string }
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				return "", err
			}
			return out.ID, nil
		})
	}

	const orders = 24
	var wg sync.WaitGroup
	ids := make([]string, orders)
	for i := 0; i < orders; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, err := charge(fmt.Sprintf("order-%d", i))
			require.NoError(t, err)
			ids[i] = id
		}(i)
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := 0; i < orders; i++ {
		order := fmt.Sprintf("order-%d", i)
		require.Equal(t, 1, pay.charges(order), "%s charged once", order)
		require.False(t, seen[ids[i]], "two orders got one charge")
		seen[ids[i]] = true
		// A later call replays the same charge without a request.
		id, err := charge(order)
		require.NoError(t, err)
		require.Equal(t, ids[i], id)
	}
	// Every order's request met the faults: the server saw it at least
	// five times and charged once.
	total := 0
	for k := range front.seen {
		total += front.requests(k)
	}
	require.GreaterOrEqual(t, total, 5*orders)
}

// TestNetHTTPResendsKeyedRequests shows net/http's own behaviour: on a
// reused connection that fails after the request was written and before
// any answer, http.Transport sends the request again by itself when it
// carries an Idempotency-Key header. With the middleware behind it, the
// resend replays instead of charging twice.
func TestNetHTTPResendsKeyedRequests(t *testing.T) {
	pay := &payments{charged: map[string]int{}}
	front := &flaky{
		next: idemhttp.Middleware(idemhttp.Unscoped(), idemhttp.WithStore(memstore.New()))(pay),
		seen: map[string]int{},
		plan: func(key string, n int) fault {
			if key == "second" && n == 1 {
				return failAfter
			}
			return deliver
		},
	}
	srv := httptest.NewServer(front)
	defer srv.Close()
	tr := &http.Transport{MaxConnsPerHost: 1}
	client := &http.Client{Transport: tr}
	post := func(key, order string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(fmt.Sprintf(`{"Order":%q}`, order)))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		return client.Do(req)
	}
	// The first request opens the connection that the second reuses.
	resp, err := post("first", "a")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	resp, err = post("second", "b")
	require.NoError(t, err, "net/http resent the keyed request on its own")
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, "true", resp.Header.Get(idemhttp.ReplayedHeader), "the resend was answered from the record")
	require.Equal(t, 2, front.requests("second"), "the server saw the request twice")
	require.Equal(t, 1, pay.charges("b"), "and charged once")
}
