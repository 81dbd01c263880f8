// Package idemtest helps the tests of packages that use idem wrappers.
//
// Store gives a test its own store, so wrapped calls deduplicate exactly as
// in production but never share records with other tests or with a store
// configured by the environment (IDEM_STORE, runtime.SetDefaultStore).
// Passthrough turns deduplication off, so that tests written for the
// original functions (with mocks counting calls, returning errors once,
// ...) keep passing when their callers switch to the wrappers.
package idemtest

import (
	"context"
	"testing"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

// Store returns a context, derived from t.Context() (canceled when the test
// ends), whose wrapped calls use a new in-memory store of their own. The
// store is closed when the test ends. Two calls of Store, in one test or in
// two, give two unrelated stores: records never leak between tests, and
// tests using it may run in parallel.
//
// Use the returned context (or one derived from it) for the calls under
// test:
//
//	ctx := idemtest.Store(t)
//	_, err := billing.SendInvoiceIdem(ctx, mailer, inv)
func Store(t testing.TB) context.Context {
	t.Helper()
	s := memstore.New()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("idemtest: closing the test's store: %v", err)
		}
	})
	return runtime.WithStore(t.Context(), s)
}

// Passthrough returns a context under which wrapped calls run their
// function once per call, directly: no store is needed or used, nothing is
// deduplicated, replayed or retried, and the function's results and error
// are returned exactly as it returns them (see runtime.WithPassthrough).
// runtime.KeyFrom still gives the function its key. Use it for tests of
// the original logic behind a wrapper; use Store to test deduplication.
func Passthrough(ctx context.Context) context.Context {
	return runtime.WithPassthrough(ctx)
}
