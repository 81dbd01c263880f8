// Package bad is a golden case of idemgen: every mistake, all reported in
// one run.
package bad

import (
	"context"
	"database/sql"
	"time"
	"unsafe"
)

// Event is a plain struct.
type Event struct {
	ID string
}

// Method is a method of Event.
func (Event) Method() string { return "" }

// Handler holds a func.
type Handler struct {
	Name string
	Cb   func()
}

// Secret has an unexported field.
type Secret struct {
	token string
}

// Directives has directive mistakes.
//
//idem:key id
//idem:frobnicate
//idem:ttl 1h
//idem:ttl 2h
//idem:retry attempts=0 delay=soon
//idem:lease 0s
//idem:version v1
//idem:name 1bad
//idem:namespace ""
//idem:effect db
//idem:key id
func Directives(ctx context.Context, id string) error { return nil }

// NoKey has directives but no key.
//
//idem:effect api
//idem:ttl 1h
func NoKey(ctx context.Context) error { return nil }

// T is a type.
//
//idem:key id
type T struct{}

// V is a var.
//
//idem:key id
var V = 1

//idem:key floating

// Detached is separated from its directive by a blank line.
func Detached() error { return nil }

// Inside has a directive in its body.
func Inside() error {
	//idem:key inside
	return nil
}

// Paths has key paths that name nothing, or things that cannot be encoded.
//
//idem:key nope, ev.Missing, ev.Method, t.loc, h.Cb, ch, up, iface, hs, db, sec
func Paths(ctx context.Context, ev Event, t time.Time, h Handler, ch chan int, up unsafe.Pointer, iface any, hs []Handler, db *sql.DB, sec Secret) error {
	return nil
}

// NoError returns no error.
//
//idem:key id
func NoError(id string) int { return 0 }

// Nothing returns nothing.
//
//idem:key id
func Nothing(id string) {}

// Results returns values that cannot be recorded.
//
//idem:key id
func Results(ctx context.Context, id string) (func(), chan int, any, Secret, *sql.DB, error) {
	return nil, nil, nil, Secret{}, nil, nil
}

// Existing is a function a wrapper name collides with.
func Existing() {}

// Collides names its wrapper like an existing function.
//
//idem:key id
//idem:name Existing
func Collides(ctx context.Context, id string) error { return nil }

// Dup1 and Dup2 want the same wrapper name.
//
//idem:key id
//idem:name Dup
func Dup1(ctx context.Context, id string) error { return nil }

// Dup2 wants Dup too.
//
//idem:key id
//idem:name Dup
func Dup2(ctx context.Context, id string) error { return nil }

// Repo has a field named like a wrapper.
type Repo struct {
	SaveIdem int
}

// Save's wrapper would collide with the field SaveIdem.
//
//idem:key id
func (r *Repo) Save(ctx context.Context, id string) error { return nil }

// Load keys on its receiver.
//
//idem:key r
func (r *Repo) Load(ctx context.Context, id string) error { return nil }

// Fingerprint has a fingerprint part that cannot be encoded.
//
//idem:key id
//idem:fingerprint id, cb
func Fingerprint(ctx context.Context, id string, cb func()) error { return nil }

// TypeParam selects a field of a type parameter.
//
//idem:key x.Name
func TypeParam[T any](ctx context.Context, x T) error { return nil }

// Unnamed has no parameter names to key on.
//
//idem:key id
func Unnamed(context.Context, string) error { return nil }

// Scalar selects a field of a string.
//
//idem:key id.Len
func Scalar(ctx context.Context, id string) error { return nil }

//idem:key id
func init() {}

// Malformed has malformed key paths.
//
//idem:key a b, c..d
func Malformed(ctx context.Context, a, b, c string) error { return nil }

// SameNamespace takes the namespace of Malformed's neighbour.
//
//idem:key id
//idem:namespace github.com/idem-go/idem/testdata/gen/errors.Scalar
func SameNamespace(ctx context.Context, id string) error { return nil }

// Iface has a directive on an interface method: it gets a decorator.
type Iface interface {
	// M is a method.
	//
	//idem:key x
	M(x int) error
}

// ImportName wants a wrapper named like an import of this file.
//
//idem:key id
//idem:name sql
func ImportName(ctx context.Context, id string) error { return nil }

// Spaced has its directives written with a space after //, which Go tools
// do not treat as directives.
//
// idem:key id
//
// idem:ttl 1h
//
//idem:key id
func Spaced(ctx context.Context, id string) error { return nil }

// idem:key id
var spacedVar int

// ShortTTL keeps records for less than the default lease.
//
//idem:key id
//idem:ttl 10s
func ShortTTL(ctx context.Context, id string) error { return nil }

// ShortTTLLease keeps records for less than its lease.
//
//idem:key id
//idem:ttl 1m
//idem:lease 2m
func ShortTTLLease(ctx context.Context, id string) error { return nil }

// LongLease holds a lease longer than the default ttl.
//
//idem:key id
//idem:lease 48h
func LongLease(ctx context.Context, id string) error { return nil }

// NULNamespace has a NUL byte in its namespace.
//
//idem:key id
//idem:namespace "billing\x00charge"
func NULNamespace(ctx context.Context, id string) error { return nil }

// CompositeNoContext is composite but has no context for its steps.
//
//idem:key id
//idem:effect composite
func CompositeNoContext(id string) error { return nil }

// notAClassifier has the wrong type for //idem:classify.
func notAClassifier(err error) bool { return false }

// ClassifyWrongType names a function of the wrong type.
//
//idem:key id
//idem:classify notAClassifier
func ClassifyWrongType(ctx context.Context, id string) error { return nil }

// ClassifyMissing names a function that does not exist.
//
//idem:key id
//idem:classify noSuchClassifier
func ClassifyMissing(ctx context.Context, id string) error { return nil }

// ClassifyUnimported names a package the file does not import.
//
//idem:key id
//idem:classify idemgrpc.Classify
func ClassifyUnimported(ctx context.Context, id string) error { return nil }

// ClassifyUnknownPath names a package by a path that does not resolve.
//
//idem:key id
//idem:classify example.com/idem/nosuchpkg.Classify
func ClassifyUnknownPath(ctx context.Context, id string) error { return nil }

// ClassifyPathNotExported names an unexported function by its package's
// path.
//
//idem:key id
//idem:classify github.com/idem-go/idem/runtime/idemgrpc.classify
func ClassifyPathNotExported(ctx context.Context, id string) error { return nil }
