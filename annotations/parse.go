package annotations

import (
	"fmt"
	"go/token"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/idem-go/idem/internal/defaults"
)

// IsDirective reports whether a comment's text (including its "//") is an
// idem directive line.
func IsDirective(text string) bool { return strings.HasPrefix(text, Prefix) }

// Parse reads the directives of one comment group. It returns a nil Set when
// the group holds no directive line. Lines that are not directives are
// ignored. Every mistake is reported, positioned inside the comment that
// holds it; Parse never panics, whatever the input.
//
// A line that would be a directive but for a space after the slashes
// ("// idem:key id") is reported with the fix, as go vet reports
// "// go:generate": such a line is otherwise silently ignored.
func Parse(comments []Comment) (*Set, []Diagnostic) {
	p := &parser{}
	var spaced []Diagnostic
	for _, c := range comments {
		if !IsDirective(c.Text) {
			if d, ok := CheckSpaced(c); ok {
				spaced = append(spaced, d)
			}
			continue
		}
		p.line(c)
	}
	if p.set == nil {
		return nil, spaced
	}
	p.checkKey()
	if len(spaced) > 0 {
		p.diags = append(p.diags, spaced...)
		sort.SliceStable(p.diags, func(i, j int) bool { return p.diags[i].Pos < p.diags[j].Pos })
	}
	return p.set, p.diags
}

// CheckSpaced reports a comment that looks like a directive with white
// space after its slashes ("// idem:key id", "//\tidem:ttl 1h"), which Go
// tools do not treat as a directive: the line would be silently ignored.
// The diagnostic names the directive and its correct spelling.
func CheckSpaced(c Comment) (Diagnostic, bool) {
	rest, ok := strings.CutPrefix(c.Text, "//")
	if !ok || rest == "" || !isSpace(rest[0]) {
		return Diagnostic{}, false
	}
	rest = strings.TrimLeft(rest, " \t")
	after, ok := strings.CutPrefix(rest, Prefix[2:])
	if !ok || after == "" || !(after[0] >= 'a' && after[0] <= 'z' || after[0] >= 'A' && after[0] <= 'Z') {
		return Diagnostic{}, false
	}
	return Diagnostic{Pos: c.Pos, Message: fmt.Sprintf(
		"%q is not a directive because of the space after //, so it is ignored; write %s%s with no space (as for //go:generate)",
		strings.TrimSpace(c.Text), Prefix, strings.TrimSpace(after))}, true
}

type parser struct {
	set   *Set
	diags []Diagnostic
	seen  map[string]token.Pos
	known []Directive // known directive lines, in order
}

// line is one directive line being parsed.
type line struct {
	p    *parser
	c    Comment
	name string
	args string // arguments with surrounding space removed
	aoff int    // byte offset of args in c.Text
}

// at returns the position of byte offset i of the line, kept inside the
// comment.
func (l *line) at(i int) token.Pos {
	if i >= len(l.c.Text) {
		i = len(l.c.Text) - 1
	}
	if i < 0 {
		i = 0
	}
	return l.c.Pos + token.Pos(i)
}

func (l *line) errorf(off int, format string, args ...any) {
	l.p.diags = append(l.p.diags, Diagnostic{Pos: l.at(off), Message: fmt.Sprintf(format, args...)})
}

// directive returns the position of the line's start.
func (l *line) directive() Directive { return Directive{Name: l.name, Pos: l.c.Pos} }

func isSpace(r byte) bool {
	return r == ' ' || r == '\t' || r == '\r' || r == '\n' || r == '\v' || r == '\f'
}

