package gen

import (
	"errors"
	"go/token"
	"strconv"
	"strings"
)

// shape is a parsed type shape (see shapeOf).
type shape struct {
	kind   string // a basic type's name, time, duration, bytes, binary, typeparam, ptr, list, map, struct, ref, other
	name   string // ref: the type's name; other: the type
	elem   *shape // ptr, list, map
	key    *shape // map
	fields []shapeField
}

type shapeField struct {
	name  string
	shape *shape
}

// String renders the shape as shapeOf writes it.
func (s *shape) String() string {
	switch s.kind {
	case "ptr":
		return "*" + s.elem.String()
	case "list":
		return "[]" + s.elem.String()
	case "map":
		return "map[" + s.key.String() + "]" + s.elem.String()
	case "ref":
		return "@" + strconv.Quote(s.name)
	case "other":
		return strconv.Quote(s.name)
	case "struct":
		var b strings.Builder
		b.WriteString("struct{")
		for i, f := range s.fields {
			if i > 0 {
				b.WriteString("; ")
			}
			if token.IsIdentifier(f.name) {
				b.WriteString(f.name)
			} else {
				b.WriteString(strconv.Quote(f.name))
			}
			b.WriteString(" " + f.shape.String())
		}
		b.WriteString("}")
		return b.String()
	}
	return s.kind
}

func (s *shape) field(name string) *shape {
	for _, f := range s.fields {
		if f.name == name {
			return f.shape
		}
	}
	return nil
}

var errShape = errors.New("malformed type shape")

// parseShape parses what shapeOf writes.
func parseShape(s string) (*shape, error) {
	p := &shapeParser{s: s}
	sh, err := p.shape()
	if err == nil && p.i != len(s) {
		err = errShape
	}
	return sh, err
}

type shapeParser struct {
	s string
	i int
}

func (p *shapeParser) eat(prefix string) bool {
	if strings.HasPrefix(p.s[p.i:], prefix) {
		p.i += len(prefix)
		return true
	}
	return false
}

// quoted reads a Go quoted string.
func (p *shapeParser) quoted() (string, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", errShape
	}
	q, err := strconv.QuotedPrefix(p.s[p.i:])
	if err != nil {
		return "", errShape
	}
	p.i += len(q)
	return strconv.Unquote(q)
}

// word reads letters, digits and underscores.
func (p *shapeParser) word() string {
	j := p.i
	for j < len(p.s) {
		c := p.s[j]
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c < 0x80 {
			break
		}
		j++
	}
	w := p.s[p.i:j]
	p.i = j
	return w
}

func (p *shapeParser) shape() (*shape, error) {
	switch {
	case p.eat("*"):
		e, err := p.shape()
		return &shape{kind: "ptr", elem: e}, err
	case p.eat("[]"):
		e, err := p.shape()
		return &shape{kind: "list", elem: e}, err
	case p.eat("map["):
		k, err := p.shape()
		if err != nil || !p.eat("]") {
			return nil, errShape
		}
		e, err := p.shape()
		return &shape{kind: "map", key: k, elem: e}, err
	case p.eat("@"):
		n, err := p.quoted()
		return &shape{kind: "ref", name: n}, err
	case p.i < len(p.s) && p.s[p.i] == '"':
		n, err := p.quoted()
		return &shape{kind: "other", name: n}, err
	case p.eat("struct{"):
		s := &shape{kind: "struct"}
		for !p.eat("}") {
			if len(s.fields) > 0 && !p.eat("; ") {
				return nil, errShape
			}
			var name string
			if p.i < len(p.s) && p.s[p.i] == '"' {
				n, err := p.quoted()
				if err != nil {
					return nil, err
				}
				name = n
			} else {
				name = p.word()
			}
			if name == "" || !p.eat(" ") {
				return nil, errShape
			}
			f, err := p.shape()
			if err != nil {
				return nil, err
			}
			s.fields = append(s.fields, shapeField{name, f})
		}
		return s, nil
	}
	w := p.word()
	if w == "" {
		return nil, errShape
	}
	return &shape{kind: w}, nil
}

// keyChange describes how a value of shape old encodes differently as
// shape new in a key or a fingerprint, or returns "" when every value that
// old can hold encodes to the same bytes under new. Struct fields are
// encoded by name and left out when zero, so a field added is no change; a
// field removed (or renamed) changes the encoding of every value that set
// it. Everything else must stay exactly as it was: the encoding is typed.
func keyChange(at string, old, new *shape) string {
	if old.kind != new.kind || old.name != new.name {
		return at + " changes type from " + old.String() + " to " + new.String()
	}
	switch old.kind {
	case "ptr", "list":
		return keyChange(at+elemSuffix(old.kind), old.elem, new.elem)
	case "map":
		if c := keyChange(at+"[key]", old.key, new.key); c != "" {
			return c
		}
		return keyChange(at+"[value]", old.elem, new.elem)
	case "struct":
		for _, f := range old.fields {
			nf := new.field(f.name)
			if nf == nil {
				return at + "." + f.name + " (" + f.shape.String() + ") is removed or renamed"
			}
			if c := keyChange(at+"."+f.name, f.shape, nf); c != "" {
				return c
			}
		}
	}
	return ""
}

func elemSuffix(kind string) string {
	if kind == "list" {
		return "[]"
	}
	return ""
}

// resultClass is the kind of encoded value a result shape is recorded as;
// the result codec decodes a value of one class into any type of the same
// class.
func resultClass(s *shape) string {
	switch s.kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "duration":
		return "integer"
	case "float32", "float64":
		return "float"
	case "complex64", "complex128":
		return "complex"
	case "bytes", "binary":
		return "bytes"
	case "text":
		return "string"
	}
	return s.kind
}

// resultChange describes how a recorded value of shape old fails to decode
// as shape new, or returns "" when it decodes. Results are decoded by field
// name: fields added replay as zero, fields removed are ignored; a pointer
// decodes like its element; a field whose class of value (integer, float,
// string, bool, bytes, list, map, struct, time) changes cannot be decoded.
func resultChange(at string, old, new *shape) string {
	for old.kind == "ptr" {
		old = old.elem
	}
	for new.kind == "ptr" {
		new = new.elem
	}
	if old.kind == "typeparam" || new.kind == "typeparam" {
		return "" // checked for each instantiation by the runtime
	}
	if oc, nc := resultClass(old), resultClass(new); oc != nc || (oc == "ref" || oc == "other") && old.name != new.name {
		return at + " changes type from " + old.String() + " to " + new.String()
	}
	switch old.kind {
	case "list":
		return resultChange(at+"[]", old.elem, new.elem)
	case "map":
		if c := resultChange(at+"[key]", old.key, new.key); c != "" {
			return c
		}
		return resultChange(at+"[value]", old.elem, new.elem)
	case "struct":
		for _, f := range old.fields {
			if nf := new.field(f.name); nf != nil {
				if c := resultChange(at+"."+f.name, f.shape, nf); c != "" {
					return c
				}
			}
		}
	}
	return ""
}
