package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/idem-go/idem/runtime/store"
)

// schemes are the DSN schemes this package registers with store.Register:
// importing it is enough for runtime.Open and IDEM_STORE to accept
// postgres:// and postgresql:// URLs.
var schemes = []string{"postgres", "postgresql"}

func init() {
	for _, s := range schemes {
		store.Register(s, openDSN)
	}
}

// openDSN is Open bounded by ctx. It connects once before migrating, so
// that a server it cannot reach is reported as such (the dial's error),
// not as a migration failure with advice about DDL rights.
func openDSN(ctx context.Context, dsn string) (store.Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	s, err := New(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}
