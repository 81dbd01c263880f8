package gen

import (
	"bytes"
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/idem-go/idem/annotations"
)

// oldSchemas holds the schemas carried by the package's generated files on
// disk, by wrapped function (F or T.M), by wrapper name and by namespace
// and version.
type oldSchemas struct {
	byFn, byWrapper, byNamespace map[string]*schema
}

// readOldSchemas reads the schemas of the package's generated files.
func (pg *pkgGen) readOldSchemas() *oldSchemas {
	o := &oldSchemas{byFn: map[string]*schema{}, byWrapper: map[string]*schema{}, byNamespace: map[string]*schema{}}
	if pg.pkg.Dir == "" {
		return o
	}
	entries, err := os.ReadDir(pg.pkg.Dir)
	if err != nil {
		return o
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(pg.pkg.Dir, e.Name()))
		if err != nil || !bytes.HasPrefix(data, []byte(header+"\n")) {
			continue
		}
		for _, s := range parseSchemas(data) {
			o.byFn[s.fn] = s
			o.byWrapper[s.wrapper] = s
			o.byNamespace[s.keySpace()] = s
		}
	}
	return o
}

// find returns the old schema of the wrapper whose new schema is s: the
// one of the same function, else of the same wrapper (a function renamed
// under //idem:name), else of the same namespace and version (a function
// renamed under a pinned //idem:namespace).
func (o *oldSchemas) find(s *schema) *schema {
	if old := o.byFn[s.fn]; old != nil {
		return old
	}
	if old := o.byWrapper[s.wrapper]; old != nil {
		return old
	}
	return o.byNamespace[s.keySpace()]
}

// keySpace identifies the keys of a schema: its namespace and version.
func (s *schema) keySpace() string { return s.namespace + "\x00" + strconv.Itoa(s.version) }

// checkSchemas compares the schema of every wrapper with the one its
// generated file carries. A change that alters existing keys or
// fingerprints, or makes recorded results undecodable, is an error at the
// directive or function at fault, unless //idem:version changed too or
// breaking changes are allowed: then it is a warning. Additive changes pass
// silently.
func (pg *pkgGen) checkSchemas(all []*wrapper) {
	old := pg.readOldSchemas()
	for _, w := range all {
		if !w.ok || w.fn == nil {
			continue
		}
		w.schema = pg.schemaOf(w)
		if o := old.find(w.schema); o != nil {
			pg.compareSchema(w, o)
		}
	}
}

