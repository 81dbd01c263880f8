package pgstore

import (
	"strconv"
	"strings"
)

// queries holds the statements of one table, built once by New.
type queries struct {
	migrate                                    string // the table, index and sequence
	function, functionBody, functionSignature  string // the claim function
	claim, complete, release, mark, renew, get string
	delete, sweep                              string
}

// columns is the order in which Claim and Get return a record (the key is
// the caller's already).
const columns = `namespace, fingerprint, state, owner, token, lease_until, retain_until, result, attempts, created_at, updated_at`

// decision is the write a claim needs, as the claim statement and the claim
// function (see Schema) number it; decide computes the same from the row
// the statement read.
type decision int

const (
	settled   decision = 0 // the record answers the claim unchanged: no write
	insertNew decision = 1 // no row: insert a fresh grant
	replace   decision = 2 // the row has expired: replace it with a fresh grant
	regrant   decision = 3 // in progress under the claimer: extend its lease
	takeOver  decision = 4 // another owner's lease has passed, takeover allowed
	markIndet decision = 5 // another owner's lease has passed, no takeover
)

// claimSQL is the claim, in one statement (one round trip). $1 to $8 are
// the request (key, namespace, fingerprint, owner, now, lease_until,
// retain_until, takeover; see claimArgs).
//
//   - r is the key's row as of the statement's snapshot, if any.
//   - When r answers the claim unchanged (settled: retained, and completed,
//     indeterminate, or in progress under another owner whose lease is live
//     or whose record has another fingerprint than a takeover request, which
//     must never hide a key reused with other arguments), the lateral
//     subquery w yields no row and the statement is a plain read: this is
//     the replay path, and it never sets up an insert or update.
//   - Otherwise w calls the claim function (see Schema) with the decision
//     and the version of r it rests on. The function writes only if the
//     row is still that version (under its row lock, or its unique-index
//     entry for a new key), and returns the written row's token, or NULL
//     when a concurrent claim changed the row after the snapshot.
//
// The statement returns r's columns with the written token in place of
// r's, then fresh (the token is newly drawn) and changed (the function
// wrote). Claim rebuilds the written record from r and the request; when
// the function returned NULL it runs the statement again, and the new
// snapshot (READ COMMITTED) sees the winner's row. Under REPEATABLE READ
// and SERIALIZABLE the server reports that race as a serialization failure
// instead.
//
// w is a subquery with a volatile function in its target list, which the
// planner never pulls up into the outer query (OFFSET 0 says so too), so
// the function runs at most once however often its result is referenced.
const claimSQL = `SELECT r.namespace, r.fingerprint, r.state, r.owner, COALESCE(w.token, r.token), r.lease_until,
       r.retain_until, r.result, r.attempts, r.created_at, r.updated_at,
       w.token IS DISTINCT FROM r.token AS fresh, w.token IS NOT NULL AS changed
FROM (SELECT) AS req
LEFT JOIN {{table}} r ON r.key = $1::bytea
LEFT JOIN LATERAL (
    SELECT {{function}}(
        CASE WHEN r.key IS NULL THEN {{insertNew}} WHEN r.retain_until <= $5::bigint THEN {{replace}}
             WHEN r.owner = $4::bytea THEN {{regrant}} WHEN $8::boolean THEN {{takeOver}} ELSE {{markIndet}} END,
        $1::bytea, $2::text, $3::bytea, $4::bytea, $5::bigint, $6::bigint, $7::bigint, r.token, r.lease_until) AS token
    WHERE NOT COALESCE(r.retain_until > $5::bigint AND (r.state <> 1 OR (r.owner <> $4::bytea
          AND (r.lease_until > $5::bigint OR ($8::boolean AND r.fingerprint <> $3::bytea)))), false)
    OFFSET 0
) w ON true`

const (
	completeSQL = `UPDATE {{table}} SET state = 2, result = $4, retain_until = $5
WHERE key = $1 AND owner = $2 AND token = $3 AND state = 1`
	releaseSQL = `DELETE FROM {{table}} WHERE key = $1 AND owner = $2 AND token = $3 AND state = 1`
	markSQL    = `UPDATE {{table}} SET state = 3, retain_until = $4
WHERE key = $1 AND owner = $2 AND token = $3 AND state = 1`
	renewSQL = `UPDATE {{table}} SET lease_until = $4
WHERE key = $1 AND owner = $2 AND token = $3 AND state = 1`
	getSQL    = `SELECT ` + columns + ` FROM {{table}} WHERE key = $1`
	deleteSQL = `DELETE FROM {{table}} WHERE key = $1`
	// sweepSQL deletes one batch of expired rows. FOR UPDATE re-checks
	// retain_until against the latest version of each row, so a row that a
	// concurrent claim has just replaced with a fresh retention is kept;
	// SKIP LOCKED leaves rows being claimed right now to a later sweep.
	sweepSQL = `WITH due AS (
    SELECT key FROM {{table}} WHERE retain_until <= $1
    ORDER BY retain_until LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM {{table}} r USING due WHERE r.key = due.key AND r.retain_until <= $1`
)

func buildQueries(n tableName) queries {
	r := strings.NewReplacer("{{table}}", n.quoted(), "{{function}}", n.function(),
		"{{insertNew}}", strconv.Itoa(int(insertNew)), "{{replace}}", strconv.Itoa(int(replace)),
		"{{regrant}}", strconv.Itoa(int(regrant)), "{{takeOver}}", strconv.Itoa(int(takeOver)),
		"{{markIndet}}", strconv.Itoa(int(markIndet)))
	return queries{
		migrate:           n.rename(schemaTable),
		function:          n.rename(schemaFunction),
		functionBody:      n.rename(functionBody),
		functionSignature: n.functionSignature(),
		claim:             r.Replace(claimSQL),
		complete:          r.Replace(completeSQL),
		release:           r.Replace(releaseSQL),
		mark:              r.Replace(markSQL),
		renew:             r.Replace(renewSQL),
		get:               r.Replace(getSQL),
		delete:            r.Replace(deleteSQL),
		sweep:             r.Replace(sweepSQL),
	}
}
