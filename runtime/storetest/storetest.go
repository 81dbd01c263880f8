// Package storetest is the conformance suite for implementations of
// store.Store. Every store in this module runs it, and a user who writes a
// store for another database proves it the same way:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			return openFreshStore(t) // a new file, schema or key prefix
//		})
//	}
//
// The suite drives every store with the caller's times only: a fixed base
// time (2030-01-01 UTC) and whole-second offsets from it, so a store that
// keeps microseconds or milliseconds round-trips every time exactly, and no
// subtest reads the wall clock or sleeps. Keys, owners and fingerprints are
// random (crypto/rand) in every subtest, so stores that share one backend
// between subtests stay isolated anyway.
//
// The suite is strict everywhere, including the context subtest: every
// operation given an already canceled context must fail with an error
// matching context.Canceled and have no effect. An in-memory store meets
// that by checking ctx.Err() first, which costs nothing.
package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// Run runs every conformance subtest against stores made by newStore, each in
// its own t.Run with a stable name (ClaimNewKey, ClaimRace, Fencing, Sweep,
// ...), so a failing behaviour can be rerun alone with -run.
//
// newStore is called once per subtest and must return a fresh, empty store
// (a new file, schema or key prefix). The suite closes that store when the
// subtest ends and requires Close to succeed, so newStore must not close it
// itself; it may register cleanups for what it created (files, schemas),
// which run after the suite's Close.
//
// The Sweep and SweepKeepsInProgress subtests run when the store implements
// store.Sweeper and are skipped otherwise. Stores whose backend can lose
// records behind their back also run RecordsLost for each way they detect
// a loss.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	for _, tc := range subtests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			require.NotNil(t, s, "newStore returned a nil store")
			t.Cleanup(func() {
				assert.NoError(t, s.Close(), "Close of the store under test")
			})
			tc.run(t, s)
		})
	}
}