// compareSchema reports the breaking changes from old to w's schema.
func (pg *pkgGen) compareSchema(w *wrapper, old *schema) {
	cur := w.schema
	fn := w.fn.Name()
	funcPos := w.decl.Name.Pos()
	type change struct {
		pos token.Pos
		msg string
	}
	var changes []change
	add := func(pos token.Pos, format string, args ...any) {
		changes = append(changes, change{pos, fmt.Sprintf(format, args...)})
	}
	const notFound = "calls in flight, and calls recorded within the ttl, are not found and run again"
	const rerun = notFound + ", passing new keys downstream"

	if old.namespace != cur.namespace {
		pos, fix := funcPos, "pin the old namespace with //idem:namespace "+strconv.Quote(old.namespace)
		if w.dirs.Namespace != nil {
			pos, fix = w.dirs.Namespace.Pos, "keep //idem:namespace "+strconv.Quote(old.namespace)
		}
		add(pos, "the namespace of %s changes from %q to %q, so every key changes: %s; %s", fn, old.namespace, cur.namespace, rerun, fix)
	}
	if db := annotations.EffectDB.String(); old.effect != "" && (old.effect == db) != (cur.effect == db) {
		pos := funcPos
		if w.dirs.Effect != nil {
			pos = w.dirs.Effect.Pos
		}
		where := map[bool]string{true: "the idem_records table of the function's database", false: "the store"}
		add(pos, "the effect of %s changes from %s to %s, so its records move from %s to %s: %s; keep the effect", fn, old.effect, cur.effect, where[old.effect == db], where[cur.effect == db], notFound)
	}
	if comp := annotations.EffectComposite.String(); old.effect != "" && (old.effect == comp) != (cur.effect == comp) {
		pos := funcPos
		if w.dirs.Effect != nil {
			pos = w.dirs.Effect.Pos
		}
		add(pos, "the effect of %s changes from %s to %s, so the key sent downstream changes (a composite's steps send keys of their own, a single effect sends the operation's): a call in flight retried after the deploy passes a new key and its callee cannot deduplicate it; keep the effect", fn, old.effect, cur.effect)
	}
	keep := "keep it as it was until no call recorded before the change can be retried (ttl " + fmtDuration(w.ttl) + ")"
	if c, paths := partsChange(old, cur, old.key, cur.key); c != "" {
		fix := keep
		if paths {
			fix = "keep the key paths as they were"
		}
		add(w.dirs.Key.Pos, "the key of %s changes: %s, so keys change: %s; %s", fn, c, rerun, fix)
	}
	if c, paths := partsChange(old, cur, old.fp, cur.fp); c != "" {
		pos := funcPos
		if w.dirs.Fingerprint != nil {
			pos = w.dirs.Fingerprint.Pos
		}
		fix := keep
		if paths {
			pin := "-"
			if len(old.fp) > 0 {
				var names []string
				for _, p := range old.fp {
					names = append(names, p.name)
				}
				pin = strings.Join(names, ", ")
			}
			fix = "pin the old fingerprint with //idem:fingerprint " + pin
		}
		add(pos, "the fingerprint of %s changes: %s, so a call whose key was recorded before the change fails with ErrKeyReused instead of replaying; %s", fn, c, fix)
	}
	for _, op := range old.results {
		for _, np := range cur.results {
			if op.name != np.name {
				continue
			}
			oldShape, oerr := parseShape(op.shape)
			newShape, nerr := parseShape(np.shape)
			if oerr != nil || nerr != nil {
				continue
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(op.name, "R"))
			if c := resultChange("result "+strconv.Itoa(n+1), oldShape, newShape); c != "" {
				add(w.decl.Type.Results.Pos(), "%s: results recorded before the change cannot be decoded, so calls that would replay them fail (%s does not run again) until their records expire (ttl %s); keep the type, or return the new value in a field of a new name", c, fn, fmtDuration(w.ttl))
			}
		}
	}

	versionChanged := old.version != 0 && old.version != cur.version
	if versionChanged {
		pos := funcPos
		if w.dirs.Version != nil {
			pos = w.dirs.Version.Pos
		}
		pg.warnf(pos, "//idem:version of %s changes from %d to %d, so every key changes: %s", fn, old.version, cur.version, rerun)
	}
	for _, c := range changes {
		switch {
		case versionChanged:
			pg.warnf(c.pos, "%s (accepted because //idem:version changed too)", c.msg)
		case pg.allowBreaking:
			pg.warnf(c.pos, "%s (accepted by -allow-breaking)", c.msg)
		default:
			pg.errorf(c.pos, "%s; if no call of %s is in flight and no record of it is kept, accept the change with idemgen -allow-breaking", c.msg, fn)
		}
	}
}

// partsChange describes how a list of key or fingerprint parts changes:
// paths added, removed or reordered (paths is then true), or a part whose
// values encode differently. It returns "" when every value encodes as
// before. Paths are compared with parameters by position: renaming a
// parameter changes nothing.
func partsChange(oldSchema, curSchema *schema, old, cur []schemaPart) (desc string, paths bool) {
	byPosition := len(oldSchema.params) > 0 && len(curSchema.params) > 0
	same := len(old) == len(cur)
	for i := 0; same && i < len(old); i++ {
		same = oldSchema.canonical(old[i].name, byPosition) == curSchema.canonical(cur[i].name, byPosition)
	}
	if !same {
		return "(" + partsString(old) + ") becomes (" + partsString(cur) + ")", true
	}
	for i := range old {
		oldShape, oerr := parseShape(old[i].shape)
		newShape, nerr := parseShape(cur[i].shape)
		if oerr != nil || nerr != nil {
			if old[i].shape != cur[i].shape {
				return old[i].name + " changes type from " + old[i].shape + " to " + cur[i].shape, false
			}
			continue
		}
		if c := keyChange(old[i].name, oldShape, newShape); c != "" {
			return c, false
		}
	}
	return "", false
}

func partsString(ps []schemaPart) string {
	if len(ps) == 0 {
		return "nothing"
	}
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.name + " " + p.shape)
	}
	return b.String()
}

func (pg *pkgGen) warnf(pos token.Pos, format string, args ...any) {
	pg.warns = append(pg.warns, Diagnostic{Pos: pg.fset.Position(pos), Message: fmt.Sprintf(format, args...)})
}
