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

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idem-go/idem/runtime"
	"github.com/idem-go/idem/runtime/idemhttp"
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

// errBusy is what the downstream answers when it did nothing.
var errBusy = errors.New("busy: nothing was done")

// classifyBusy says that errBusy proves nothing was applied.
func classifyBusy(err error) runtime.Class {
	if errors.Is(err, errBusy) {
		return runtime.ClassNotApplied
	}
	return runtime.ClassDefault
}

// busy counts the runs of Busy.
var busy int

// Busy fails twice with errBusy, unmarked: its classifier makes those
// failures retryable under the none effect.
//
//idem:key id
//idem:retry attempts=3 delay=1ms
//idem:classify classifyBusy
func Busy(ctx context.Context, id string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	busy++
	if busy < 3 {
		return "", errBusy
	}
	return "done " + id, nil
}

// httpStatus is an error carrying an HTTP status, as idemhttp.ClassifyError
// reads it.
type httpStatus int

func (s httpStatus) Error() string   { return "status " + string(rune('0'+int(s)/100)) + "xx" }
func (s httpStatus) StatusCode() int { return int(s) }

// The directive below names idemhttp.ClassifyError; a comment is no use of
// an import, so the file uses it once.
var _ = idemhttp.ClassifyError

// calls counts the runs of CallAPI.
var calls int

// CallAPI gets a 503 (the server did nothing) once, then succeeds:
// idemhttp.ClassifyError, named by a qualified //idem:classify, makes the
// 503 retryable under the none effect.
//
//idem:key id
//idem:retry attempts=2 delay=1ms
//idem:classify idemhttp.ClassifyError
func CallAPI(ctx context.Context, id string) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	calls++
	if calls == 1 {
		return 0, httpStatus(503)
	}
	return calls, nil
}

// rpcCalls counts the runs of CallRPC.
var rpcCalls int

// CallRPC fails with gRPC's Unavailable (the server did nothing) once, then
// succeeds: idemgrpc.Classify, named by its import path, makes the failure
// retryable under the none effect, though this file does not import
// runtime/idemgrpc.
//
//idem:key id
//idem:retry attempts=2 delay=1ms
//idem:classify github.com/idem-go/idem/runtime/idemgrpc.Classify
func CallRPC(ctx context.Context, id string) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	rpcCalls++
	if rpcCalls == 1 {
		return 0, status.Error(codes.Unavailable, "try again")
	}
	return rpcCalls, nil
}
