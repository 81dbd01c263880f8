package pgstore

import (
	"strings"

	"github.com/idem-go/idem/runtime/internal/sqldialect"
	"github.com/idem-go/idem/runtime/internal/sqlexpr"
)

// queries holds the statements of one table, built once by New.
type queries struct {
	// parts: the table has the fingerprint_parts column, and the
	// statements read and write it; without it (a table created before the
	// column, opened WithoutMigrate) they read NULL and take no parts.
	parts                                                  bool
	columns                                                string // the record's columns, as the statements read them
	migrate                                                string // the table, index and sequence
	addParts, hasParts                                     string // the fingerprint_parts column, on a table created before it
	claimNew, claim, write, complete, release, mark, renew string
	get, delete, sweep                                     string
}

// columns is the order in which Claim and Get return a record (the key is
// the caller's already).
const columns = `namespace, fingerprint, state, owner, token, lease_until, retain_until, result, attempts, created_at, updated_at, {{parts}}`

// The claim is decided in Go by store.Decide, the one statement of the
// protocol's rules; the SQL only reads and writes what Decide says. Three
// statements, each one round trip:
//
//   - claimNewSQL, tried first unless the key is known to have a row (the
//     store saw it settled), inserts the fresh grant the store computed
//     with Decide for "no record" ($2 to $10, the token drawn from the
//     table's sequence) and returns its token, or no row when the key is
//     taken: then claimSQL follows. A plain INSERT ... ON CONFLICT DO
//     NOTHING costs the server about a third less than claimSQL's CTEs,
//     which a first call (a key without a row: the common case of a claim
//     that is not a replay) otherwise paid; a claim of a row this process
//     has not seen settled pays one more round trip, and draws a token it
//     does not use (tokens need only grow).
//   - claimSQL reads the key's row and, only when there is none, inserts
//     the fresh grant the store computed with Decide for "no record" ($2 to
//     $10, the token drawn from the table's sequence). A replay (completed,
//     indeterminate, or live-held key) and a first claim are each this one
//     statement; a replay writes nothing (the INSERT's SELECT yields no
//     row).
//   - When the row exists and Decide says the claim writes (a lease passed,
//     an expired record, the same owner again with a later lease), writeSQL
//     writes Decide's record over the row, conditional on the row still
//     being the version claimSQL read (token, owner, state, lease_until,
//     retain_until: under one grant nothing else changes), drawing a new
//     token when Decide made a new grant. No row written means a concurrent
//     claim changed the row first: the claim starts over, and the next
//     statement (under READ COMMITTED a new snapshot) sees the change.
//     Under REPEATABLE READ and SERIALIZABLE the server reports that race
//     as a serialization failure instead.
//
// An insert that finds the key taken by a concurrent claim after the
// statement's snapshot inserts nothing and reads nothing: the claim starts
// over too.
const claimNewSQL = `INSERT INTO {{table}} (key, namespace, fingerprint, state, owner, token, lease_until, retain_until,
                       result, attempts, created_at, updated_at{{pcol}})
VALUES ($1::bytea, $2::text, $3::bytea, $4::smallint, $5::bytea, nextval('{{sequence}}'),
        $6::bigint, $7::bigint, NULL, $8::integer, $9::bigint, $10::bigint{{pval}})
ON CONFLICT (key) DO NOTHING
RETURNING token`

const claimSQL = `WITH cur AS (
    SELECT ` + columns + ` FROM {{table}} WHERE key = $1::bytea
), ins AS (
    INSERT INTO {{table}} (key, namespace, fingerprint, state, owner, token, lease_until, retain_until,
                           result, attempts, created_at, updated_at{{pcol}})
    SELECT $1::bytea, $2::text, $3::bytea, $4::smallint, $5::bytea, nextval('{{sequence}}'),
           $6::bigint, $7::bigint, NULL, $8::integer, $9::bigint, $10::bigint{{pval}}
    WHERE NOT EXISTS (SELECT FROM cur)
    ON CONFLICT (key) DO NOTHING
    RETURNING token
)
SELECT cur.namespace, cur.fingerprint, cur.state, cur.owner, cur.token, cur.lease_until, cur.retain_until,
       cur.result, cur.attempts, cur.created_at, cur.updated_at, cur.fingerprint_parts, ins.token
FROM (SELECT) AS req LEFT JOIN cur ON true LEFT JOIN ins ON true`

