//go:build !plan9

// Package keys is a golden case of idemgen: how key parts of every kind
// are encoded, nil pointers on key paths, and recursive types.
package keys

import (
	"context"
	"sync"
	"time"

	"github.com/idem-go/idem/runtime"
)

var (
	mu   sync.Mutex
	seen = map[string]string{}
	runs = map[string]int{}
)

// record notes the key a run of name saw.
func record(ctx context.Context, name string) {
	mu.Lock()
	defer mu.Unlock()
	k, _ := runtime.KeyFrom(ctx)
	seen[name] = k
	runs[name]++
}

// Named types of basic kinds.
type (
	Status string
	Level  int8
	Raw    []byte
	B      byte
	Dur    time.Duration
	MyTime time.Time
)

// All has a field of every basic kind.
type All struct {
	Bool bool
	Int  int
	I8   int8
	I16  int16
	I32  int32
	I64  int64
	Uint uint
	U8   uint8
	U16  uint16
	U32  uint32
	U64  uint64
	Ptr  uintptr
	F32  float32
	F64  float64
	C64  complex64
	C128 complex128
	Str  string
	Rune rune
	Byte byte
}

// Point is a plain struct.
type Point struct{ X, Y float64 }

// Scalars keys on values of every kind.
//
//idem:key all, s, l, raw, bs, arr, d, dur, t, pt, m, nested
func Scalars(ctx context.Context, all All, s Status, l Level, raw Raw, bs []B, arr [4]byte, d time.Duration, dur Dur, t time.Time, pt *Point, m map[Status][]Point, nested [][2]*int) error {
	record(ctx, "Scalars")
	return nil
}

// Times keys on a type defined as time.Time.
//
//idem:key mt
func Times(ctx context.Context, mt MyTime) error {
	record(ctx, "Times")
	return nil
}

// Meta is recursive.
type Meta struct {
	ID     string
	Parent *Meta
}

// Inner has an unexported field; code in this package can read it.
type Inner struct {
	ID     string
	secret int
}

// Outer embeds Inner and holds pointers.
type Outer struct {
	Inner
	P    *Point
	Meta *Meta
	Deep **Point
}

// Paths keys on fields reached through pointers: a nil pointer crossed on
// the way to a path's field fails the call with runtime.ErrInvalidKey.
//
//idem:key o.ID, o.P.X, o.Meta.Parent.ID, pp.X, o.Deep.Y
func Paths(ctx context.Context, o *Outer, pp **Point) error {
	record(ctx, "Paths")
	return nil
}

// Unexported keys on a struct with an unexported field of this package.
//
//idem:key in
func Unexported(ctx context.Context, in Inner) error {
	record(ctx, "Unexported")
	return nil
}

// Node is a recursive tree.
type Node struct {
	Val  int
	Kids []*Node
}

// Tree is a recursive map.
type Tree map[string]Tree

// List is a recursive generic type.
type List[T any] struct {
	V    T
	Next *List[T]
}

// Recursive keys on recursive types.
//
//idem:key n, tree, l
func Recursive(ctx context.Context, n *Node, tree Tree, l List[int]) error {
	record(ctx, "Recursive")
	return nil
}

// OrderV1 is Charge's argument type before a deploy that reordered its
// fields and added two; the test records a call with it.
type OrderV1 struct {
	ID     string
	Amount int64
}

// OrderV2 is OrderV1 after the deploy.
type OrderV2 struct {
	Amount int64
	Note   string
	ID     string
	Tags   []string
}

// Charge takes the argument type after the deploy.
//
//idem:key o
func Charge(ctx context.Context, o OrderV2) (string, error) {
	record(ctx, "Charge")
	return "charged " + o.ID + " " + o.Note, nil
}
