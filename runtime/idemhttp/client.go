package idemhttp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/idem-go/idem/runtime"
)

// DefaultHeader is the request header that carries the key, as Stripe and
// the IETF draft name it.
const DefaultHeader = "Idempotency-Key"

// KeyFormat is how a key is written in the header.
type KeyFormat uint8

const (
	// Raw writes the key as it is: Idempotency-Key: 4f1c…. Stripe and most
	// APIs expect this.
	Raw KeyFormat = iota
	// SFString writes the key as an RFC 8941 structured-field string, in
	// double quotes: Idempotency-Key: "4f1c…". The IETF draft expects this.
	SFString
)

// Transport is an http.RoundTripper that sends the key of the wrapped call
// a request belongs to (runtime.KeyFrom of the request's context) in the
// Idempotency-Key header of every request whose method is not safe (not
// GET, HEAD, OPTIONS or TRACE), unless the request already has the header.
// Requests without a key pass through untouched.
//
// Use it as the Transport of the http.Client that a wrapped function with
// //idem:effect api calls, and build requests with the context the function
// receives:
//
//	client := &http.Client{Transport: &idemhttp.Transport{}}
//	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
//	resp, err := client.Do(req)
//	if err := idemhttp.Classify(resp, err); err != nil { return Receipt{}, err }
//
// net/http's own Transport resends a request that carries an
// Idempotency-Key header when a reused connection fails before any answer
// (see http.Transport): against a server that deduplicates on the key the
// resend is harmless, and it is the same request, with the same key.
type Transport struct {
	// Base carries the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Header is the header name; empty means DefaultHeader.
	Header string
	// Format is how the key is written; the zero value is Raw.
	Format KeyFormat
}

// RoundTrip sets the key header where it applies and sends req through
// Base. The caller's request is not modified: a shallow copy carries the
// header.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	name := t.Header
	if name == "" {
		name = DefaultHeader
	}
	if safeMethod(req.Method) || req.Header.Get(name) != "" {
		return base.RoundTrip(req)
	}
	key, ok := runtime.KeyFrom(req.Context())
	if !ok {
		return base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Header.Set(name, FormatKey(key, t.Format))
	return base.RoundTrip(r)
}

func safeMethod(m string) bool {
	switch m {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// StatusError is the error Classify returns for a response that is not a
// success. Response is the response itself: its body is unread, for the
// caller to read and close.
type StatusError struct {
	Response *http.Response
}

// Error returns the method, URL and status.
func (e *StatusError) Error() string {
	r := e.Response
	if r.Request != nil && r.Request.URL != nil {
		return fmt.Sprintf("idemhttp: %s %s: %s", r.Request.Method, r.Request.URL.Redacted(), r.Status)
	}
	return "idemhttp: " + r.Status
}

// Classify turns the outcome of one HTTP request into the runtime's error
// classes, so that the wrapped function returns an error the runtime
// retries exactly when that is safe:
//
//   - err is a failed dial (refused, DNS, no route): the request never
//     left, so runtime.NotApplied(err);
//   - any other err: the request may have reached the server, so err as
//     it is (indeterminate: retried under //idem:effect api with the same
//     key, never under none);
//   - 1xx, 2xx and 3xx: nil;
//   - 409 Conflict (the server is still processing a request with the
//     same key), 429 Too Many Requests and 503 Service Unavailable: the
//     server did not process this request, so NotApplied, with the delay
//     of a Retry-After header (seconds, or an HTTP date read against the
//     response's Date header) as the least delay
//     before the next attempt (runtime.RetryAfter);
//   - 422 Unprocessable Content (the key was used with another payload)
//     and every other 4xx: runtime.Permanent;
//   - every other 5xx: indeterminate.
//
// The errors for responses are *StatusError wrapping the response, whose
// body is left unread for the caller.
func Classify(resp *http.Response, err error) error {
	if err != nil {
		if dialFailed(err) {
			return runtime.NotApplied(err)
		}
		return err
	}
	if resp == nil {
		return errors.New("idemhttp: Classify: no response and no error")
	}
	code := resp.StatusCode
	if code < 400 {
		return nil
	}
	se := &StatusError{Response: resp}
	switch ClassifyStatus(code) {
	case runtime.ClassNotApplied:
		return runtime.NotApplied(runtime.RetryAfter(se, retryAfter(resp.Header.Get("Retry-After"), serverNow(resp))))
	case runtime.ClassPermanent:
		return runtime.Permanent(se)
	}
	return se
}

// ClassifyStatus is Classify's table for one HTTP status code: below 400
// runtime.ClassDefault (no error); 409, 429 and 503
// runtime.ClassNotApplied; every other 4xx runtime.ClassPermanent; every
// other code runtime.ClassIndeterminate.
func ClassifyStatus(code int) runtime.Class {
	switch {
	case code < 400:
		return runtime.ClassDefault
	case code == http.StatusConflict || code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return runtime.ClassNotApplied
	case code < 500:
		return runtime.ClassPermanent
	}
	return runtime.ClassIndeterminate
}

// ClassifyError is a classifier (a func(error) runtime.Class, see
// runtime.Class) for functions that return the errors of HTTP client
// libraries rather than Classify's: it finds, through errors.As, an error
// with a method StatusCode() int (*StatusError has one; so do the errors of
// many API clients) and classifies its code with ClassifyStatus, and a
// failed dial as runtime.ClassNotApplied. Other errors get
// runtime.ClassDefault. Opt in with //idem:classify idemhttp.ClassifyError
// or runtime.RegisterClassifier.
func ClassifyError(err error) runtime.Class {
	var sc interface{ StatusCode() int }
	switch {
	case err == nil:
		return runtime.ClassDefault
	case errors.As(err, &sc):
		return ClassifyStatus(sc.StatusCode())
	case dialFailed(err):
		return runtime.ClassNotApplied
	}
	return runtime.ClassDefault
}

// StatusCode returns the response's status code.
func (e *StatusError) StatusCode() int { return e.Response.StatusCode }

// dialFailed reports whether err proves that no byte of the request left:
// the connection was never made.
func dialFailed(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// serverNow is the time the response was made by the server's clock (its
// Date header), so that an HTTP-date Retry-After is read without the skew
// between the two clocks; without a Date header, the local clock.
func serverNow(resp *http.Response) time.Time {
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		return t
	}
	return time.Now()
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP date.
// It returns 0 for an empty or malformed value.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
