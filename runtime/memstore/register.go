package memstore

import (
	"context"

	"github.com/idem-go/idem/runtime/store"
)

// schemes are the DSN schemes this package registers with store.Register:
// importing it is enough for runtime.Open and IDEM_STORE to accept
// "memory:" (a new, empty in-process store per Open).
var schemes = []string{"memory", "mem"}

func init() {
	for _, s := range schemes {
		store.Register(s, func(ctx context.Context, _ string) (store.Store, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return New(), nil
		})
	}
}
