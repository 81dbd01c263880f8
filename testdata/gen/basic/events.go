// Package basic is a golden case of idemgen: a function taking a context, a
// database handle and a struct, keyed on a field, with the api effect and
// retries.
package basic

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/idem-go/idem/runtime"
)

// Event is stored once.
type Event struct {
	ID      string
	At      time.Time
	Tags    []string
	Attrs   map[string]int
	Payload []byte
}

// mu guards the counters the test driver reads.
var mu sync.Mutex

// inserted counts the runs of InsertEvent; keys records the key each run saw.
var (
	inserted int
	keys     []string
)

// InsertEvent stores ev and returns its row id.
//
//idem:key ev.ID
//idem:effect api
//idem:retry attempts=5 delay=100ms
func InsertEvent(ctx context.Context, db *sql.DB, ev Event) (int64, error) {
	mu.Lock()
	defer mu.Unlock()
	inserted++
	k, _ := runtime.KeyFrom(ctx)
	keys = append(keys, k)
	return int64(100 + inserted), nil
}

// flaky counts the runs of Flaky.
var flaky int

// Flaky fails twice with an error that proves nothing was applied, then
// succeeds.
//
//idem:key id
//idem:retry attempts=3 delay=1ms
func Flaky(ctx context.Context, id string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	flaky++
	if flaky < 3 {
		return "", runtime.NotApplied(errors.New("connection refused"))
	}
	return "ok after " + id, nil
}
