package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"

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
	dsn, opts, err := parseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	pool, err := newPool(ctx, dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// parseDSN removes the store's own parameter, durability=claims|all|crash,
// from a postgres:// URL (pgx would send it to the server as a setting)
// and returns the URL without it and the option it selects.
func parseDSN(dsn string) (string, []Option, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	vs, ok := q["durability"]
	if !ok {
		return dsn, nil, nil
	}
	if len(vs) != 1 {
		return "", nil, errors.New("durability is given more than once")
	}
	d, err := store.ParseDurability(vs[0])
	if err != nil {
		return "", nil, err
	}
	q.Del("durability")
	u.RawQuery = q.Encode()
	return u.String(), []Option{WithDurability(d)}, nil
}
