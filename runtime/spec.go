package runtime

import (
	"fmt"
	"time"

	shared "github.com/idem-go/idem/internal/defaults"
)

// Effect says how a wrapped function's side effect deduplicates downstream,
// and so which failed attempts may be run again.
type Effect uint8

const (
	// EffectNone is the default: the function does not pass the key
	// downstream, so an attempt that may have applied its effect is never
	// run again.
	EffectNone Effect = Effect(shared.EffectNone)
	// EffectAPI marks a function that passes the key to an API that
	// deduplicates on it (an Idempotency-Key header): running again with the
	// same key cannot duplicate the effect.
	EffectAPI Effect = Effect(shared.EffectAPI)
	// EffectQueue marks a function that publishes with the key as the
	// message's deduplication id.
	EffectQueue Effect = Effect(shared.EffectQueue)
	// EffectDB marks a function whose effect is a database write in a
	// transaction that also commits the key record.
	EffectDB Effect = Effect(shared.EffectDB)
)

// String returns the directive spelling: "none", "api", "queue" or "db".
func (e Effect) String() string {
	if n, ok := shared.EffectName(uint8(e)); ok {
		return n
	}
	return fmt.Sprintf("Effect(%d)", uint8(e))
}

// dedupesDownstream reports whether running again with the same key cannot
// duplicate the effect.
func (e Effect) dedupesDownstream() bool { return e == EffectAPI || e == EffectQueue }

// RetryPolicy says how often a wrapped call is attempted. Attempts of 0 or 1
// means one attempt. Delays grow exponentially from Delay, capped at
// MaxDelay, with full jitter. A retry happens only where the runtime has
// established that it cannot duplicate the effect.
type RetryPolicy struct {
	Attempts int
	Delay    time.Duration // first delay; 0 means DefaultRetryDelay
	MaxDelay time.Duration // cap on any delay; 0 means DefaultRetryMaxDelay
}

// Defaults for a Spec's zero fields, defined once in internal/defaults and
// shared with the directive parser and the generator.
const (
	DefaultTTL           = shared.TTL
	DefaultLease         = shared.Lease
	DefaultRetryDelay    = shared.RetryDelay
	DefaultRetryMaxDelay = shared.RetryMaxDelay
)

// Spec describes one wrapped function. Generated code declares one Spec per
// wrapper as a package-level variable; the runtime never modifies it.
type Spec struct {
	// Namespace is the function's identity in keys and statistics: by
	// default its import path, receiver type and name.
	Namespace string
	// Version is the key version; bumping it starts a fresh key space.
	Version int
	Effect  Effect
	Retry   RetryPolicy
	// TTL is how long a completed or indeterminate record is kept; 0 means
	// DefaultTTL.
	TTL time.Duration
	// Lease is how long an in-progress claim lives without renewal; 0 means
	// DefaultLease. A live holder renews it every Lease/3.
	Lease time.Duration
}

func (s *Spec) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultTTL
}

func (s *Spec) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultLease
}

func (s *Spec) attempts() uint {
	if s.Retry.Attempts > 1 {
		return uint(s.Retry.Attempts)
	}
	return 1
}

func (s *Spec) retryDelay() time.Duration {
	if s.Retry.Delay > 0 {
		return s.Retry.Delay
	}
	return DefaultRetryDelay
}

func (s *Spec) retryMaxDelay() time.Duration {
	if s.Retry.MaxDelay > 0 {
		return s.Retry.MaxDelay
	}
	return DefaultRetryMaxDelay
}
