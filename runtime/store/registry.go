package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// OpenFunc opens a store from a DSN whose scheme was registered with it
// (the whole DSN, scheme included). It must return when ctx ends, and must
// report a server it cannot reach with the dial's error (a *net.OpError, a
// *net.DNSError or ctx's error), so that callers can tell an unreachable
// store from a misconfigured one.
type OpenFunc func(ctx context.Context, dsn string) (Store, error)

var registry struct {
	sync.RWMutex
	open map[string]OpenFunc
}

// Register makes a DSN scheme ("sqlite", "postgres") open through open, the
// way database/sql drivers register: a store package calls it from init,
// so that importing the package is enough for runtime.Open and IDEM_STORE
// to accept its schemes. Schemes are case-insensitive. Register panics if
// scheme is empty, contains ':', or is registered already, or if open is
// nil: two packages claiming one scheme is a build mistake.
func Register(scheme string, open OpenFunc) {
	if scheme == "" || strings.Contains(scheme, ":") {
		panic(fmt.Sprintf("store: Register: scheme %q must be non-empty and have no ':'", scheme))
	}
	if open == nil {
		panic("store: Register: nil OpenFunc for scheme " + scheme)
	}
	scheme = strings.ToLower(scheme)
	registry.Lock()
	defer registry.Unlock()
	if registry.open == nil {
		registry.open = make(map[string]OpenFunc)
	}
	if _, dup := registry.open[scheme]; dup {
		panic("store: Register called twice for scheme " + scheme)
	}
	registry.open[scheme] = open
}

// Lookup returns the OpenFunc registered for scheme (case-insensitive).
func Lookup(scheme string) (OpenFunc, bool) {
	registry.RLock()
	defer registry.RUnlock()
	open, ok := registry.open[strings.ToLower(scheme)]
	return open, ok
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.open))
	for s := range registry.open {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
