package gen

// The spec variable of a wrapper: its doc comment with the schema, and
// its Spec literal.

import (
	"strconv"
	"strings"
	"time"

	"github.com/dave/jennifer/jen"
	"github.com/idem-go/idem/annotations"
)

// effectConst names the runtime constant of an effect.
func effectConst(e annotations.Effect) string {
	switch e {
	case annotations.EffectAPI:
		return "EffectAPI"
	case annotations.EffectQueue:
		return "EffectQueue"
	case annotations.EffectDB:
		return "EffectDB"
	case annotations.EffectComposite:
		return "EffectComposite"
	}
	return "EffectNone"
}

// durationCode renders d as N * time.Unit with the largest exact unit.
func (em *emitter) durationCode(d time.Duration) *jen.Statement {
	units := []struct {
		d    time.Duration
		name string
	}{{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"}, {time.Millisecond, "Millisecond"}, {time.Microsecond, "Microsecond"}, {time.Nanosecond, "Nanosecond"}}
	for _, u := range units {
		if d%u.d == 0 {
			n := d / u.d
			if n == 1 {
				return em.qual("time", "time", u.name)
			}
			return jen.Op(strconv.FormatInt(int64(n), 10)).Op("*").Add(em.qual("time", "time", u.name))
		}
	}
	return jen.Op(strconv.FormatInt(int64(d), 10)) // unreachable: every duration is whole nanoseconds
}

// specCode renders the wrapper's Spec literal, one field per line.
func (em *emitter) specCode(w *wrapper) *jen.Statement {
	kv := func(k string, v jen.Code) jen.Code { return jen.Id(k).Op(":").Add(v) }
	fields := []jen.Code{
		kv("Namespace", jen.Lit(w.namespace)),
		kv("Version", jen.Lit(w.version)),
		kv("Effect", em.rt(effectConst(w.effect))),
	}
	if w.retry.Attempts > 0 {
		rf := []jen.Code{kv("Attempts", jen.Lit(w.retry.Attempts))}
		if w.retry.Delay > 0 {
			rf = append(rf, kv("Delay", em.durationCode(w.retry.Delay)))
		}
		if w.retry.MaxDelay > 0 {
			rf = append(rf, kv("MaxDelay", em.durationCode(w.retry.MaxDelay)))
		}
		fields = append(fields, kv("Retry", em.rt("RetryPolicy").Values(rf...)))
	}
	fields = append(fields, kv("TTL", em.durationCode(w.ttl)), kv("Lease", em.durationCode(w.lease)))
	if len(w.fp) > 0 {
		names := make([]string, len(w.fp))
		for i, p := range w.fp {
			names[i] = p.display
		}
		fields = append(fields, kv("Fingerprint", jen.Lit(strings.Join(names, ", "))))
	}
	if f := w.classify; f != nil {
		if f.Pkg() == w.file.pg.tpkg {
			fields = append(fields, kv("Classify", em.id(f.Name())))
		} else {
			fields = append(fields, kv("Classify", em.qual(f.Pkg().Path(), f.Pkg().Name(), f.Name())))
		}
	}
	items := make([]jen.Code, 0, len(fields)+1)
	for _, f := range fields {
		items = append(items, jen.Line().Add(f))
	}
	return em.rt("Spec").Values(append(items, jen.Line())...)
}

// specDoc is the doc comment of the wrapper's spec variable: what it is,
// and the wrapper's schema (see schema), which the next run of idemgen
// compares with its own.
func (em *emitter) specDoc(w *wrapper) string {
	lines := wrapText(w.specVar+" describes ["+w.qualifiedName()+"] to the idem runtime. Its schema is what keys, fingerprints and recorded results depend on; idemgen compares it with the next generation's and rejects changes that would break calls in flight.", 76, "", "")
	lines = append(lines, "")
	s := w.schema
	if s == nil {
		s = em.pg.schemaOf(w)
	}
	for _, l := range s.lines() {
		lines = append(lines, "\t"+l)
	}
	return commentLines(lines)
}

// commentLines renders lines as one raw comment: "//" lines joined by
// newlines, with a space before text that does not start with a tab.
func commentLines(lines []string) string {
	var doc strings.Builder
	for i, l := range lines {
		if i > 0 {
			doc.WriteByte('\n')
		}
		doc.WriteString("//")
		if l != "" && l[0] != '\t' {
			doc.WriteByte(' ')
		}
		doc.WriteString(l)
	}
	return doc.String()
}
