package bad

import (
	"context"
	"net/http"
	"strings"
)

// WrapOnFunc carries //idem:wrap on a function.
//
//idem:wrap strings.ToUpper
//idem:key id
func WrapOnFunc(ctx context.Context, id string) error { return nil }

// The directive and the value differ.
//
//idem:wrap strings.ToLower
//idem:key s
var _ = strings.ToUpper

// Not a blank variable.
//
//idem:wrap strings.ToUpper
//idem:key s
var upper = strings.ToUpper

// ToUpper returns no error.
//
//idem:wrap strings.Repeat
//idem:key s
var _ = strings.Repeat

// Store is an interface with mistakes on its methods.
type Store interface {
	// Put renames a decorator method.
	//
	//idem:key id
	//idem:name PutOnce
	Put(ctx context.Context, id string) error

	// Scan has key paths that do not fit their types.
	//
	//idem:key h[1], id.Len(), req.Missing(), m["a"]
	Scan(ctx context.Context, h map[string]string, id string, req *http.Request, m []string) error
}

// EmptyNever has only a constant key with if-empty=run.
//
//idem:key "x" if-empty=run
func EmptyNever(ctx context.Context) error { return nil }

// FuncKey cannot test a func for emptiness (and cannot key on it).
//
//idem:key m if-empty=run
func FuncKey(ctx context.Context, m [2]map[string]int) error { return nil }
