package gen

// The encoding functions of recursive types: where they are placed and
// what they hold.

import (
	"fmt"
	"go/types"
	"sync"

	"github.com/dave/jennifer/jen"
)

// helper is the encoding function of a recursive named type.
type helper struct {
	named *types.Named
	name  string
	file  *fileGen // the generated file that declares it
}

// helperSet holds a package's helpers, one per type. They are all placed
// before any file is rendered (placeHelpers), so that files can then be
// rendered concurrently; mu guards the map all the same.
type helperSet struct {
	pg     *pkgGen
	mu     sync.Mutex
	byType map[string]*helper
}

// get returns the helper of n, placing a new one in fg.
func (hs *helperSet) get(n *types.Named, fg *fileGen) *helper {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	key := types.TypeString(n, nil)
	if h := hs.byType[key]; h != nil {
		return h
	}
	h := &helper{named: n, name: hs.pg.fresh("idemEncode" + n.Obj().Name()), file: fg}
	hs.byType[key] = h
	fg.helpers = append(fg.helpers, h)
	return h
}

// placeHelpers creates the helper of every recursive named type that the
// key and fingerprint parts of the package reach, each in the first file
// (in file and source order) whose code needs it.
func (pg *pkgGen) placeHelpers() {
	for _, fg := range pg.files {
		for _, w := range fg.wrappers {
			for _, p := range append(append([]*part(nil), w.key...), w.fp...) {
				pg.reachHelpers(p.typ, fg, false)
			}
		}
	}
}

// reachHelpers walks t as encode does and places the helpers it calls.
func (pg *pkgGen) reachHelpers(t types.Type, fg *fileGen, top bool) {
	t = types.Unalias(t)
	if _, ok := t.(*types.TypeParam); ok || isTime(t) || isDuration(t) || keyMarshal(t, pg.tpkg) != "" {
		return
	}
	if n, ok := t.(*types.Named); ok && !top && pg.isRecursive(n) {
		pg.helpers.mu.Lock()
		_, known := pg.helpers.byType[types.TypeString(n, nil)]
		pg.helpers.mu.Unlock()
		if !known {
			pg.helpers.get(n, fg)
			pg.reachHelpers(n, fg, true)
		}
		return
	}
	switch u := t.Underlying().(type) {
	case *types.Pointer:
		pg.reachHelpers(u.Elem(), fg, false)
	case *types.Slice:
		pg.reachHelpers(u.Elem(), fg, false)
	case *types.Array:
		pg.reachHelpers(u.Elem(), fg, false)
	case *types.Map:
		pg.reachHelpers(u.Key(), fg, false)
		pg.reachHelpers(u.Elem(), fg, false)
	case *types.Struct:
		if isTimeShaped(u) {
			return
		}
		for i := 0; i < u.NumFields(); i++ {
			if f := u.Field(i); f.Name() != "_" {
				pg.reachHelpers(f.Type(), fg, false)
			}
		}
	}
}

// helperCode renders the encoding function of a recursive type.
func (em *emitter) helperCode(h *helper, e, v string) []jen.Code {
	name := types.TypeString(h.named, em.pg.qualifier())
	return []jen.Code{
		jen.Comment(fmt.Sprintf("// %s writes v to e in the canonical key encoding. %s is recursive,", h.name, name)),
		jen.Comment("// so its encoding is a function that calls itself."),
		jen.Func().Id(h.name).Params(jen.Id(e).Op("*").Add(em.rt("Encoder")), jen.Id(v).Add(em.typ(h.named))).BlockFunc(func(g *jen.Group) {
			// A cyclic value stops once the Encoder records that it is too deep.
			g.If(jen.Id(e).Dot("Err").Call().Op("!=").Add(em.id("nil"))).Block(jen.Return())
			em.encode(g, encRef{name: e}, jen.Id(v), h.named, true)
		}),
	}
}