func (p *parser) line(c Comment) {
	if p.set == nil {
		p.set = &Set{Pos: c.Pos}
	}
	text := c.Text
	i := len(Prefix)
	j := i
	for j < len(text) && !isSpace(text[j]) {
		j++
	}
	l := &line{p: p, c: c, name: text[i:j]}
	k := j
	for k < len(text) && isSpace(text[k]) {
		k++
	}
	end := len(text)
	for end > k && isSpace(text[end-1]) {
		end--
	}
	l.args, l.aoff = text[k:end], k
	p.set.Lines = append(p.set.Lines, l.directive())

	if !utf8.ValidString(text) {
		l.errorf(0, "directive is not valid UTF-8")
		return
	}
	if l.name == "" {
		l.errorf(0, "empty directive name after %q; known directives: %s", Prefix, knownList())
		return
	}
	parse, ok := parserFor(l.name)
	if !ok {
		l.errorf(len(Prefix), "unknown directive %s%s; did you mean %s%s? (known: %s)", Prefix, l.name, Prefix, closest(l.name), knownList())
		return
	}
	p.known = append(p.known, l.directive())
	if p.seen == nil {
		p.seen = map[string]token.Pos{}
	}
	if _, dup := p.seen[l.name]; dup {
		l.errorf(0, "%s%s repeated: a function takes one %s%s line; remove this one", Prefix, l.name, Prefix, l.name)
		return
	}
	p.seen[l.name] = c.Pos
	parse(l, p.set)
}

func (p *parser) checkKey() {
	if _, ok := p.seen[NameKey]; ok || len(p.known) == 0 {
		return
	}
	d := p.known[0]
	p.diags = append(p.diags, Diagnostic{Pos: d.Pos, Message: fmt.Sprintf(
		"%s%s without %skey: add %skey naming the parameters that identify one operation, or remove the idem directives",
		Prefix, d.Name, Prefix, Prefix)})
}

// parserFor returns the parser of a known directive.
func parserFor(name string) (func(*line, *Set), bool) {
	switch name {
	case NameKey:
		return parseKey, true
	case NameFingerprint:
		return parseFingerprint, true
	case NameEffect:
		return parseEffect, true
	case NameRetry:
		return parseRetry, true
	case NameTTL:
		return func(l *line, s *Set) { s.TTL = parseDurationDirective(l) }, true
	case NameLease:
		return func(l *line, s *Set) { s.Lease = parseDurationDirective(l) }, true
	case NameName:
		return parseName, true
	case NameNamespace:
		return parseNamespace, true
	case NameVersion:
		return parseVersion, true
	case NameWrap:
		return parseWrap, true
	case NameClassify:
		return parseClassify, true
	}
	return nil, false
}

func knownList() string {
	var b strings.Builder
	for i, n := range Names() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(n)
	}
	return b.String()
}

// closest returns the known directive name nearest to name by edit distance.
func closest(name string) string {
	best, bestD := "", -1
	for _, n := range Names() {
		d := editDistance(strings.ToLower(name), n)
		if bestD < 0 || d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 {
		ra = ra[:64]
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// field is one whitespace- or comma-separated word of the arguments.
type field struct {
	text string
	off  int // offset in the comment text
}

// words splits the arguments at white space (and, when commas is set, at
// commas too).
func (l *line) words(commas bool) []field {
	var out []field
	s := l.args
	i := 0
	for i < len(s) {
		for i < len(s) && (isSpace(s[i]) || commas && s[i] == ',') {
			i++
		}
		j := i
		for j < len(s) && !isSpace(s[j]) && !(commas && s[j] == ',') {
			j++
		}
		if j > i {
			out = append(out, field{s[i:j], l.aoff + i})
		}
		i = j
	}
	return out
}

// single returns the only argument, reporting a missing or extra one.
func (l *line) single(what string) (field, bool) {
	ws := l.words(false)
	switch {
	case len(ws) == 0:
		l.errorf(0, "%s%s needs %s", Prefix, l.name, what)
		return field{}, false
	case len(ws) > 1:
		l.errorf(ws[1].off, "%s%s takes one argument (%s); remove %q", Prefix, l.name, what, ws[1].text)
		return field{}, false
	}
	return ws[0], true
}

// IndexOutsideQuotes returns the index of the first byte of s at or after
// from for which at returns true and that lies outside a quoted Go string
// ("…" or `…`), or -1. Paths hold quoted constants (h["a, b"]), so commas
// and spaces inside them separate nothing.
func IndexOutsideQuotes(s string, from int, at func(byte) bool) int {
	var quote byte
	for i := from; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '`':
			quote = c
		case at(c):
			return i
		}
	}
	return -1
}

// splitOutside splits s at the bytes for which at returns true, outside
// quoted strings; each piece comes with its offset in s.
func splitOutside(s string, at func(byte) bool) (pieces []string, offs []int) {
	start := 0
	for {
		i := IndexOutsideQuotes(s, start, at)
		if i < 0 {
			return append(pieces, s[start:]), append(offs, start)
		}
		pieces, offs = append(pieces, s[start:i]), append(offs, start)
		start = i + 1
	}
}

// keyOptions takes the options (name=value words) off the end of the
// arguments of //idem:key: if-empty=run.
func (l *line) keyOptions() (ifEmptyRun bool) {
	words, offs := splitOutside(l.args, func(c byte) bool { return isSpace(c) })
	cut := len(l.args)
	for i := len(words) - 1; i > 0; i-- {
		w := words[i]
		if w == "" {
			continue
		}
		name, val, ok := strings.Cut(w, "=")
		if !ok || strings.ContainsAny(w, "\"`[](),.") {
			break
		}
		cut = offs[i]
		switch {
		case name == "if-empty" && val == "run":
			ifEmptyRun = true
		case name == "if-empty":
			l.errorf(l.aoff+offs[i]+len(name)+1, "unknown if-empty value %q: write if-empty=run to run a call whose key parts are all empty without deduplication, or leave the option out", val)
		default:
			l.errorf(l.aoff+offs[i], "unknown %s%s option %q: the only option is if-empty=run", Prefix, l.name, name)
		}
	}
	l.args = strings.TrimRightFunc(l.args[:cut], func(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) })
	return ifEmptyRun
}

