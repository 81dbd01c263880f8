package runtime

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/idem-go/idem/runtime/memstore"
	"github.com/idem-go/idem/runtime/pgstore"
	"github.com/idem-go/idem/runtime/redisstore"
	"github.com/idem-go/idem/runtime/sqlitestore"
)

// EnvStore is the environment variable that names the store wrapped calls
// use when none is configured in code: memory:, sqlite:<path>,
// postgres://…, redis://….
const EnvStore = "IDEM_STORE"

var envStores struct {
	sync.Mutex
	dsn string
	s   Store
}

// envStore opens the store named by IDEM_STORE once per distinct value.
func envStore() (Store, error) {
	dsn := os.Getenv(EnvStore)
	if dsn == "" {
		return nil, ErrNoStore
	}
	envStores.Lock()
	defer envStores.Unlock()
	if envStores.s != nil && envStores.dsn == dsn {
		return envStores.s, nil
	}
	s, err := Open(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %s=%q: %w", ErrNoStore, EnvStore, dsn, err)
	}
	envStores.dsn, envStores.s = dsn, s
	return s, nil
}

// Open opens the store a DSN names:
//
//	memory:                 an in-process store (runtime/memstore); records die with the process
//	sqlite:<path>           an embedded SQLite file (runtime/sqlitestore), created if absent
//	postgres://… or postgresql://…  PostgreSQL (runtime/pgstore); the schema is created on first use
//	redis://… or rediss://…         Redis (runtime/redisstore)
//
// The caller closes the store it opened.
func Open(dsn string) (Store, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("idem: store DSN %q has no scheme; use memory:, sqlite:<path>, postgres://… or redis://…", dsn)
	}
	switch strings.ToLower(scheme) {
	case "memory", "mem":
		return memstore.New(), nil
	case "sqlite", "sqlite3", "file":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return nil, fmt.Errorf("idem: store DSN %q names no file; use sqlite:<path>, e.g. sqlite:./idem.db", dsn)
		}
		return sqlitestore.Open(path)
	case "postgres", "postgresql":
		return pgstore.Open(context.Background(), dsn)
	case "redis", "rediss":
		return redisstore.Open(dsn)
	}
	return nil, fmt.Errorf("idem: store DSN scheme %q is not understood; use memory:, sqlite:<path>, postgres://… or redis://…", scheme)
}
