package idemhttp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idem-go/idem/runtime"
)

// Defaults of the middleware's options.
const (
	// DefaultMaxResponse is the largest response body recorded for replay.
	DefaultMaxResponse = 1 << 20
	// DefaultMaxRequest is the largest request body the middleware reads to
	// fingerprint a request; a larger one is answered 413.
	DefaultMaxRequest = 10 << 20
	// DefaultRetryAfter is the Retry-After of a 409 for a key in progress
	// and of a 503 for a failing store.
	DefaultRetryAfter = time.Second
)

// ReplayedHeader marks a replayed response.
const ReplayedHeader = "Idempotent-Replayed"

// Option configures Middleware.
type Option func(*config)

type config struct {
	scope           func(*http.Request) string
	scoped          bool
	store           runtime.Store
	methods         map[string]bool
	required        map[string]bool
	header          string
	fingerprint     func(r *http.Request, body []byte) []byte
	route           func(*http.Request) string
	keyReusedStatus int
	wait            bool
	retryAfter      time.Duration
	record5xx       bool
	replayHeaders   map[string]bool
	maxResponse     int
	maxRequest      int64
	ttl, lease      time.Duration
}

// Scope names the tenant a request belongs to (for example the
// authenticated account). It is part of every stored key, so one client can
// never replay another's response by sending its key. Middleware needs
// Scope or Unscoped.
func Scope(f func(*http.Request) string) Option {
	return func(c *config) { c.scope, c.scoped = f, true }
}

// Unscoped says that every client shares one key space: use it only where a
// client key cannot be guessed or where all clients are one tenant.
func Unscoped() Option {
	return func(c *config) { c.scope, c.scoped = func(*http.Request) string { return "" }, true }
}

// WithStore names the store the middleware records responses in. Without
// it the store is found as wrapped calls find theirs: runtime.WithStore on
// the request's context, then runtime.SetDefaultStore, then IDEM_STORE.
func WithStore(s runtime.Store) Option { return func(c *config) { c.store = s } }

// Methods sets the methods the middleware applies to (default POST and
// PATCH). Requests with other methods pass through.
func Methods(methods ...string) Option {
	return func(c *config) {
		c.methods = map[string]bool{}
		for _, m := range methods {
			c.methods[m] = true
		}
	}
}

// RequireKey answers 400 to requests without the key header whose method
// is one of methods (all the methods the middleware applies to, when
// none are given). By default a request without the header passes through.
func RequireKey(methods ...string) Option {
	return func(c *config) {
		c.required = map[string]bool{"*": len(methods) == 0}
		for _, m := range methods {
			c.required[m] = true
		}
	}
}

// Header sets the key header's name (default Idempotency-Key).
func Header(name string) Option { return func(c *config) { c.header = name } }

// Fingerprint sets what must be equal when a key is used again: f returns
// the bytes that identify the request's payload (body is the request body,
// already read; r.Body reads it again). The default is the method, path,
// query and body. A request whose fingerprint differs from the recorded
// one's is answered 422 (see KeyReusedStatus).
func Fingerprint(f func(r *http.Request, body []byte) []byte) Option {
	return func(c *config) { c.fingerprint = f }
}

// Route names a request's route, which (with the method) is the namespace
// of its records, statistics and Observer events. The default is the
// pattern http.ServeMux matched (Request.Pattern, when the middleware is
// inside the mux), else the URL path.
func Route(f func(*http.Request) string) Option { return func(c *config) { c.route = f } }

// KeyReusedStatus sets the status of the answer to a key used with
// another payload (default 422 Unprocessable Content; some APIs use 400 or
// 409).
func KeyReusedStatus(code int) Option { return func(c *config) { c.keyReusedStatus = code } }

// Wait makes a request whose key is in progress wait (bounded by its
// context) for the first request to finish and replay its response,
// instead of the default 409 Conflict with Retry-After.
func Wait() Option { return func(c *config) { c.wait = true } }

// RetryAfterDelay sets the Retry-After of a 409 for a key in progress and of
// a 503 for a failing store (default 1s).
func RetryAfterDelay(d time.Duration) Option { return func(c *config) { c.retryAfter = d } }

// RecordServerErrors records 5xx responses and replays them, as Stripe
// does. By default a 5xx (and a 429) is not recorded and the key is
// released, so the client's retry runs the handler again.
func RecordServerErrors() Option { return func(c *config) { c.record5xx = true } }

