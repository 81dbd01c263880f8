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
	// EffectComposite marks a function whose every effect runs in a step
	// (Step, StepSQL): a later execution replays the steps that completed
	// and resumes at the first that did not, so the operation is retried
	// (on every error but permanent and context errors and an
	// indeterminate none step) and taken over after its holder died.
	EffectComposite Effect = Effect(shared.EffectComposite)
)

// String returns the directive spelling: "none", "api", "queue", "db" or "composite".
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

// ClockSkew is how far apart the clocks of two hosts sharing a store may be
// without two of them ever holding one key at once. A holder writes its
// lease as its own deadline plus ClockSkew, and stops itself at its own
// deadline: when it has not renewed the lease for a whole Lease (by its own
// clock), its function's context is canceled with cause ErrLeaseLost. A
// host whose clock runs up to ClockSkew ahead therefore sees the lease
// still live until after the holder has stopped. Keep the hosts' clocks
// synchronized (NTP) well within it.
const ClockSkew = 5 * time.Second

// DefaultStoreTimeout bounds, in wall-clock time, each store call of a
// wrapped function that has no context parameter (its wrapper passes
// context.Background), and how long such a call waits for the writes after
// its function ran before it returns and leaves them to finish in the
// background. Other calls are bounded by their context: give it a deadline.
const DefaultStoreTimeout = 10 * time.Second

// DefaultMaxResultSize is the default limit, in bytes, on the encoded
// results of a wrapped function; see SetMaxResultSize.
const DefaultMaxResultSize = 1 << 20

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
	// DefaultTTL. An in-progress record is kept at least as long as its
	// lease, whatever the TTL.
	TTL time.Duration
	// Lease is how long an in-progress claim lives without renewal; 0 means
	// DefaultLease. A live holder renews it every Lease/3; the store keeps
	// Lease plus ClockSkew, and a holder that has not renewed for a Lease
	// stops itself (see ClockSkew).
	Lease time.Duration
	// Classify, when set, classifies the function's errors before the
	// built-in rules (see Class); idemgen sets it from //idem:classify.
	// It answers ClassDefault for errors it has no opinion on.
	Classify func(error) Class
	// Fingerprint names the arguments the fingerprint covers, for the
	// message of ErrKeyReused (idemgen sets it: "ev, amount"; "" for an
	// empty fingerprint).
	Fingerprint string
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

func (p RetryPolicy) attempts() uint {
	if p.Attempts > 1 {
		return uint(p.Attempts)
	}
	return 1
}

func (p RetryPolicy) delay() time.Duration {
	if p.Delay > 0 {
		return p.Delay
	}
	return DefaultRetryDelay
}

func (p RetryPolicy) maxDelay() time.Duration {
	if p.MaxDelay > 0 {
		return p.MaxDelay
	}
	return DefaultRetryMaxDelay
}
