package gen

// Rendering a generated file: its units, imports and header.

import (
	"bytes"
	"go/types"
	goruntime "runtime"
	"sort"
	"sync"

	"github.com/dave/jennifer/jen"
)

// render generates the files of the package, concurrently once the
// helpers are placed.
func (pg *pkgGen) render() {
	pg.placeHelpers()
	contents := make([][]byte, len(pg.files))
	errs := make([]error, len(pg.files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, goruntime.GOMAXPROCS(0))
	for i, fg := range pg.files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			fg.prepare()
			contents[i], errs[i] = fg.finish()
		}()
	}
	wg.Wait()
	for i, fg := range pg.files {
		if errs[i] != nil {
			pg.errorf(fg.wrappers[0].dirs.Key.Pos, "internal error generating %s: %v", pg.rel(fg.out), errs[i])
			continue
		}
		f := File{Path: fg.out, Source: fg.src, Content: contents[i]}
		for _, w := range fg.wrappers {
			f.Wrappers = append(f.Wrappers, w.wrapperQualifiedName())
		}
		pg.out = append(pg.out, f)
	}
}

// unit is one top-level piece of a generated file: a wrapper (with its
// spec variable) or a helper, with its code as first built.
type unit struct {
	w     *wrapper
	h     *helper
	d     *decorator
	used  map[string]bool // package-level and predeclared names it refers to
	code  []jen.Code
	names *names
}

// prepare builds every unit of the file with names chosen against nothing,
// learning which names the code refers to and which packages it imports.
// The file's helpers are placed already.
func (fg *fileGen) prepare() {
	fg.imports = map[string]string{}
	fg.used = map[string]bool{}
	build := func(u *unit) {
		var em *emitter
		if u.w != nil {
			wn, sc := u.w.names(nil)
			em = fg.newEmitter(sc)
			u.code = em.wrapperCode(u.w, wn)
		} else if u.d != nil {
			sc := newNames(fg.pg.taken)
			em = fg.newEmitter(sc)
			u.code = em.decoratorCode(u.d, sc)
		} else {
			sc := newNames(fg.pg.taken)
			e, v := sc.fresh("e"), sc.fresh("v")
			em = fg.newEmitter(sc)
			u.code = em.helperCode(u.h, e, v)
		}
		u.used, u.names = em.used, em.scope
		for k, v := range em.imports {
			fg.imports[k] = v
		}
		for k := range em.used {
			fg.used[k] = true
		}
	}
	for _, d := range fg.decorators {
		u := &unit{d: d}
		fg.units = append(fg.units, u)
		build(u)
	}
	for _, w := range fg.wrappers {
		u := &unit{w: w}
		fg.units = append(fg.units, u)
		build(u)
	}
	for _, h := range fg.helpers {
		u := &unit{h: h}
		fg.units = append(fg.units, u)
		build(u)
	}
}

// finish chooses the import names, rebuilds the units whose names clash
// with them or with names the code refers to, and renders the file.
func (fg *fileGen) finish() ([]byte, error) {
	// Import names avoid package-level names, predeclared names, the names
	// the code refers to, and the declared names of every parameter,
	// result and type parameter in the file.
	avoid := newNames(fg.pg.taken, fg.used)
	for _, w := range fg.wrappers {
		for _, p := range w.params {
			avoid.take(p.name)
		}
		for _, r := range w.results {
			avoid.take(r.Name())
		}
		if w.recv != nil {
			avoid.take(w.recv.Name())
		}
		for _, l := range []*types.TypeParamList{w.sig.TypeParams(), w.sig.RecvTypeParams()} {
			for i := 0; i < l.Len(); i++ {
				avoid.take(l.At(i).Obj().Name())
			}
		}
	}
	for _, name := range types.Universe.Names() {
		avoid.take(name)
	}
	paths := make([]string, 0, len(fg.imports))
	for p := range fg.imports {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { // the runtime first: it gets its preferred name
		if (paths[i] == runtimePath) != (paths[j] == runtimePath) {
			return paths[i] == runtimePath
		}
		return paths[i] < paths[j]
	})
	importNames := map[string]bool{}
	f := jen.NewFilePathName(fg.pg.tpkg.Path(), fg.pg.tpkg.Name())
	for _, p := range paths {
		want := fg.imports[p]
		if p == runtimePath {
			want = defaultRuntimeName
		}
		name := avoid.fresh(want)
		importNames[name] = true
		if p == runtimePath {
			fg.rtImport = name
		}
		if name == fg.imports[p] {
			f.ImportName(p, name)
		} else {
			f.ImportAlias(p, name)
		}
	}
	var anon []string
	for p := range fg.anon {
		if _, named := fg.imports[p]; !named {
			anon = append(anon, p)
		}
	}
	sort.Strings(anon)
	f.Anon(anon...)
	f.HeaderComment(header + "\n\n//go:build " + fg.buildConstraint())

	for i, u := range fg.units {
		if i > 0 {
			f.Line()
		}
		code := u.code
		// Doc links name the runtime's import: rebuild a wrapper whose
		// runtime import is not the one its doc was written with.
		if !u.names.valid(u.used, importNames) || u.w != nil && fg.rtImport != defaultRuntimeName {
			reserved := merge(u.used, importNames)
			if u.w != nil {
				wn, sc := u.w.names(reserved)
				code = fg.newEmitter(sc).wrapperCode(u.w, wn)
			} else if u.d != nil {
				sc := newNames(reserved, fg.pg.taken)
				code = fg.newEmitter(sc).decoratorCode(u.d, sc)
			} else {
				sc := newNames(reserved, fg.pg.taken)
				e, v := sc.fresh("e"), sc.fresh("v")
				code = fg.newEmitter(sc).helperCode(u.h, e, v)
			}
		}
		for _, c := range code {
			f.Add(c)
		}
	}
	f.NoFormat = true
	var raw bytes.Buffer
	if err := f.Render(&raw); err != nil {
		return nil, err
	}
	return formatWithSum(raw.Bytes(), fg.out)
}

func merge(ms ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			out[k] = true
		}
	}
	return out
}
