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
//	//idem:key         path[, path...] [if-empty=run]   (required; marks the function)
//	//idem:fingerprint path[, path...] | -
//	//idem:effect      none | api | queue | db
//	//idem:retry       attempts=N [delay=D] [max-delay=D]
//	//idem:ttl         D
//	//idem:lease       D
//	//idem:name        identifier
//	//idem:namespace   word | "quoted string"
//	//idem:version     N
//	//idem:wrap        pkg.Func | (*pkg.Type).Method | (pkg.Type).Method
//
// A path is a constant (a quoted Go string such as "dlq", or a decimal
// integer), or a root followed by selectors. The root is a parameter name,
// or the receiver's name for a field of a method's receiver. A selector is
// .Field, .Method() (a method without arguments returning one value, such
// as the protobuf getter req.GetOrderId(); it is called each time the key
// or fingerprint is derived, so it must be a side-effect-free getter) or
// [constant] (a map entry: h["Webhook-Id"]). D is a Go duration
// (time.ParseDuration) greater than zero; N is a decimal integer of at
// least 1. A namespace is printable text of at most MaxNamespaceLen bytes
// (see NamespaceProblem).
//
// //idem:wrap declares a wrapper, in the file's own package, for a function
// or method of another package (generated code such as sqlc or protobuf
// output, or a third-party package) that cannot carry directives. It goes
// with the other directives in the doc comment of a blank variable whose
// value is the same function or method expression, which keeps the import
// used and lets the compiler check the name:
//
//	//idem:wrap (*db.Queries).InsertEvent
//	//idem:key arg.ID
//	//idem:effect api
//	var _ = (*db.Queries).InsertEvent
//
// The wrapper is a function (InsertEventIdem unless //idem:name says
// otherwise); for a method, its first parameter is the receiver, named by
// the type's initial (q for Queries), which key paths may start at.
//
// The option if-empty=run after the key paths makes a call whose key parts
// are all empty (each the zero value of its type, or crossing a nil
// pointer) run without deduplication instead of sharing the key of every
// other empty call.
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
	"strings"
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
	NameWrap        = "wrap"
	NameClassify    = "classify"
)

// Names lists every known directive name in the order the documentation
// presents them.
func Names() []string {
	return []string{NameKey, NameFingerprint, NameEffect, NameRetry, NameTTL, NameLease, NameName, NameNamespace, NameVersion, NameWrap, NameClassify}
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

// Path is a key or fingerprint part: a constant ("dlq", 7), or a root (a
// parameter name, or the receiver's name for a field of the method's
// receiver) followed by selectors: .Field, .Method() (a method without
// arguments, such as a protobuf getter) and [constant] (a map entry).
type Path struct {
	// Param is the root. It is the zero Ident for a constant.
	Param Ident
	// Steps are the selectors after the root, in order.
	Steps []Step
	// Const is the constant of a path that is one (Param is then zero).
	Const *Literal
}

// StepKind is the kind of one selector of a path.
type StepKind uint8

// Selector kinds.
const (
	// StepField selects a field: .Name.
	StepField StepKind = iota
	// StepCall calls a method without arguments: .Name().
	StepCall
	// StepIndex reads a map entry with a constant key: [Lit].
	StepIndex
)

// Step is one selector of a path.
type Step struct {
	Kind StepKind
	// Name is the field or method name (StepField, StepCall).
	Name string
	// Index is the constant key of a StepIndex.
	Index *Literal
	// Pos is the position of the name, or of the constant of a StepIndex.
	Pos token.Pos
}

// Literal is a Go constant as written in a path: a quoted string
// (Kind token.STRING) or a decimal integer (token.INT).
type Literal struct {
	Text string      // as written, a valid Go literal
	Kind token.Token // token.STRING or token.INT
	Pos  token.Pos
}

// String returns the path as written, without spaces: "ev.Meta.ID",
// "req.GetOrderId()", `h["Webhook-Id"]`, `"dlq"`.
func (p Path) String() string {
	if p.Const != nil {
		return p.Const.Text
	}
	var b strings.Builder
	b.WriteString(p.Param.Name)
	for _, s := range p.Steps {
		switch s.Kind {
		case StepField:
			b.WriteString("." + s.Name)
		case StepCall:
			b.WriteString("." + s.Name + "()")
		case StepIndex:
			b.WriteString("[" + s.Index.Text + "]")
		}
	}
	return b.String()
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
	// IfEmptyRun is set by the option if-empty=run after the paths: a call
	// whose key parts are all empty (zero, or crossing a nil pointer) runs
	// without deduplication instead of sharing one key.
	IfEmptyRun bool
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

// ClassifyDirective is //idem:classify: the function, of type
// func(error) runtime.Class, that classifies the wrapped function's errors
// before the runtime's built-in rules. Func is its name: an identifier of
// the package (classifyPayments), a qualified identifier of a package the
// file imports (idemgrpc.Classify: Pkg is the package name), or the
// function of a package named by its import path, which the file need not
// import (github.com/idem-go/idem/runtime/idemgrpc.Classify: Path is the
// import path, the text before the last dot).
type ClassifyDirective struct {
	Directive
	Pkg, Func string
	Path      string
	ArgPos    token.Pos
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

// WrapDirective is //idem:wrap: the function or method, declared in
// another package, that the directives apply to. Its forms are pkg.Func,
// (*pkg.Type).Method and (pkg.Type).Method, where pkg is the name the file
// imports the package under.
type WrapDirective struct {
	Directive
	// Target is the function or method expression as written, without
	// spaces: "db.InsertEvent", "(*db.Queries).InsertEvent".
	Target string
	// Pkg, Type and Func are its parts; Type is "" for a function, and
	// Pointer is set for (*pkg.Type).Method.
	Pkg, Type, Func string
	Pointer         bool
	// ArgPos is the position of the target.
	ArgPos token.Pos
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
	Wrap        *WrapDirective
	Classify    *ClassifyDirective
	// Lines holds the name and position of every directive line, known or
	// not, well-formed or not, in source order.
	Lines []Directive
}
