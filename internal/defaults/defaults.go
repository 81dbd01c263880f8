// Package defaults defines, once, the defaults and effect names shared by
// the directive parser (annotations), the generator (gen) and the runtime.
// It imports nothing but the standard library's time package, so that
// annotations stays free of the runtime's dependencies.
package defaults

import "time"

// Defaults applied to a wrapped function whose directives leave them out
// (and by the runtime to a Spec's zero fields).
const (
	// TTL is how long a completed or indeterminate record is kept.
	TTL = 24 * time.Hour
	// Lease is how long a claim lives without renewal.
	Lease = 30 * time.Second
	// RetryDelay is the first delay between attempts.
	RetryDelay = 100 * time.Millisecond
	// RetryMaxDelay caps every delay between attempts.
	RetryMaxDelay = 10 * time.Second
	// Version is the key version.
	Version = 1
)

// Effect values, in the order both annotations.Effect and runtime.Effect
// number them.
const (
	EffectNone uint8 = iota
	EffectAPI
	EffectQueue
	EffectDB
	EffectComposite
)

// effectNames are the directive spellings of the effects, indexed by value.
var effectNames = [...]string{EffectNone: "none", EffectAPI: "api", EffectQueue: "queue", EffectDB: "db", EffectComposite: "composite"}

// EffectName returns the directive spelling of effect e ("none", "api",
// "queue", "db", "composite"), and false for an unknown value.
func EffectName(e uint8) (string, bool) {
	if int(e) < len(effectNames) {
		return effectNames[e], true
	}
	return "", false
}

// EffectByName returns the effect spelled name, and false when no effect is
// spelled so.
func EffectByName(name string) (uint8, bool) {
	for i, n := range effectNames {
		if n == name {
			return uint8(i), true
		}
	}
	return 0, false
}

// EffectNames returns the spellings of every effect, in value order.
func EffectNames() []string { return append([]string(nil), effectNames[:]...) }
