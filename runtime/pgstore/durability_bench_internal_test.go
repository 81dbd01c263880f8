package pgstore

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/store"
)

// BenchmarkClaimComplete measures a first call's store work (a claim and
// its completion, sequential) under each durability: on a server with
// synchronous_commit on, DurableClaims saves the completion's WAL flush.
func BenchmarkClaimComplete(b *testing.B) {
	for _, d := range []store.Durability{store.DurableAll, store.DurableClaims} {
		b.Run(d.String(), func(b *testing.B) {
			ctx := context.Background()
			pool, s0 := internalStore(b)
			s, err := New(ctx, pool, WithTable(s0.Table()), WithDurability(d))
			require.NoError(b, err)
			base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var k store.Key
				binary.BigEndian.PutUint64(k[:], uint64(time.Now().UnixNano()))
				res, err := s.Claim(ctx, store.ClaimRequest{Key: k, Namespace: "b", Owner: store.Owner{1}, Now: base, LeaseUntil: base.Add(time.Minute), RetainUntil: base.Add(time.Hour)})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Complete(ctx, k, store.Fence{Owner: res.Record.Owner, Token: res.Record.Token}, []byte("x"), base.Add(time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