// writeSQL writes the record Decide returned ($2 to $11; $6 true draws a
// new token and clears the result, for a new grant or a takeover) over the
// row of key $1 if it is still the version $12 to $16 (token, owner,
// state, lease_until, retain_until), and returns the written token.
const writeSQL = `UPDATE {{table}} SET namespace = $2::text, fingerprint = $3::bytea, state = $4::smallint,
    owner = $5::bytea, token = CASE WHEN $6::boolean THEN nextval('{{sequence}}') ELSE token END,
    lease_until = $7::bigint, retain_until = $8::bigint, result = CASE WHEN $6::boolean THEN NULL ELSE result END,
    attempts = $9::integer, created_at = $10::bigint, updated_at = $11::bigint{{pset}}
WHERE key = $1::bytea AND token = $12::bigint AND owner = $13::bytea AND state = $14::smallint
  AND lease_until = $15::bigint AND retain_until = $16::bigint
RETURNING token`

const (
	completeSQL = `UPDATE {{table}} SET state = 2, result = $4, retain_until = $5
WHERE key = $1 AND owner = $2 AND token = $3 AND state = 1`
	releaseSQL = `DELETE FROM {{table}} WHERE key = $1 AND owner = $2 AND token = $3 AND state = 1`
	markSQL    = `UPDATE {{table}} SET state = 3, retain_until = $4
WHERE key = $1 AND owner = $2 AND token = $3 AND state = 1`
	getSQL    = `SELECT ` + columns + ` FROM {{table}} WHERE key = $1`
	deleteSQL = `DELETE FROM {{table}} WHERE key = $1`
	// sweepSQL deletes one batch of expired completed and indeterminate
	// rows (never an in-progress one). FOR UPDATE re-checks the conditions
	// against the latest version of each row, so a row that a concurrent
	// claim has just replaced with a fresh grant is kept; SKIP LOCKED
	// leaves rows being claimed right now to a later sweep.
	sweepSQL = `WITH due AS (
    SELECT key FROM {{table}} WHERE retain_until <= $1 AND state <> 1
    ORDER BY retain_until LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM {{table}} r USING due WHERE r.key = due.key AND r.retain_until <= $1 AND r.state <> 1`
)

// asyncCommit turns q, an UPDATE or DELETE of one key's row, into a
// statement that also sets synchronous_commit off for its own transaction
// (set_config with is_local true, in a CTE the statement joins, so that it
// runs), so that its commit does not wait for the WAL flush: still one
// statement, one round trip. The store runs Complete, Release and
// MarkIndeterminate so under store.DurableClaims (see the package doc).
func asyncCommit(q string) string {
	join := "FROM idem_async "
	if strings.HasPrefix(q, "DELETE") {
		join = "USING idem_async "
	}
	i := strings.Index(q, "WHERE key = $1")
	return "WITH idem_async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))\n" + q[:i] + join + q[i:]
}

// renewSQL sets the lease and shifts the retention with it
// (store.ShiftRetention).
var renewSQL = `UPDATE {{table}} SET lease_until = $4::bigint, retain_until = ` + sqlexpr.ShiftRetention("$4::bigint") + `
WHERE key = $1 AND owner = $2 AND token = $3 AND state = 1`

// buildQueries builds the statements of table n; parts says whether the
// table has the fingerprint_parts column.
func buildQueries(n tableName, parts bool) queries {
	r := strings.NewReplacer("{{table}}", n.quoted(), "{{sequence}}", n.sequence(),
		"{{parts}}", "fingerprint_parts", "{{pcol}}", ", fingerprint_parts", "{{pval}}", ", $11::bytea",
		// A new grant or a takeover ($6) writes its parts ($17); a lease
		// extension keeps the row's.
		"{{pset}}", ",\n    fingerprint_parts = CASE WHEN $6::boolean THEN $17::bytea ELSE fingerprint_parts END")
	if !parts {
		r = strings.NewReplacer("{{table}}", n.quoted(), "{{sequence}}", n.sequence(),
			"{{parts}}", "NULL::bytea AS fingerprint_parts", "{{pcol}}", "", "{{pval}}", "", "{{pset}}", "")
	}
	return queries{
		parts:    parts,
		columns:  r.Replace(columns),
		addParts: n.rename(sqldialect.PostgresAddParts),
		hasParts: sqldialect.PostgresHasParts,
		migrate:  n.rename(schemaTable),
		claimNew: r.Replace(claimNewSQL),
		claim:    r.Replace(claimSQL),
		write:    r.Replace(writeSQL),
		complete: r.Replace(completeSQL),
		release:  r.Replace(releaseSQL),
		mark:     r.Replace(markSQL),
		renew:    r.Replace(renewSQL),
		get:      r.Replace(getSQL),
		delete:   r.Replace(deleteSQL),
		sweep:    r.Replace(sweepSQL),
	}
}