// paths parses a comma-separated list of paths.
func (l *line) paths() ([]Path, bool) {
	if l.args == "" {
		l.errorf(0, "%s%s needs at least one path: a parameter name, optionally followed by .Field selectors", Prefix, l.name)
		return nil, false
	}
	var out []Path
	ok := true
	seen := map[string]bool{}
	elems, offs := splitOutside(l.args, func(c byte) bool { return c == ',' })
	for i, elem := range elems {
		lead := 0
		for lead < len(elem) && isSpace(elem[lead]) {
			lead++
		}
		trimmed := strings.TrimRightFunc(elem[lead:], func(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) })
		off := l.aoff + offs[i] + lead
		if trimmed == "" {
			l.errorf(l.aoff+offs[i], "empty path in %s%s: remove the stray comma", Prefix, l.name)
			ok = false
		} else if path, good := l.path(trimmed, off); good {
			if seen[path.String()] {
				l.errorf(off, "path %s repeated in %s%s", path, Prefix, l.name)
				ok = false
			} else {
				seen[path.String()] = true
				out = append(out, path)
			}
		} else {
			ok = false
		}
	}
	return out, ok
}

// literal parses a constant at the start of s: a quoted Go string or a
// decimal integer. It returns the literal and its length, or false.
func literal(s string) (Literal, int, bool) {
	if s == "" {
		return Literal{}, 0, false
	}
	switch c := s[0]; {
	case c == '"' || c == '`':
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' && c == '"' {
				i++
				continue
			}
			if s[i] == c {
				if _, err := strconv.Unquote(s[:i+1]); err != nil {
					return Literal{}, 0, false
				}
				return Literal{Text: s[:i+1], Kind: token.STRING}, i + 1, true
			}
		}
		return Literal{}, 0, false
	case c == '-' || c >= '0' && c <= '9':
		i := 1
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if _, err := strconv.ParseInt(s[:i], 10, 64); err != nil {
			return Literal{}, 0, false
		}
		return Literal{Text: s[:i], Kind: token.INT}, i, true
	}
	return Literal{}, 0, false
}

