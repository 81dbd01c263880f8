package gen

// The identifiers of one wrapper's code.

import (
	"go/types"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// wnames are the identifiers of one wrapper's code.
type wnames struct {
	recv    string
	params  []string
	results []string // "" for unnamed results
	key     string
	fp      string
	res     string
	err     string
	run     string   // the closure that calls the original
	rs      []string // the closure's result variables
	// resultsType is the local struct type of several results.
	resultsType string
	// handle is the db effect's database handle, which takes the
	// transaction parameter's place in the wrapper.
	handle string
}

// names chooses a wrapper's identifiers: parameters, results and
// receiver keep their declared names unless reserved (a name the code
// refers to, an import, a type parameter); locals avoid all of these.
func (w *wrapper) names(reserved map[string]bool) (*wnames, *names) {
	sc := newNames(reserved)
	for _, l := range []*types.TypeParamList{w.sig.TypeParams(), w.sig.RecvTypeParams(), w.helperTypeParams()} {
		for i := 0; i < l.Len(); i++ {
			sc.take(l.At(i).Obj().Name())
		}
	}
	wn := &wnames{params: make([]string, len(w.params)), results: make([]string, len(w.results))}
	keep := func(name string) bool { return name != "" && name != "_" && !sc.isTaken(name) }
	// Keep declared names first, so that a fresh name never steals one.
	if w.recv != nil && w.deco == nil && keep(w.recv.Name()) {
		wn.recv = w.recv.Name()
		sc.keep(wn.recv)
	}
	for i, p := range w.params {
		if keep(p.name) {
			wn.params[i] = p.name
			sc.keep(p.name)
		}
	}
	for i, r := range w.results {
		if keep(r.Name()) {
			wn.results[i] = r.Name()
			sc.keep(r.Name())
		}
	}
	// Locals and renamed parameters also avoid every package-level name,
	// referred to or not.
	sc.reserve(w.file.pg.taken)
	if w.recv != nil && wn.recv == "" {
		wn.recv = sc.fresh(recvBase(w.recvType.Name()))
	}
	for i, p := range w.params {
		if wn.params[i] == "" {
			base := p.name
			if !p.named() {
				base = "p" + strconv.Itoa(i)
			}
			wn.params[i] = sc.fresh(base)
		}
	}
	for i, r := range w.results {
		switch {
		case wn.results[i] != "":
		case r.Name() == "_":
			wn.results[i] = "_"
		case r.Name() != "":
			wn.results[i] = sc.fresh(r.Name())
		}
	}
	switch w.txKind {
	case txSQL:
		wn.handle = sc.fresh("db")
	case txOps:
		wn.handle = sc.fresh("ops")
	case txPgx:
		wn.handle = sc.fresh("pool")
	}
	wn.key, wn.fp = sc.fresh("key"), sc.fresh("fp")
	wn.res, wn.err, wn.run = sc.fresh("res"), sc.fresh("err"), sc.fresh("run")
	for i := 0; i < len(w.results)-1; i++ {
		wn.rs = append(wn.rs, sc.fresh("r"+strconv.Itoa(i)))
	}
	if len(w.results) > 2 {
		wn.resultsType = sc.fresh("results")
	}
	return wn, sc
}

// recvBase is the receiver name for an unnamed receiver: the type name's
// first letter, lowercased.
func recvBase(typeName string) string {
	r, _ := utf8.DecodeRuneInString(typeName)
	if !unicode.IsLetter(r) {
		return "r"
	}
	return string(unicode.ToLower(r))
}
