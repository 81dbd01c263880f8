package runtime

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

// Store is the contract every record store implements; see package
// github.com/idem-go/idem/runtime/store.
type Store = store.Store

// Clock is the runtime's source of time: record times, leases, retry delays
// and waits all come from it. The real clock is used unless WithClock
// substitutes another (a fake, in tests).
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (systemClock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	return time.AfterFunc(d, f).Stop
}

type ctxKey uint8

const (
	storeCtxKey ctxKey = iota
	clockCtxKey
	observerCtxKey
	callCtxKey
)

// defaults holds the process-wide defaults. They are the package's only
// mutable state, set through SetDefaultStore and SetDefaultObserver.
var defaults struct {
	store         atomic.Pointer[storeBox]
	observer      atomic.Pointer[observerBox]
	maxResultSize atomic.Int64 // 0 means DefaultMaxResultSize
}

type storeBox struct{ s Store }
type observerBox struct{ o Observer }

// WithStore returns a context whose wrapped calls use s, overriding the
// process default for this call tree.
func WithStore(ctx context.Context, s Store) context.Context {
	return context.WithValue(ctx, storeCtxKey, s)
}

// SetDefaultStore sets the store that wrapped calls use when their context
// carries none. It is safe to call concurrently with wrapped calls; calls
// already past their claim keep the store they started with. A nil s
// removes the default.
func SetDefaultStore(s Store) {
	if s == nil {
		defaults.store.Store(nil)
		return
	}
	defaults.store.Store(&storeBox{s: s})
}

// WithClock returns a context whose wrapped calls read time from c: record
// times, leases, heartbeats, retry delays and waits.
func WithClock(ctx context.Context, c Clock) context.Context {
	return context.WithValue(ctx, clockCtxKey, c)
}

// WithObserver returns a context whose wrapped calls report their outcomes
// to o instead of the process default observer. Statistics (Stats) are kept
// either way.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerCtxKey, o)
}

// SetMaxResultSize sets the limit, in bytes, on the encoded results of
// every wrapped function in the process (DefaultMaxResultSize unless set; n
// of 0 or less restores it). A function whose results exceed it has run:
// its call returns its results with an error matching ErrResultTooLarge and
// ErrIndeterminate, and the key is marked indeterminate, so the function is
// not run again for it until the record's retention passes or an operator
// deletes the record. Large results slow every replay and can stall a
// shared store; return a reference (an id, a URL) instead.
func SetMaxResultSize(n int) {
	defaults.maxResultSize.Store(int64(max(n, 0)))
}

func maxResultSize() int {
	if n := defaults.maxResultSize.Load(); n > 0 {
		return int(n)
	}
	return DefaultMaxResultSize
}

// SetDefaultObserver sets the observer that receives the events of wrapped
// calls whose context carries none. A nil o removes it.
func SetDefaultObserver(o Observer) {
	if o == nil {
		defaults.observer.Store(nil)
		return
	}
	defaults.observer.Store(&observerBox{o: o})
}

// callInfo is what a running wrapped function can learn about its call.
// It is the context the function runs in: its parent's, with itself as the
// value of callCtxKey (one allocation instead of a WithValue and a value).
type callInfo struct {
	context.Context
	key       Key
	text      atomic.Pointer[string] // key as text, made by the first KeyFrom
	namespace string
	comp      *composite // the composite operation whose steps may run in this context
}

// withCall returns ctx carrying the call of key in namespace (and the
// composite operation comp, if not nil).
func withCall(ctx context.Context, key Key, namespace string, comp *composite) context.Context {
	return &callInfo{Context: ctx, key: key, namespace: namespace, comp: comp}
}

// Value implements context.Context.
func (ci *callInfo) Value(k any) any {
	if k == any(callCtxKey) {
		return ci
	}
	return ci.Context.Value(k)
}

// keyText returns the key as 64 hexadecimal characters, made once: most
// functions never ask.
func (ci *callInfo) keyText() string {
	if p := ci.text.Load(); p != nil {
		return *p
	}
	t := ci.key.String()
	ci.text.CompareAndSwap(nil, &t)
	return *ci.text.Load()
}

// KeyFrom returns the key of the wrapped call that ctx belongs to, as 64
// lowercase hexadecimal characters, and true; or "" and false outside a
// wrapped call. The key is the same on every attempt and in every process,
// so the function can pass it downstream as an Idempotency-Key header or a
// message deduplication id.
func KeyFrom(ctx context.Context) (string, bool) {
	ci, ok := ctx.Value(callCtxKey).(*callInfo)
	if !ok {
		return "", false
	}
	return ci.keyText(), true
}

func clockFrom(ctx context.Context) Clock {
	if c, ok := ctx.Value(clockCtxKey).(Clock); ok && c != nil {
		return c
	}
	return systemClock{} // the real clock
}

func observerFrom(ctx context.Context) Observer {
	if o, ok := ctx.Value(observerCtxKey).(Observer); ok && o != nil {
		return o
	}
	if b := defaults.observer.Load(); b != nil {
		return b.o
	}
	return nil
}

func storeFrom(ctx context.Context) (Store, error) {
	v := ctx.Value(storeCtxKey)
	if s, ok := v.(Store); ok && s != nil {
		return s, nil
	}
	if _, ok := v.(passthroughMark); ok {
		return nil, errPassthrough
	}
	if b := defaults.store.Load(); b != nil {
		return b.s, nil
	}
	return envStore(ctx)
}