// ReplayHeaders adds response headers to those recorded and replayed:
// Content-Type, Content-Language, Location, ETag, Last-Modified and
// Cache-Control always are. Set-Cookie, Authorization and
// Proxy-Authenticate never are, even if named here.
func ReplayHeaders(names ...string) Option {
	return func(c *config) {
		for _, n := range names {
			c.replayHeaders[http.CanonicalHeaderKey(n)] = true
		}
	}
}

// MaxResponse sets the largest response body recorded (default 1 MiB). A
// larger response is sent to the client as the handler writes it and
// recorded without its body: its replays return the status with a
// problem+json body saying the original response was too large to keep.
func MaxResponse(n int) Option { return func(c *config) { c.maxResponse = n } }

// MaxRequest sets the largest request body read for the fingerprint
// (default 10 MiB); a larger request is answered 413.
func MaxRequest(n int64) Option { return func(c *config) { c.maxRequest = n } }

// TTL sets how long a response is kept for replay (default
// runtime.DefaultTTL).
func TTL(d time.Duration) Option { return func(c *config) { c.ttl = d } }

// Lease sets how long a running request holds its key without renewal
// (default runtime.DefaultLease); it is renewed while the handler runs.
func Lease(d time.Duration) Option { return func(c *config) { c.lease = d } }

var neverReplayed = map[string]bool{"Set-Cookie": true, "Authorization": true, "Proxy-Authenticate": true, "Www-Authenticate": true}

// Middleware returns a handler middleware that makes requests carrying an
// Idempotency-Key header run their handler at most once per key, following
// the IETF httpapi Idempotency-Key draft and Stripe's documented behaviour:
//
//   - It applies to POST and PATCH (see Methods); other requests, and
//     requests without the header (unless RequireKey), pass through. A
//     malformed key (more than 255 characters, not printable ASCII, raw or
//     as an RFC 8941 string) is answered 400.
//   - The first request with a key runs the handler; its response (status,
//     the replayed headers and the body) is recorded, then sent.
//   - A later request with the key and the same payload gets the recorded
//     response with Idempotent-Replayed: true, without running the handler.
//     With another payload it gets 422 (KeyReusedStatus).
//   - A request whose key is held by a running request gets 409 with
//     Retry-After (or waits: see Wait).
//   - Handler panics, 5xx and 429 responses are not recorded: the key is
//     released so that a retry runs again (5xx are recorded with
//     RecordServerErrors). The panic goes on.
//   - A streamed (flushed) or hijacked response cannot be replayed: the key
//     is recorded indeterminate, so a retry cannot run the handler twice,
//     and is answered 409 explaining why.
//   - A failing store is answered 503; the handler does not run (fail
//     closed).
//   - A handler that runs long keeps its key by heartbeat; one whose key
//     was taken over has its request context canceled.
//
// The stored key is derived from the scope (mandatory: Scope or Unscoped),
// the method, the route and the client's key. Middleware panics at
// construction when neither Scope nor Unscoped is given.
//
// Problem answers have an application/problem+json body (RFC 9457).
// Statistics and Observer events are those of wrapped calls, with the
// method and route ("POST /v1/charges") as namespace.
func Middleware(opts ...Option) func(http.Handler) http.Handler {
	c := &config{
		methods:         map[string]bool{http.MethodPost: true, http.MethodPatch: true},
		header:          DefaultHeader,
		keyReusedStatus: http.StatusUnprocessableEntity,
		retryAfter:      DefaultRetryAfter,
		replayHeaders: map[string]bool{"Content-Type": true, "Content-Language": true, "Location": true,
			"Etag": true, "Last-Modified": true, "Cache-Control": true},
		maxResponse: DefaultMaxResponse,
		maxRequest:  DefaultMaxRequest,
		fingerprint: defaultFingerprint,
		route:       defaultRoute,
	}
	for _, o := range opts {
		o(c)
	}
	if !c.scoped {
		panic("idemhttp.Middleware: no scope: pass idemhttp.Scope(func(*http.Request) string) naming the tenant of a request (for example the authenticated account), so that one client can never replay another's response by sending its key; or idemhttp.Unscoped() if all clients share one key space")
	}
	for n := range neverReplayed {
		delete(c.replayHeaders, n)
	}
	return func(next http.Handler) http.Handler {
		return &middleware{c: c, next: next}
	}
}

type middleware struct {
	c     *config
	next  http.Handler
	specs sync.Map // namespace -> *runtime.Spec
}

// namespace is "METHOD route", unless the route names its method already
// (a ServeMux pattern such as "POST /v1/charges").
func namespace(method, route string) string {
	if m, _, ok := strings.Cut(route, " "); ok && m == method {
		return route
	}
	return method + " " + route
}

