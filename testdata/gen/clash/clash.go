// Package clash is a golden case of idemgen: parameters, results and
// package-level names that collide with the names generated code would use.
package clash

import (
	"context"
	"sync"
	"time"
)

// Package-level names that the generated imports and locals must avoid.
var (
	idemrt = "not the runtime"
	mu     sync.Mutex
	runs   = map[string]int{}
)

func note(name string) {
	mu.Lock()
	defer mu.Unlock()
	runs[name]++
}

// key is a package-level function named like a generated local.
func key() string { return idemrt }

// Status is a named string: encoding it converts with string(...).
type Status string

// Event is a type whose name a parameter reuses.
type Event struct{ ID string }

// Locals has parameters named like every local and import of a wrapper.
//
//idem:key context, time, key, fp, res, err, r0, results
func Locals(ctx context.Context, context string, time int, key string, fp string, res string, err string, r0 int, results []int) (string, time.Duration, error) {
	note("Locals")
	return context + key, 0, nil
}

// Builtins has parameters named like the predeclared identifiers the
// generated code uses.
//
//idem:key string, len, nil
func Builtins(ctx context.Context, string Status, len []int, nil *int) (error error) {
	note("Builtins")
	return error
}

// send has a parameter named like itself and one named like a type.
//
//idem:key send, Event
func send(ctx context.Context, send string, Event int) (Event, error) {
	note("send")
	return mkEvent(send), nil
}

func mkEvent(id string) Event { return Event{ID: id} }

// Receiver has a receiver named like a local.
type Receiver struct{}

// Save has a receiver named key and a type parameter-free body.
//
//idem:key id
func (key *Receiver) Save(ctx context.Context, id string) error {
	note("Save")
	return nil
}

// Generic has a type parameter named like a local.
//
//idem:key id
func Generic[key any](ctx context.Context, id string, v key) (key, error) {
	note("Generic")
	return v, nil
}

// Times takes a parameter named like the time package while its spec needs
// time.Hour.
//
//idem:key id
//idem:ttl 1h
func Times(ctx context.Context, id string, time time.Time) error {
	note("Times")
	return nil
}