// path parses one path that starts at offset off.
func (l *line) path(s string, off int) (Path, bool) {
	var p Path
	bad := func(at int, format string, args ...any) (Path, bool) {
		l.errorf(off+at, "malformed path %q: "+format, append([]any{s}, args...)...)
		return Path{}, false
	}
	if lit, n, ok := literal(s); ok || s[0] == '"' || s[0] == '`' || s[0] == '-' || s[0] >= '0' && s[0] <= '9' {
		if !ok {
			return bad(0, "write a constant as a quoted Go string (\"dlq\") or a decimal integer")
		}
		if n != len(s) {
			return bad(n, "a constant stands alone; separate paths with commas")
		}
		lit.Pos = l.at(off)
		p.Const = &lit
		return p, true
	}
	ident := func(i int) int {
		j := i
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9' || s[j] >= utf8.RuneSelf) {
			j++
		}
		if j > i && !token.IsIdentifier(s[i:j]) {
			return i
		}
		return j
	}
	i := ident(0)
	if i == 0 {
		return bad(0, "a path starts with a parameter name (or the receiver's name), or is a constant")
	}
	if s[:i] == "_" {
		l.errorf(off, "a path cannot start with _: give the parameter a name to use it")
		return Path{}, false
	}
	p.Param = Ident{Name: s[:i], Pos: l.at(off)}
	seg := 0 // start of the current selector, for messages
	for i < len(s) {
		switch s[i] {
		case '.':
			seg = i + 1
			j := ident(i + 1)
			if j == i+1 {
				if j == len(s) || s[j] == '.' {
					return bad(i+1, "empty name between dots")
				}
				word := s[i+1:]
				if k := strings.IndexAny(word, ".[( \t"); k >= 0 {
					word = word[:k]
				}
				return bad(i+1, "%q is not a Go identifier", word)
			}
			st := Step{Kind: StepField, Name: s[i+1 : j], Pos: l.at(off + i + 1)}
			if strings.HasPrefix(s[j:], "()") {
				st.Kind = StepCall
				j += 2
			} else if j < len(s) && s[j] == '(' {
				return bad(j, "a method on a path takes no arguments: write %s()", st.Name)
			}
			p.Steps = append(p.Steps, st)
			i = j
		case '[':
			seg = i
			lit, n, ok := literal(s[i+1:])
			if !ok || i+1+n >= len(s) || s[i+1+n] != ']' {
				return bad(i, "a map entry is [constant]: a quoted Go string or a decimal integer, as in h[\"Webhook-Id\"]")
			}
			lit.Pos = l.at(off + i + 1)
			p.Steps = append(p.Steps, Step{Kind: StepIndex, Index: &lit, Pos: lit.Pos})
			i += n + 2
		default:
			if isSpace(s[i]) {
				return bad(seg, "separate paths with commas, and write no spaces inside a path")
			}
			return bad(i, "unexpected %q; a path continues with .Field, .Method() or [constant]", s[i:i+1])
		}
	}
	return p, true
}

func parseKey(l *line, s *Set) {
	ifEmpty := l.keyOptions()
	paths, ok := l.paths()
	if !ok && len(paths) == 0 {
		// Keep the directive so that the function is still treated as
		// marked; the diagnostics stop generation anyway.
		s.Key = &KeyDirective{Directive: l.directive()}
		return
	}
	s.Key = &KeyDirective{Directive: l.directive(), Paths: paths, IfEmptyRun: ifEmpty}
}

func parseFingerprint(l *line, s *Set) {
	if l.args == "-" {
		s.Fingerprint = &FingerprintDirective{Directive: l.directive(), None: true}
		return
	}
	for _, w := range l.words(true) {
		if w.text == "-" {
			l.errorf(w.off, "%s%s - means no fingerprint and stands alone; remove the other paths or the -", Prefix, l.name)
			return
		}
	}
	paths, ok := l.paths()
	if !ok {
		return
	}
	s.Fingerprint = &FingerprintDirective{Directive: l.directive(), Paths: paths}
}

func parseEffect(l *line, s *Set) {
	known := strings.Join(defaults.EffectNames(), ", ")
	w, ok := l.single("one of " + known)
	if !ok {
		return
	}
	e, ok := defaults.EffectByName(w.text)
	if !ok {
		l.errorf(w.off, "unknown effect %q: use one of %s", w.text, known)
		return
	}
	s.Effect = &EffectDirective{Directive: l.directive(), Effect: Effect(e)}
}

// duration parses a Go duration greater than zero.
func (l *line) duration(w field, what string) (time.Duration, bool) {
	d, err := time.ParseDuration(w.text)
	if err != nil {
		l.errorf(w.off, "malformed %s %q: write a Go duration such as 30s, 5m or 24h", what, w.text)
		return 0, false
	}
	if d <= 0 {
		l.errorf(w.off, "%s %q must be greater than zero", what, w.text)
		return 0, false
	}
	return d, true
}

