package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/internal/testenv"
	"github.com/idem-go/idem/runtime/store"
)

func init() {
	subtests = append(subtests, struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{"List", testList})
}

// testList checks store.Lister: every live record in every state, newest
// first then by key, filtered by namespace and state, paged by cursor
// without loss or repetition; released records are not listed.
func testList(t *testing.T, s store.Store) {
	l, ok := s.(store.Lister)
	if !ok {
		testenv.NotApplicable(t, fmt.Sprintf("%T does not implement store.Lister", s))
	}
	ctx := context.Background()
	// Namespaces of their own: stores may share a backend between
	// subtests, so the unfiltered listings are cut to this test's keys.
	tag := newKey(t).String()[:12]
	nsA, nsB := "storetest/list.A."+tag, "storetest/list.B."+tag
	mine := map[store.Key]bool{}
	make1 := func(ns string, at time.Duration, state store.State) store.Key {
		t.Helper()
		key := newKey(t)
		req := request(t, key, newOwner(t), base.Add(at))
		req.Namespace = ns
		f := fenceOf(grant(t, s, req).Record)
		switch state {
		case store.StateCompleted:
			require.NoError(t, s.Complete(ctx, key, f, []byte("result of "+key.String()), req.RetainUntil))
		case store.StateIndeterminate:
			require.NoError(t, s.MarkIndeterminate(ctx, key, f, req.RetainUntil))
		case 0:
			require.NoError(t, s.Release(ctx, key, f))
		}
		mine[key] = true
		return key
	}
	k1 := make1(nsA, 1*time.Second, store.StateCompleted)
	k2 := make1(nsA, 2*time.Second, store.StateInProgress)
	k3 := make1(nsB, 3*time.Second, store.StateIndeterminate)
	make1(nsA, 4*time.Second, 0) // released: not listed
	k5 := make1(nsB, 4*time.Second, store.StateCompleted)
	k6 := make1(nsA, 4*time.Second, store.StateInProgress)
	first, second := k5, k6 // same CreatedAt: by key
	if string(k6[:]) < string(k5[:]) {
		first, second = k6, k5
	}

	all := func(q store.ListQuery) []store.Key {
		t.Helper()
		var keys []store.Key
		for {
			page, err := l.List(ctx, q)
			require.NoError(t, err, "List")
			require.LessOrEqual(t, len(page.Records), q.PageLimit())
			for _, r := range page.Records {
				if mine[r.Key] {
					sameRecord(t, get(t, s, r.Key), r)
					keys = append(keys, r.Key)
				}
			}
			if page.Next == "" {
				return keys
			}
			require.Len(t, page.Records, q.PageLimit(), "a page before the last is full")
			require.NotEqual(t, q.Cursor, page.Next, "the cursor does not move: the listing would not end")
			q.Cursor = page.Next
		}
	}
	require.Equal(t, []store.Key{first, second, k3, k2, k1}, all(store.ListQuery{Limit: 2}), "newest first, then by key, in pages of 2")
	require.Equal(t, []store.Key{first, second, k3, k2, k1}, all(store.ListQuery{}), "one default page")
	require.Equal(t, []store.Key{k6, k2, k1}, all(store.ListQuery{Namespace: nsA, Limit: 1}))
	require.Equal(t, []store.Key{k5, k1}, all(store.ListQuery{State: store.StateCompleted, Limit: 1}))
	require.Equal(t, []store.Key{k3}, all(store.ListQuery{Namespace: nsB, State: store.StateIndeterminate}))
	require.Empty(t, all(store.ListQuery{Namespace: "storetest/list.none." + tag}))

	_, err := l.List(ctx, store.ListQuery{Cursor: "not a cursor"})
	require.Error(t, err, "a malformed cursor is an error")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = l.List(canceled, store.ListQuery{})
	require.ErrorIs(t, err, context.Canceled)
}
