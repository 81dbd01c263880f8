package runtime_test

import (
	"context"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/memstore"
)

// pgxRow is what sqlc generates for pgx: pgtype values, which are plain
// structs of exported fields, big numbers and times.
type pgxRow struct {
	ID       pgtype.UUID
	Amount   pgtype.Numeric
	Note     pgtype.Text
	At       pgtype.Timestamptz
	Day      pgtype.Date
	Every    pgtype.Interval
	Count    pgtype.Int8
	Ratio    pgtype.Float8
	Flag     pgtype.Bool
	Missing  pgtype.Text
	Big      *big.Int
	BigFloat *big.Float
	Rat      *big.Rat
}

func TestPgtypeAndBigResultsReplayEqual(t *testing.T) {
	t.Parallel()
	require.NoError(t, runtime.CheckResultType(reflect.TypeFor[pgxRow]()))
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	at := time.Date(2026, 11, 30, 9, 30, 0, 123456000, time.UTC)
	want := pgxRow{
		ID:       pgtype.UUID{Bytes: [16]byte{1, 2, 3, 15: 9}, Valid: true},
		Amount:   pgtype.Numeric{Int: huge, Exp: -4, Valid: true},
		Note:     pgtype.Text{String: "n", Valid: true},
		At:       pgtype.Timestamptz{Time: at, Valid: true},
		Day:      pgtype.Date{Time: at.Truncate(24 * time.Hour), InfinityModifier: pgtype.Finite, Valid: true},
		Every:    pgtype.Interval{Microseconds: 5, Days: 2, Months: 1, Valid: true},
		Count:    pgtype.Int8{Int64: -1, Valid: true},
		Ratio:    pgtype.Float8{Float64: 0.5, Valid: true},
		Flag:     pgtype.Bool{Bool: true, Valid: true},
		Big:      huge,
		BigFloat: new(big.Float).SetPrec(200).Quo(big.NewFloat(1), big.NewFloat(3)),
		Rat:      big.NewRat(-7, 3),
	}
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	c := &counted[pgxRow]{fn: func(context.Context, int64) (pgxRow, error) { return want, nil }}
	_, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.EqualValues(t, 1, c.n.Load())
	require.Equal(t, want.ID, got.ID)
	require.Zero(t, want.Amount.Int.Cmp(got.Amount.Int))
	require.Equal(t, want.Amount.Exp, got.Amount.Exp)
	require.True(t, got.Amount.Valid)
	require.Equal(t, want.Note, got.Note)
	require.True(t, want.At.Time.Equal(got.At.Time))
	require.True(t, want.Day.Time.Equal(got.Day.Time))
	require.Equal(t, want.Every, got.Every)
	require.Equal(t, want.Count, got.Count)
	require.Equal(t, want.Ratio, got.Ratio)
	require.Equal(t, want.Flag, got.Flag)
	require.False(t, got.Missing.Valid, "NULL stays NULL")
	require.Zero(t, want.Big.Cmp(got.Big))
	require.Zero(t, want.BigFloat.Cmp(got.BigFloat), "big.Float replays its value (%s vs %s)", want.BigFloat.Text('g', 60), got.BigFloat.Text('g', 60))
	require.Zero(t, want.Rat.Cmp(got.Rat))
}

func TestBigFloatReplaysExactly(t *testing.T) {
	t.Parallel()
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	want := big.NewFloat(0.1) // 53 bits: its text form parsed at 64 bits differs
	c := &counted[*big.Float]{fn: func(context.Context, int64) (*big.Float, error) { return want, nil }}
	_, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.Zero(t, want.Cmp(got), "replayed %s", got.Text('g', 30))
	require.Equal(t, want.Prec(), got.Prec())

	// Records written before (MarshalText's text string) still decode.
	_, err = do(ctx, spec, "legacy", "fp", func(context.Context) (string, error) { return "0.25", nil })
	require.NoError(t, err)
	old, err := do(ctx, spec, "legacy", "fp", c.call)
	require.NoError(t, err)
	require.Zero(t, big.NewFloat(0.25).Cmp(old))
	require.EqualValues(t, 1, c.n.Load())
}

// A big.Float held by value (a field, an element) replays exactly too,
// and a record of its text form, as earlier versions wrote it, decodes.
func TestBigFloatValueReplaysExactly(t *testing.T) {
	t.Parallel()
	ctx := runtime.WithStore(context.Background(), memstore.New())
	spec := newSpec(t, runtime.EffectNone, 0)
	type amounts struct {
		F    big.Float
		List []big.Float
	}
	want := amounts{F: *big.NewFloat(0.1), List: []big.Float{*new(big.Float).SetPrec(200).Quo(big.NewFloat(1), big.NewFloat(3)), {}}}
	c := &counted[amounts]{fn: func(context.Context, int64) (amounts, error) { return want, nil }}
	_, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	got, err := do(ctx, spec, "k", "fp", c.call)
	require.NoError(t, err)
	require.EqualValues(t, 1, c.n.Load())
	require.Zero(t, want.F.Cmp(&got.F), "replayed %s", got.F.Text('g', 30))
	require.Equal(t, want.F.Prec(), got.F.Prec())
	require.Len(t, got.List, 2)
	for i := range want.List {
		require.Zero(t, want.List[i].Cmp(&got.List[i]), "element %d replayed %s", i, got.List[i].Text('g', 70))
		require.Equal(t, want.List[i].Prec(), got.List[i].Prec(), "element %d", i)
	}

	// Records written before (MarshalText's text string) still decode.
	type legacy struct{ F string }
	_, err = do(ctx, spec, "legacy", "fp", func(context.Context) (legacy, error) { return legacy{F: "0.25"}, nil })
	require.NoError(t, err)
	type current struct{ F big.Float }
	old, err := do(ctx, spec, "legacy", "fp", func(context.Context) (current, error) { return current{}, errors.New("not run") })
	require.NoError(t, err)
	require.Zero(t, big.NewFloat(0.25).Cmp(&old.F))
}
