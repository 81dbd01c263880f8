package gen

// The wrapper's doc comment.

import (
	"strconv"
	"strings"
	"time"

	"github.com/idem-go/idem/annotations"
)

// qualifiedName is the function's name as a doc link target: F or T.M.
func (w *wrapper) qualifiedName() string {
	if w.ext != nil {
		return w.ext.name()
	}
	if w.recvType != nil {
		return w.recvType.Name() + "." + w.fn.Name()
	}
	return w.fn.Name()
}

func (w *wrapper) wrapperQualifiedName() string {
	if w.deco != nil {
		return w.deco.name + "." + w.name
	}
	if w.recvType != nil {
		return w.recvType.Name() + "." + w.name
	}
	return w.name
}

// doc returns the lines of the wrapper's doc comment, without "// ": a
// sentence, then a list of what is deduplicated and how.
// rt is the name the file imports the runtime under, for doc links
// ([idemrt.KeyFrom]).
func (w *wrapper) doc(rt string) []string {
	fn := w.fn.Name()
	lines := wrapText(w.name+" calls ["+w.qualifiedName()+"] at most once per key; later calls with the key return the recorded results without running "+fn+" again.", 76, "", "")
	lines = append(lines, "")
	item := func(text string) { lines = append(lines, wrapText(text, 76, "  - ", "    ")...) }

	var b strings.Builder
	b.WriteString("Key: ")
	nilPath := false
	for i, p := range w.key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.display)
		nilPath = nilPath || p.crossesPointer()
	}
	b.WriteString("; namespace " + strconv.Quote(w.namespace) + ", version " + strconv.Itoa(w.version) + ".")
	if nilPath {
		b.WriteString(" A nil pointer on the way to a key path's field fails the call with [" + rt + ".ErrInvalidKey].")
	}
	if w.ifEmpty {
		b.WriteString(" When every key part that is not a constant is empty (its zero value, or a nil pointer on its path), " + fn + " runs without deduplication: no key, no record, no replay.")
	}
	if w.ctx != nil {
		b.WriteString(" " + fn + " can read it from its context with [" + rt + ".KeyFrom].")
	} else {
		b.WriteString(" " + fn + " takes no context.Context, so it cannot read the key.")
	}
	item(b.String())

	b.Reset()
	if w.fpMode == fpNone {
		b.WriteString("Fingerprint: none; a later call with a recorded key replays it whatever its other arguments.")
	} else {
		b.WriteString("Fingerprint: ")
		if len(w.fp) == 0 {
			b.WriteString("no parameters")
		}
		for i, p := range w.fp {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.display)
		}
		if len(w.fpOmitted) > 0 {
			b.WriteString("; left out: " + strings.Join(w.fpOmitted, ", "))
		}
		b.WriteString(". A later call with a recorded key and another fingerprint fails with [" + rt + ".ErrKeyReused].")
	}
	item(b.String())

	b.Reset()
	switch w.effect {
	case annotations.EffectAPI:
		b.WriteString("Effect api: the callee deduplicates on the key, so a failed attempt may run again, and the claim of a caller that died is taken over.")
	case annotations.EffectQueue:
		b.WriteString("Effect queue: the key is the message's deduplication id, so a failed attempt may run again, and the claim of a caller that died is taken over.")
	case annotations.EffectDB:
		handle := "*sql.DB"
		switch w.txKind {
		case txPgx:
			handle = "*pgxpool.Pool"
		case txOps:
			handle = "[" + rt + ".TxOps] (which begins transactions of " + w.tx.label() + "'s type and keeps the records in them)"
		}
		b.WriteString("Effect db: the wrapper takes a " + handle + " in place of " + w.tx.label() + ", begins a transaction, claims the key in it, runs " + fn + " in it and commits the key's record with " + fn + "'s writes: exactly once. Failures that rolled the transaction back are retried under the retry policy.")
	case annotations.EffectComposite:
		b.WriteString("Effect composite: every effect runs in a step (" + rt + ".Step, " + rt + ".StepSQL); a later execution replays the steps that completed and resumes at the first that did not, so a failed attempt may run again and the claim of a caller that died is taken over. Code between steps runs again and must have no side effects.")
	default:
		b.WriteString("Effect none: an attempt that may have applied the effect never runs again; after such a failure the key stays blocked ([" + rt + ".ErrIndeterminate]) until its record expires.")
	}
	if w.retry.Attempts > 1 {
		delay, maxDelay := fmtDuration(w.retry.Delay), fmtDuration(w.retry.MaxDelay)
		if w.retry.Delay == 0 {
			delay = fmtDuration(annotations.DefaultRetryDelay)
		}
		if w.retry.MaxDelay == 0 {
			maxDelay = fmtDuration(annotations.DefaultRetryMaxDelay)
		}
		b.WriteString(" Retry: up to " + strconv.Itoa(w.retry.Attempts) + " attempts, " + delay + " to " + maxDelay + " apart, for failures that cannot duplicate the effect.")
	} else {
		b.WriteString(" Retry: one attempt.")
	}
	if f := w.classify; f != nil {
		name := f.Name()
		if f.Pkg() != w.file.pg.tpkg {
			name = f.Pkg().Name() + "." + name
		}
		b.WriteString(" Errors are classified by [" + name + "] before the runtime's own rules.")
	}
	item(b.String())
	if w.effect == annotations.EffectDB {
		item("Records are kept for " + fmtDuration(w.ttl) + ", in the idem_records table of the same database.")
	} else {
		item("Records are kept for " + fmtDuration(w.ttl) + "; a running call holds the key under a " + fmtDuration(w.lease) + " lease, renewed while it runs.")
	}
	return lines
}

// fmtDuration formats d in its largest exact unit: 24h, 90m, 1500ms.
func fmtDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "µs"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// wrapText breaks s into lines of at most width bytes at spaces, the
// first line starting with first and the others with rest.
func wrapText(s string, width int, first, rest string) []string {
	var lines []string
	line := make([]byte, 0, width+16)
	line = append(line, first...)
	empty := true
	for i := 0; i < len(s); {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		j := i
		for j < len(s) && s[j] != ' ' {
			j++
		}
		if j == i {
			break
		}
		word := s[i:j]
		i = j
		if !empty && len(line)+1+len(word) > width {
			lines = append(lines, string(line))
			line = append(line[:0], rest...)
			empty = true
		}
		if !empty {
			line = append(line, ' ')
		}
		line = append(line, word...)
		empty = false
	}
	if !empty {
		lines = append(lines, string(line))
	}
	return lines
}
