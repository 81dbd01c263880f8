// Package annotations is the grammar of idem's //idem: directives and their
// parser.
//
// The parser is pure: it takes the text and position of the comment lines of
// one comment group and returns the directives found in it together with a
// diagnostic for every mistake, each positioned at the directive or at the
// exact argument at fault, and always inside the comment. It knows nothing
// about Go types; the generator (package gen) resolves key paths against the
// function's parameters.
//
// # Grammar
//
// A directive is a line comment that starts exactly with "//idem:" (no space
// after the slashes), followed by a name and its arguments:
//
//	//idem:key         path[, path...]           (required; marks the function)
//	//idem:fingerprint path[, path...] | -
//	//idem:effect      none | api | queue | db
//	//idem:retry       attempts=N [delay=D] [max-delay=D]
//	//idem:ttl         D
//	//idem:lease       D
//	//idem:name        identifier
//	//idem:namespace   word | "quoted string"
//	//idem:version     N
//
// A path is a parameter name followed by zero or more ".Field" selectors. D is
// a Go duration (time.ParseDuration) greater than zero; N is a decimal integer
// of at least 1. A namespace is printable text of at most MaxNamespaceLen
// bytes (see NamespaceProblem).
//
// A line that would be a directive but for white space after the slashes
// ("// idem:key id") is reported (CheckSpaced): Go tools do not treat it as
// a directive, so it would otherwise be silently ignored.
//
// The defaults of absent directives and the effect names come from
// internal/defaults, which the runtime uses too.
package annotations

import (
	"go/token"
	"time"

	"github.com/idem-go/idem/internal/defaults"
)

// Prefix starts every directive line.
const Prefix = "//idem:"

// Directive names.
const (
	NameKey         = "key"
	NameFingerprint = "fingerprint"
	NameEffect      = "effect"
	NameRetry       = "retry"
	NameTTL         = "ttl"
	NameLease       = "lease"
	NameName        = "name"
	NameNamespace   = "namespace"
	NameVersion     = "version"
)

// Names lists every known directive name in the order the documentation
// presents them.
func Names() []string {
	return []string{NameKey, NameFingerprint, NameEffect, NameRetry, NameTTL, NameLease, NameName, NameNamespace, NameVersion}
}

// Defaults applied by the generator to directives that are absent (defined
// once, in internal/defaults, and shared with the runtime).
const (
	DefaultTTL           = defaults.TTL
	DefaultLease         = defaults.Lease
	DefaultVersion       = defaults.Version
	DefaultRetryDelay    = defaults.RetryDelay
	DefaultRetryMaxDelay = defaults.RetryMaxDelay
)

// Comment is one line comment of a comment group, as in go/ast: Text
// includes the leading "//", and Pos is the position of its first slash.
type Comment struct {
	Text string
	Pos  token.Pos
}

// Diagnostic is a mistake in a directive. Pos always lies inside the comment
// that contains the mistake.
type Diagnostic struct {
	Pos     token.Pos
	Message string
}

// Effect is the value of //idem:effect.
type Effect uint8

// Effects, in the same order as the runtime's.
const (
	EffectNone  Effect = Effect(defaults.EffectNone)
	EffectAPI   Effect = Effect(defaults.EffectAPI)
	EffectQueue Effect = Effect(defaults.EffectQueue)
	EffectDB    Effect = Effect(defaults.EffectDB)
	// EffectComposite: every effect of the function runs in a step
	// (runtime.Step, runtime.StepSQL).
	EffectComposite Effect = Effect(defaults.EffectComposite)
)

// String returns the directive spelling.
func (e Effect) String() string {
	if n, ok := defaults.EffectName(uint8(e)); ok {
		return n
	}
	return "unknown"
}

// Ident is a name with its position.
type Ident struct {
	Name string
	Pos  token.Pos
}

// Path is a key or fingerprint path: a parameter name followed by field
// selectors.
type Path struct {
	Param  Ident
	Fields []Ident
}

// String returns the path as written, without spaces: "ev.Meta.ID".
func (p Path) String() string {
	s := p.Param.Name
	for _, f := range p.Fields {
		s += "." + f.Name
	}
	return s
}

// Directive is the part common to every directive: its name and where its
// line starts.
type Directive struct {
	Name string
	Pos  token.Pos // position of the first slash of the line
}

// KeyDirective is //idem:key.
type KeyDirective struct {
	Directive
	Paths []Path
}

// FingerprintDirective is //idem:fingerprint. None is set by "-".
type FingerprintDirective struct {
	Directive
	None  bool
	Paths []Path
}

// EffectDirective is //idem:effect.
type EffectDirective struct {
	Directive
	Effect Effect
}

// RetryDirective is //idem:retry. Delay and MaxDelay are zero when absent
// (the runtime's defaults apply).
type RetryDirective struct {
	Directive
	Attempts int
	Delay    time.Duration
	MaxDelay time.Duration
}

// DurationDirective is //idem:ttl or //idem:lease.
type DurationDirective struct {
	Directive
	Value time.Duration
}

// NameDirective is //idem:name.
type NameDirective struct {
	Directive
	Ident Ident
}

// NamespaceDirective is //idem:namespace.
type NamespaceDirective struct {
	Directive
	Value string
}

// VersionDirective is //idem:version.
type VersionDirective struct {
	Directive
	Value int
}

// Set is the directives of one comment group. A nil field means the
// directive is absent (or was malformed: then a Diagnostic says why).
type Set struct {
	// Pos is the position of the first directive line of the group.
	Pos         token.Pos
	Key         *KeyDirective
	Fingerprint *FingerprintDirective
	Effect      *EffectDirective
	Retry       *RetryDirective
	TTL         *DurationDirective
	Lease       *DurationDirective
	Name        *NameDirective
	Namespace   *NamespaceDirective
	Version     *VersionDirective
	// Lines holds the name and position of every directive line, known or
	// not, well-formed or not, in source order.
	Lines []Directive
}
