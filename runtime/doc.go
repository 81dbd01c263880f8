// Package runtime is what idemgen's generated wrappers call: it derives keys
// (Encoder), claims them in a store, runs the wrapped function at most once
// per key, records its results and replays them, and retries only where a
// retry cannot duplicate the effect (Do; DoSQL, and DoTx under
// runtime/idempgx.DoPgx, for the db effect, whose records commit in the
// function's own transaction). It links no store and no database driver.
//
// A program configures a store once (SetDefaultStore, WithStore, or the
// IDEM_STORE environment variable read by Open; a store package registers
// its DSN schemes when imported, as database/sql drivers do, and
// runtime/allstores imports them all) and may watch outcomes with
// an Observer and Stats. The semantics of a wrapped call are listed on Do
// and in the project's README; the store contract is package
// github.com/idem-go/idem/runtime/store.
package runtime
