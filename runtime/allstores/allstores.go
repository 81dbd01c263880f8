// Package allstores registers every store of this module with
// runtime.Open and IDEM_STORE: memory:, sqlite:<path>, postgres://… and
// redis://…. Import it for its side effect when a program chooses its store
// by configuration:
//
//	import _ "github.com/idem-go/idem/runtime/allstores"
//
// It links SQLite (modernc.org/sqlite), pgx and go-redis. A program that
// uses one store imports that store's package instead (importing a store
// package is enough for Open to accept its schemes).
package allstores

import (
	_ "github.com/idem-go/idem/runtime/memstore"    // memory:
	_ "github.com/idem-go/idem/runtime/pgstore"     // postgres://…
	_ "github.com/idem-go/idem/runtime/redisstore"  // redis://…
	_ "github.com/idem-go/idem/runtime/sqlitestore" // sqlite:<path>
)