func defaultRoute(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.URL.Path
}

func defaultFingerprint(r *http.Request, body []byte) []byte {
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	b.WriteString(r.Method)
	b.WriteByte(0)
	b.WriteString(r.URL.EscapedPath())
	b.WriteByte(0)
	b.WriteString(r.URL.RawQuery)
	b.WriteByte(0)
	b.Write(sum[:])
	return b.Bytes()
}

func (m *middleware) spec(namespace string) *runtime.Spec {
	if s, ok := m.specs.Load(namespace); ok {
		return s.(*runtime.Spec)
	}
	s, _ := m.specs.LoadOrStore(namespace, &runtime.Spec{Namespace: namespace, Version: 1, Effect: runtime.EffectNone, TTL: m.c.ttl, Lease: m.c.lease})
	return s.(*runtime.Spec)
}

// response is what the middleware records for a key.
type response struct {
	Status      int
	Header      map[string][]string
	Body        []byte
	BodyDropped bool // the body was over the record limit
}

// errNotRecorded releases the key of a response that is not recorded
// (5xx, 429).
var errNotRecorded = errors.New("idemhttp: response not recorded")

// errStreamed marks a response that was sent while the handler ran, so it
// cannot be replayed.
var errStreamed = errors.New("idemhttp: the response was streamed or the connection hijacked; it cannot be replayed")

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := m.c
	if !c.methods[r.Method] {
		m.next.ServeHTTP(w, r)
		return
	}
	raw := r.Header.Get(c.header)
	if raw == "" {
		if c.required["*"] || c.required[r.Method] {
			problem(w, http.StatusBadRequest, "Idempotency key missing", fmt.Sprintf("This request must carry an %s header: a unique value of at most %d printable characters that the client sends again on every retry.", c.header, MaxKeyLength), 0)
			return
		}
		m.next.ServeHTTP(w, r)
		return
	}
	clientKey, err := ParseKey(raw)
	if err != nil {
		problem(w, http.StatusBadRequest, "Idempotency key malformed", fmt.Sprintf("The %s header is invalid: %v.", c.header, err), 0)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, c.maxRequest+1))
	if err != nil {
		problem(w, http.StatusBadRequest, "Request body unreadable", err.Error(), 0)
		return
	}
	if int64(len(body)) > c.maxRequest {
		problem(w, http.StatusRequestEntityTooLarge, "Request body too large", fmt.Sprintf("Requests with an %s are read whole to fingerprint them; this one is over %d bytes.", c.header, c.maxRequest), 0)
		return
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))

	spec := m.spec(namespace(r.Method, c.route(r)))
	var key, fp runtime.Encoder
	key.Begin(spec.Namespace, spec.Version)
	key.String(c.scope(r))
	key.String(clientKey)
	fp.Begin(spec.Namespace, spec.Version)
	fp.Bytes(c.fingerprint(r, body))

	ctx := r.Context()
	if c.store != nil {
		ctx = runtime.WithStore(ctx, c.store)
	}
	if !c.wait {
		ctx = runtime.WithoutWaiting(ctx)
	}
	var (
		cw       *capture
		panicked any
		didPanic bool
	)
	rec, err := runtime.Do(ctx, spec, &key, &fp, func(fctx context.Context) (response, error) {
		cw = &capture{w: w, max: c.maxResponse}
		func() {
			defer func() {
				if p := recover(); p != nil {
					panicked, didPanic = p, true
				}
			}()
			m.next.ServeHTTP(cw, r.WithContext(fctx))
		}()
		switch {
		case didPanic:
			return response{}, runtime.Permanent(fmt.Errorf("idemhttp: handler panic: %v", panicked))
		case cw.passthrough && !cw.overflow:
			return response{}, errStreamed
		}
		resp := cw.response(c.replayHeaders)
		if (resp.Status >= 500 && !c.record5xx) || resp.Status == http.StatusTooManyRequests {
			return resp, runtime.Permanent(errNotRecorded)
		}
		return resp, nil
	})
	if cw != nil {
		// The handler ran here: its response goes to the client whatever
		// became of the record.
		if didPanic {
			panic(panicked)
		}
		cw.finish()
		return
	}
	switch {
	case err == nil:
		replay(w, rec)
	case errors.Is(err, runtime.ErrKeyReused):
		problem(w, c.keyReusedStatus, "Idempotency key reused", fmt.Sprintf("This %s was already used with another request payload; send a new key for a new request.", c.header), 0)
	case errors.Is(err, runtime.ErrInProgress):
		problem(w, http.StatusConflict, "Request in progress", fmt.Sprintf("A request with this %s is still being processed; retry after it finishes to get its response.", c.header), c.retryAfter)
	case errors.Is(err, runtime.ErrIndeterminate):
		problem(w, http.StatusConflict, "Outcome unknown", fmt.Sprintf("An earlier request with this %s may have been processed, but its response could not be kept (it was streamed, or the server stopped while handling it), so it is not processed again. Check its outcome, or use a new key.", c.header), 0)
	case errors.Is(err, runtime.ErrStore):
		problem(w, http.StatusServiceUnavailable, "Service unavailable", "The idempotency store is unavailable, so the request was not processed; retry later with the same key.", c.retryAfter)
	default:
		problem(w, http.StatusInternalServerError, "Request not processed", "The server could not check this request's idempotency key, so it was not processed.", 0)
	}
}

