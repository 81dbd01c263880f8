package gen

// What a db-effect wrapper does differently: the handle it takes and the
// runtime function it calls.

import "github.com/dave/jennifer/jen"

// handleType is the database handle a db-effect wrapper takes.
func (em *emitter) handleType(w *wrapper) *jen.Statement {
	switch w.txKind {
	case txOps:
		return em.rt("TxOps").Types(em.typ(w.tx.typ))
	case txPgx:
		return jen.Op("*").Add(em.qual("github.com/jackc/pgx/v5/pgxpool", "pgxpool", "Pool"))
	}
	return jen.Op("*").Add(em.qual("database/sql", "sql", "DB"))
}

// doCall is the wrapper's call of the runtime: Do, or for the db effect
// the function that begins the transaction on the handle.
func (em *emitter) doCall(w *wrapper, wn *wnames, ctx, spec, key, fp jen.Code) *jen.Statement {
	switch w.txKind {
	case txSQL:
		return em.rt("DoSQL").Call(ctx, spec, jen.Id(wn.handle), key, fp, jen.Id(wn.run))
	case txPgx:
		return em.qual(idempgxPath, "idempgx", "DoPgx").Call(ctx, spec, jen.Id(wn.handle), key, fp, jen.Id(wn.run))
	case txOps:
		return em.rt("DoTx").Call(ctx, spec, key, fp, jen.Id(wn.handle), jen.Id(wn.run))
	}
	return em.rt("Do").Call(ctx, spec, key, fp, jen.Id(wn.run))
}

// idempgxPath is the import path of the package whose DoPgx runs db-effect
// wrappers of pgx transactions; only those wrappers import it, so the
// runtime links no driver.
const idempgxPath = "github.com/idem-go/idem/runtime/idempgx"