// integer parses a decimal integer of at least 1.
func (l *line) integer(w field, what string) (int, bool) {
	digits := w.text != ""
	for i := 0; i < len(w.text); i++ {
		if w.text[i] < '0' || w.text[i] > '9' {
			digits = false
		}
	}
	n, err := strconv.Atoi(w.text)
	if !digits || err != nil {
		l.errorf(w.off, "malformed %s %q: write a decimal integer of at least 1", what, w.text)
		return 0, false
	}
	if n < 1 {
		l.errorf(w.off, "%s %q must be at least 1", what, w.text)
		return 0, false
	}
	return n, true
}

func parseDurationDirective(l *line) *DurationDirective {
	w, ok := l.single("a Go duration such as 30s or 24h")
	if !ok {
		return nil
	}
	d, ok := l.duration(w, l.name)
	if !ok {
		return nil
	}
	return &DurationDirective{Directive: l.directive(), Value: d}
}

func parseRetry(l *line, s *Set) {
	ws := l.words(true)
	if len(ws) == 0 {
		l.errorf(0, "%s%s needs attempts=N, optionally followed by delay=D and max-delay=D", Prefix, l.name)
		return
	}
	r := &RetryDirective{Directive: l.directive()}
	ok := true
	seen := map[string]bool{}
	var delayW, maxW field
	for _, w := range ws {
		name, val, hasEq := strings.Cut(w.text, "=")
		if !hasEq {
			l.errorf(w.off, "malformed retry option %q: write name=value, for example attempts=3", w.text)
			ok = false
			continue
		}
		vw := field{text: val, off: w.off + len(name) + 1}
		if seen[name] {
			l.errorf(w.off, "retry option %s repeated; remove one", name)
			ok = false
			continue
		}
		seen[name] = true
		switch name {
		case "attempts":
			n, good := l.integer(vw, "attempts")
			ok = ok && good
			r.Attempts = n
		case "delay":
			d, good := l.duration(vw, "delay")
			ok = ok && good
			r.Delay, delayW = d, vw
		case "max-delay":
			d, good := l.duration(vw, "max-delay")
			ok = ok && good
			r.MaxDelay, maxW = d, vw
		default:
			best, bestD := "", -1
			for _, o := range [...]string{"attempts", "delay", "max-delay"} {
				if d := editDistance(name, o); bestD < 0 || d < bestD {
					best, bestD = o, d
				}
			}
			l.errorf(w.off, "unknown retry option %q; did you mean %s? (known: attempts, delay, max-delay)", name, best)
			ok = false
		}
	}
	if !ok {
		return
	}
	if !seen["attempts"] {
		l.errorf(0, "%s%s needs attempts=N", Prefix, l.name)
		return
	}
	if r.Delay > 0 && r.MaxDelay > 0 && r.MaxDelay < r.Delay {
		l.errorf(maxW.off, "max-delay %s is less than delay %s", maxW.text, delayW.text)
		return
	}
	s.Retry = r
}

func parseName(l *line, s *Set) {
	w, ok := l.single("a Go identifier")
	if !ok {
		return
	}
	if !token.IsIdentifier(w.text) || w.text == "_" {
		l.errorf(w.off, "malformed wrapper name %q: write a Go identifier other than _", w.text)
		return
	}
	s.Name = &NameDirective{Directive: l.directive(), Ident: Ident{Name: w.text, Pos: l.at(w.off)}}
}

func parseClassify(l *line, s *Set) {
	w, ok := l.single("a function: name, pkg.Name or import/path.Name")
	if !ok {
		return
	}
	if strings.Contains(w.text, "/") {
		i := strings.LastIndexByte(w.text, '.')
		if i <= 0 || !token.IsIdentifier(w.text[i+1:]) || w.text[i+1:] == "_" || strings.HasSuffix(w.text[:i], "/") {
			l.errorf(w.off, "malformed classifier %q: name a function of a package by its import path as path.Name (github.com/idem-go/idem/runtime/idemgrpc.Classify)", w.text)
			return
		}
		s.Classify = &ClassifyDirective{Directive: l.directive(), Func: w.text[i+1:], Path: w.text[:i], ArgPos: l.at(w.off)}
		return
	}
	pkg, fn, qualified := strings.Cut(w.text, ".")
	if !qualified {
		pkg, fn = "", w.text
	}
	if !token.IsIdentifier(fn) || fn == "_" || (qualified && (!token.IsIdentifier(pkg) || pkg == "_")) {
		l.errorf(w.off, "malformed classifier %q: name a func(error) runtime.Class of this package (classifyPayments) or of an imported one (idemgrpc.Classify)", w.text)
		return
	}
	s.Classify = &ClassifyDirective{Directive: l.directive(), Pkg: pkg, Func: fn, ArgPos: l.at(w.off)}
}

