package external

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/testdata/gen/external/db"
)

func TestExternalMethod(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	q := &db.Queries{}
	arg := db.InsertEventParams{ID: "e1", Amount: 3}
	n1, err := InsertEventIdem(q, ctx, arg)
	require.NoError(t, err)
	n2, err := InsertEventIdem(q, ctx, arg)
	require.NoError(t, err)
	require.Equal(t, n1, n2)
	require.Equal(t, 1, q.Inserts["e1"])
	_, err = InsertEventIdem(q, ctx, db.InsertEventParams{ID: "e1", Amount: 4})
	require.ErrorIs(t, err, runtime.ErrKeyReused)
	require.Len(t, InsertEventIdemKey(arg), 64)
}

func TestExternalFunction(t *testing.T) {
	ctx := runtime.WithStore(context.Background(), memstore.New())
	require.NoError(t, SendOnce(ctx, "m1", "a", "b"))
	require.NoError(t, SendOnce(ctx, "m1", "a", "b"))
	require.Equal(t, 1, db.Sent["m1"])
	require.NotEqual(t, SendOnceKey("m1"), SendOnceKey("m2"))
}
