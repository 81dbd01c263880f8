package sqlitestore

import (
	"context"
	"fmt"
	"strings"

	"github.com/idem-go/idem/runtime/store"
)

// schemes are the DSN schemes this package registers with store.Register:
// importing it is enough for runtime.Open and IDEM_STORE to accept
// "sqlite:<path>" (also sqlite3: and file:, and sqlite://<path>), which
// Open opens.
var schemes = []string{"sqlite", "sqlite3", "file"}

func init() {
	for _, s := range schemes {
		store.Register(s, openDSN)
	}
}

// openDSN opens the file a sqlite: DSN names. Opening is local: it waits at
// most BusyTimeout for another process's lock.
func openDSN(ctx context.Context, dsn string) (store.Store, error) {
	_, rest, _ := strings.Cut(dsn, ":")
	path, opts, err := parseDSN(strings.TrimPrefix(rest, "//"))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: store DSN %q: %w", dsn, err)
	}
	if path == "" {
		return nil, fmt.Errorf("sqlitestore: store DSN %q names no file; use sqlite:<path>, e.g. sqlite:./idem.db", dsn)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return Open(path, opts...)
}