func parseNamespace(l *line, s *Set) {
	if l.args == "" {
		l.errorf(0, "%s%s needs a namespace: a word or a quoted Go string", Prefix, l.name)
		return
	}
	var v string
	if c := l.args[0]; c == '"' || c == '`' {
		u, err := strconv.Unquote(l.args)
		if err != nil {
			l.errorf(l.aoff, "malformed namespace %s: write one quoted Go string", l.args)
			return
		}
		v = u
	} else {
		w, ok := l.single("a namespace (quote it if it contains spaces)")
		if !ok {
			return
		}
		v = w.text
	}
	if msg := NamespaceProblem(v); msg != "" {
		l.errorf(l.aoff, "%s", msg)
		return
	}
	s.Namespace = &NamespaceDirective{Directive: l.directive(), Value: v}
}

func parseVersion(l *line, s *Set) {
	w, ok := l.single("an integer of at least 1")
	if !ok {
		return
	}
	n, ok := l.integer(w, "version")
	if !ok {
		return
	}
	s.Version = &VersionDirective{Directive: l.directive(), Value: n}
}

// MaxNamespaceLen is the longest namespace //idem:namespace accepts, in
// bytes.
const MaxNamespaceLen = 256

// NamespaceProblem says what is wrong with a namespace, or returns "" when
// it is acceptable: non-empty valid UTF-8 of at most MaxNamespaceLen bytes,
// every character printable (a space is allowed, not at either end; NUL,
// other control characters and invisible format characters are not: stores
// such as PostgreSQL reject them, which would fail every call).
func NamespaceProblem(ns string) string {
	switch {
	case strings.TrimSpace(ns) == "":
		return "namespace must not be empty: write a word such as example.com/billing.Charge"
	case !utf8.ValidString(ns):
		return "namespace must be valid UTF-8"
	case len(ns) > MaxNamespaceLen:
		return fmt.Sprintf("namespace is %d bytes long; keep it to at most %d (an import path and a function name)", len(ns), MaxNamespaceLen)
	case strings.TrimSpace(ns) != ns:
		return fmt.Sprintf("namespace %q starts or ends with white space; remove it", ns)
	}
	for i, r := range ns {
		if r != ' ' && !unicode.IsPrint(r) {
			return fmt.Sprintf("namespace %q holds the non-printable character %U at byte %d; namespaces are printable text (stores reject NUL and control characters)", ns, r, i)
		}
	}
	return ""
}

func parseWrap(l *line, s *Set) {
	w, ok := l.single("the function or method it wraps: pkg.Func or (*pkg.Type).Method")
	if !ok {
		return
	}
	d := &WrapDirective{Directive: l.directive(), Target: w.text, ArgPos: l.at(w.off)}
	text := w.text
	bad := func() {
		l.errorf(w.off, "malformed %s%s target %q: write pkg.Func, (*pkg.Type).Method or (pkg.Type).Method, with pkg the name the file imports the package under", Prefix, l.name, w.text)
	}
	if strings.HasPrefix(text, "(") {
		inner, method, found := strings.Cut(text[1:], ").")
		if !found {
			bad()
			return
		}
		d.Pointer = strings.HasPrefix(inner, "*")
		inner = strings.TrimPrefix(inner, "*")
		pkg, typ, found := strings.Cut(inner, ".")
		if !found || !token.IsIdentifier(pkg) || !token.IsIdentifier(typ) || !token.IsIdentifier(method) {
			bad()
			return
		}
		d.Pkg, d.Type, d.Func = pkg, typ, method
	} else {
		pkg, fn, found := strings.Cut(text, ".")
		if !found || !token.IsIdentifier(pkg) || !token.IsIdentifier(fn) {
			bad()
			return
		}
		d.Pkg, d.Func = pkg, fn
	}
	s.Wrap = d
}
