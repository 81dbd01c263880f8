package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// base is the suite's clock origin. Every time the suite hands a store is
// base (or sweepBase) plus whole seconds.
var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// sweepBase is the origin of the Sweep subtest. It lies a year before base,
// so a sweep there can never reach a record another subtest left in a shared
// backend (those all retain until after base) and its count is exact. Like
// base it is in the future of the wall clock, so a store that also lets its
// backend expire records by wall-clock time (a Redis TTL, say) keeps them.
var sweepBase = base.AddDate(-1, 0, 0)

const (
	lease     = 30 * time.Second
	retention = 24 * time.Hour
	namespace = "storetest/Ünïcode.Func"
)

func newKey(t *testing.T) store.Key {
	t.Helper()
	var k store.Key
	_, err := rand.Read(k[:])
	require.NoError(t, err)
	return k
}

func newOwner(t *testing.T) store.Owner {
	t.Helper()
	var o store.Owner
	_, err := rand.Read(o[:])
	require.NoError(t, err)
	return o
}

func newFingerprint(t *testing.T) store.Fingerprint {
	t.Helper()
	var f store.Fingerprint
	_, err := rand.Read(f[:])
	require.NoError(t, err)
	return f
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// request is a claim of key by owner at now with the suite's default lease
// and retention and a fresh fingerprint.
func request(t *testing.T, key store.Key, owner store.Owner, now time.Time) store.ClaimRequest {
	t.Helper()
	return store.ClaimRequest{
		Key:         key,
		Namespace:   namespace,
		Fingerprint: newFingerprint(t),
		Owner:       owner,
		Now:         now,
		LeaseUntil:  now.Add(lease),
		RetainUntil: now.Add(retention),
	}
}

func claim(t *testing.T, s store.Store, req store.ClaimRequest) store.ClaimResult {
	t.Helper()
	res, err := s.Claim(context.Background(), req)
	require.NoError(t, err, "Claim")
	return res
}

// grant claims and requires the claim to be granted.
func grant(t *testing.T, s store.Store, req store.ClaimRequest) store.ClaimResult {
	t.Helper()
	res := claim(t, s, req)
	require.True(t, res.Granted, "claim was not granted; got record in state %s", res.Record.State)
	require.Equal(t, store.StateInProgress, res.Record.State, "a granted record is in progress")
	require.Equal(t, req.Owner, res.Record.Owner, "a granted record carries the claimer as owner")
	require.Positive(t, res.Record.Token, "a granted token is positive")
	return res
}

func fenceOf(r store.Record) store.Fence { return store.Fence{Owner: r.Owner, Token: r.Token} }

func get(t *testing.T, s store.Store, key store.Key) store.Record {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	require.NoError(t, err, "Get")
	return r
}

func requireAbsent(t *testing.T, s store.Store, key store.Key) {
	t.Helper()
	_, err := s.Get(context.Background(), key)
	require.ErrorIs(t, err, store.ErrNotFound, "Get of a key that must have no record")
}

func sameTime(t *testing.T, field string, want, got time.Time) {
	t.Helper()
	assert.True(t, want.Equal(got), "%s: want %v, got %v", field, want, got)
}

func sameBytes(t *testing.T, field string, want, got []byte) {
	t.Helper()
	if !bytes.Equal(want, got) {
		if len(want) > 64 || len(got) > 64 {
			assert.Fail(t, field+" differs", "want %d bytes, got %d bytes", len(want), len(got))
			return
		}
		assert.Fail(t, field+" differs", "want %x, got %x", want, got)
	}
}

// sameRecord asserts that got equals want field by field, times by Equal
// and results byte for byte (nil and empty are the same empty result).
func sameRecord(t *testing.T, want, got store.Record) {
	t.Helper()
	assert.Equal(t, want.Key, got.Key, "Key")
	assert.Equal(t, want.Namespace, got.Namespace, "Namespace")
	assert.Equal(t, want.Fingerprint, got.Fingerprint, "Fingerprint")
	assert.Equal(t, want.State, got.State, "State")
	assert.Equal(t, want.Owner, got.Owner, "Owner")
	assert.Equal(t, want.Token, got.Token, "Token")
	sameTime(t, "LeaseUntil", want.LeaseUntil, got.LeaseUntil)
	sameTime(t, "RetainUntil", want.RetainUntil, got.RetainUntil)
	sameBytes(t, "Result", want.Result, got.Result)
	assert.Equal(t, want.Attempts, got.Attempts, "Attempts")
	sameTime(t, "CreatedAt", want.CreatedAt, got.CreatedAt)
	sameTime(t, "UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	sameBytes(t, "FingerprintParts", want.FingerprintParts, got.FingerprintParts)
}

// write is one of the four fenced writes, bound to a key and a fence.
type write struct {
	name string
	do   func(ctx context.Context) error
}

// writes returns every fenced write of key under f. Their arguments are
// distinctive so that a write that wrongly succeeds shows in the record.
func writes(s store.Store, key store.Key, f store.Fence) []write {
	return []write{
		{"Complete", func(ctx context.Context) error {
			return s.Complete(ctx, key, f, []byte("written by a fenced holder"), base.Add(999*time.Hour))
		}},
		{"Release", func(ctx context.Context) error { return s.Release(ctx, key, f) }},
		{"MarkIndeterminate", func(ctx context.Context) error {
			return s.MarkIndeterminate(ctx, key, f, base.Add(998*time.Hour))
		}},
		{"Renew", func(ctx context.Context) error { return s.Renew(ctx, key, f, base.Add(997*time.Hour)) }},
	}
}

// requireFenced runs every fenced write of key under f, requires each to
// fail with store.ErrFenced, and requires the key's record to be unchanged
// afterwards: want, or absent when want is nil.
func requireFenced(t *testing.T, s store.Store, key store.Key, f store.Fence, want *store.Record) {
	t.Helper()
	for _, w := range writes(s, key, f) {
		err := w.do(context.Background())
		require.ErrorIs(t, err, store.ErrFenced, "%s under fence (owner %s, token %d)", w.name, f.Owner, f.Token)
		if want == nil {
			requireAbsent(t, s, key)
		} else {
			sameRecord(t, *want, get(t, s, key))
		}
	}
}

// takeoverRequest is a claim by owner at now of the key of rec, the record
// it means to take over, with Takeover set and rec's fingerprint: a takeover
// is granted only to a claim with the record's own fingerprint.
func takeoverRequest(t *testing.T, rec store.Record, owner store.Owner, now time.Time) store.ClaimRequest {
	t.Helper()
	req := request(t, rec.Key, owner, now)
	req.Fingerprint = rec.Fingerprint
	req.Takeover = true
	return req
}
