package runtime

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// EventKind names the outcome of a wrapped call, or a step within it.
type EventKind uint8

const (
	// EventExecuted: the function ran and its results were recorded.
	EventExecuted EventKind = iota
	// EventReplayed: a recorded result was returned without running.
	EventReplayed
	// EventWaited: the call waited for another holder of the key and then
	// returned that holder's recorded result.
	EventWaited
	// EventKeyReused: the key was found with a different fingerprint.
	EventKeyReused
	// EventRetried: an attempt failed and another is about to start (one
	// event per retry, in addition to the call's outcome).
	EventRetried
	// EventIndeterminate: the call ended with ErrIndeterminate, because it
	// marked the record so or found it so.
	EventIndeterminate
	// EventTakeover: the call was granted a key whose previous holder's
	// lease had passed (in addition to the call's outcome).
	EventTakeover
	// EventStoreError: the call failed because the store failed.
	EventStoreError
	// EventFailed: the function ran and failed and the claim was released
	// so a later call may run again; or the caller's context ended before
	// the function ran (Attempt 0).
	EventFailed
	// EventWaiting: the call found the key held by another caller and
	// starts waiting for it (in addition to the call's outcome). LeaseUntil
	// is the holder's lease end: a holder that died is waited for until
	// then.
	EventWaiting
	// EventRecordPending: the caller's context ended before the outcome of
	// the function could be recorded; the call returned (a successful
	// function's results to its caller) and the write continues in the
	// background until the lease ends. EventExecuted or EventRecordFailed
	// follows.
	EventRecordPending
	// EventRecordFailed: the function ran but its outcome (results, release
	// or indeterminate mark) could not be recorded before the lease ended;
	// Err says why. The key stays in progress until its lease passes.
	EventRecordFailed
	numEventKinds
)

var eventKindNames = [numEventKinds]string{"executed", "replayed", "waited", "key_reused", "retried", "indeterminate", "takeover", "store_error", "failed", "waiting", "record_pending", "record_failed"}

// String returns the event's snake_case name, e.g. "key_reused".
func (k EventKind) String() string {
	if k < numEventKinds {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one outcome reported to an Observer.
type Event struct {
	Kind      EventKind
	Namespace string
	// Step is the step's name for the events of a step of a composite
	// operation (Key is then the step's key), and "" otherwise.
	Step string
	Key  Key
	// Duration is the time from the start of the wrapped call to this event.
	Duration time.Duration
	// Attempt is the attempt number the event concerns (1-based), or 0 where
	// the function did not run.
	Attempt int
	// Err is the error the event concerns, if any.
	Err error
	// LeaseUntil is, for EventWaiting, the lease end of the caller that
	// holds the key.
	LeaseUntil time.Time
}

// Observer receives the events of wrapped calls. Observe is called
// synchronously on the calling goroutine (or, for the outcome of a write
// that finishes after its caller returned, on the goroutine doing it),
// possibly concurrently from many goroutines, and must not block.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// Counters are the numbers of events of each kind for one namespace since
// the process started.
type Counters struct {
	Executed      uint64
	Replayed      uint64
	Waited        uint64
	KeyReused     uint64
	Retried       uint64
	Indeterminate uint64
	Takeover      uint64
	StoreError    uint64
	Failed        uint64
	Waiting       uint64
	RecordPending uint64
	RecordFailed  uint64
}

type counters [numEventKinds]atomic.Uint64

// stats holds the process-wide counters by namespace (a documented default
// of the package: see Stats).
var stats sync.Map // string -> *counters

func countersFor(namespace string) *counters {
	if c, ok := stats.Load(namespace); ok {
		return c.(*counters)
	}
	c, _ := stats.LoadOrStore(namespace, new(counters))
	return c.(*counters)
}

// NamespaceStats is a snapshot of one namespace's counters.
type NamespaceStats struct {
	Namespace string
	Counters
}

// Stats returns a snapshot of the event counters of every namespace that
// has had a wrapped call in this process, sorted by namespace. Counters only
// grow; compare two snapshots to get rates.
func Stats() []NamespaceStats {
	var out []NamespaceStats
	stats.Range(func(k, v any) bool {
		out = append(out, NamespaceStats{Namespace: k.(string), Counters: v.(*counters).snapshot()})
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out
}

// StatsFor returns the counters of one namespace (zero if it has had no
// wrapped call).
func StatsFor(namespace string) Counters {
	if c, ok := stats.Load(namespace); ok {
		return c.(*counters).snapshot()
	}
	return Counters{}
}

func (c *counters) snapshot() Counters {
	return Counters{
		Executed:      c[EventExecuted].Load(),
		Replayed:      c[EventReplayed].Load(),
		Waited:        c[EventWaited].Load(),
		KeyReused:     c[EventKeyReused].Load(),
		Retried:       c[EventRetried].Load(),
		Indeterminate: c[EventIndeterminate].Load(),
		Takeover:      c[EventTakeover].Load(),
		StoreError:    c[EventStoreError].Load(),
		Failed:        c[EventFailed].Load(),
		Waiting:       c[EventWaiting].Load(),
		RecordPending: c[EventRecordPending].Load(),
		RecordFailed:  c[EventRecordFailed].Load(),
	}
}
