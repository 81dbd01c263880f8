package main

import (
	"context"

	"github.com/idem-go/idem/runtime"
	_ "github.com/idem-go/idem/runtime/allstores" // every DSN scheme
	"github.com/idem-go/idem/runtime/store"
)

// openStore opens the store a DSN names, bounded by ctx.
func openStore(ctx context.Context, dsn string) (store.Store, error) {
	return runtime.OpenContext(ctx, dsn)
}
