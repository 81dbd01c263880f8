// Package external is a golden case of idemgen: wrappers declared with
// //idem:wrap for a function and a method of another package.
package external

import "github.com/idem-go/idem/testdata/gen/external/db"

// The sqlc query, run at most once per event id.
//
//idem:wrap (*db.Queries).InsertEvent
//idem:key arg.ID
var _ = (*db.Queries).InsertEvent

// The third-party sender, with a name of our choosing.
//
//idem:wrap db.Send
//idem:key id
//idem:effect api
//idem:name SendOnce
var _ = db.Send

// A sqlc query bound to a transaction, with the db effect: the wrapper
// takes a runtime.TxOps[*db.TxQueries] in place of the receiver.
//
//idem:wrap (*db.TxQueries).Save
//idem:key id
//idem:effect db
var _ = (*db.TxQueries).Save
