// Package fakeclock is a manually advanced clock for deterministic tests of
// code that reads time through runtime.Clock.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a fake clock. Time stands still until Advance moves it; channels
// returned by After fire when Advance reaches their deadline. Safe for
// concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	changed chan struct{} // closed and replaced whenever waiters change
	nextID  uint64
}

type waiter struct {
	at time.Time
	ch chan time.Time // nil for AfterFunc
	f  func()
	id uint64
}

// New returns a clock that reads start until advanced.
func New(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the clock's time once Advance has
// moved it d past the current time. A d of zero or less fires at once.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	c.notify()
	return ch
}

// AfterFunc calls f in its own goroutine once Advance has moved the clock d
// past the current time, unless stop is called first; stop reports whether
// it prevented the call. A pending AfterFunc counts as a waiter.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		go f()
		return func() bool { return false }
	}
	c.nextID++
	id := c.nextID
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), f: f, id: id})
	c.notify()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, w := range c.waiters {
			if w.f != nil && w.id == id {
				c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
				c.notify()
				return true
			}
		}
		return false
	}
}

// Advance moves the clock forward by d and fires every After and AfterFunc
// whose deadline it reaches.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			if w.f != nil {
				go w.f()
			} else {
				w.ch <- c.now
			}
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
	c.notify()
}

// Waiters returns how many After channels are pending.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// BlockUntil returns once at least n After channels are pending: the
// goroutines under test have reached the point where they wait for time to
// pass.
func (c *Clock) BlockUntil(n int) {
	for {
		c.mu.Lock()
		if len(c.waiters) >= n {
			c.mu.Unlock()
			return
		}
		ch := c.changed
		c.mu.Unlock()
		<-ch
	}
}

func (c *Clock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// WaitFor returns the deadlines of the pending waiters (After channels and
// AfterFunc calls) once ok accepts them, blocking until the goroutines
// under test have registered what ok looks for.
func (c *Clock) WaitFor(ok func(deadlines []time.Time) bool) []time.Time {
	for {
		c.mu.Lock()
		ds := make([]time.Time, len(c.waiters))
		for i, w := range c.waiters {
			ds[i] = w.at
		}
		ch := c.changed
		c.mu.Unlock()
		if ok(ds) {
			return ds
		}
		<-ch
	}
}