// replay writes a recorded response.
func replay(w http.ResponseWriter, rec response) {
	h := w.Header()
	for k, v := range rec.Header {
		h[k] = v
	}
	h.Set(ReplayedHeader, "true")
	if rec.BodyDropped {
		problem(w, rec.Status, "Response too large to replay", "The original response to this request was sent, but it was too large to keep, so it cannot be sent again. Its status is this response's status.", 0)
		return
	}
	w.WriteHeader(rec.Status)
	_, _ = w.Write(rec.Body)
}

// problem writes an RFC 9457 problem+json answer.
func problem(w http.ResponseWriter, status int, title, detail string, retryAfter time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"about:blank", title, status, detail})
}

// capture buffers a handler's response so that it can be recorded before
// the client sees it. A flush, a hijack or a body over the record limit
// switch it to passing through.
type capture struct {
	w           http.ResponseWriter
	max         int
	status      int
	buf         bytes.Buffer
	wroteHeader bool
	passthrough bool // the response is going to the client as written
	overflow    bool // passthrough because the body was over max
	hijacked    bool
}

func (c *capture) Header() http.Header { return c.w.Header() }

func (c *capture) WriteHeader(code int) {
	if c.wroteHeader {
		return
	}
	if code >= 100 && code < 200 {
		c.w.WriteHeader(code) // informational responses go out at once
		return
	}
	c.wroteHeader, c.status = true, code
	if c.passthrough {
		c.w.WriteHeader(code)
	}
}

func (c *capture) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.passthrough {
		return c.w.Write(p)
	}
	if c.buf.Len()+len(p) > c.max {
		c.overflow = true
		if err := c.startPassthrough(); err != nil {
			return 0, err
		}
		return c.w.Write(p)
	}
	return c.buf.Write(p)
}

// startPassthrough sends what was buffered and lets the rest through.
func (c *capture) startPassthrough() error {
	if c.passthrough {
		return nil
	}
	c.passthrough = true
	if !c.wroteHeader {
		return nil
	}
	c.w.WriteHeader(c.status)
	_, err := c.w.Write(c.buf.Bytes())
	c.buf.Reset()
	return err
}

// Flush sends the response so far: it can no longer be replayed.
func (c *capture) Flush() { _ = c.FlushError() }

// FlushError is Flush for http.ResponseController.
func (c *capture) FlushError() error {
	if err := c.startPassthrough(); err != nil {
		return err
	}
	return http.NewResponseController(c.w).Flush()
}

// Hijack hands the connection to the handler: the response cannot be
// replayed.
func (c *capture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c.passthrough, c.hijacked = true, true
	return http.NewResponseController(c.w).Hijack()
}

// Unwrap gives http.ResponseController the underlying writer for the
// features capture does not intercept (deadlines, full duplex).
func (c *capture) Unwrap() http.ResponseWriter { return c.w }

// response is what gets recorded.
func (c *capture) response(keep map[string]bool) response {
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	h := map[string][]string{}
	for k, v := range c.w.Header() {
		if keep[k] {
			h[k] = append([]string(nil), v...)
		}
	}
	if c.overflow {
		return response{Status: status, Header: h, BodyDropped: true}
	}
	return response{Status: status, Header: h, Body: bytes.Clone(c.buf.Bytes())}
}

// finish sends a buffered response.
func (c *capture) finish() {
	if c.passthrough || c.hijacked {
		return
	}
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	c.w.WriteHeader(status)
	_, _ = c.w.Write(c.buf.Bytes())
}
