package pgstore

import "strings"

// queries holds the statements of one table, built once by New.
type queries struct {
	migrate                                    string
	claim, complete, release, mark, renew, get string
	delete, sweep                              string
}

// columns is the order in which every statement returns a record.
const columns = `key, namespace, fingerprint, state, owner, token, lease_until, retain_until, result, attempts, created_at, updated_at`

// claimSQL is the claim, in one statement (one round trip):
//
//   - req holds the typed parameters.
//   - cur is the key's row as of the statement's snapshot; settled is that
//     row when it answers the claim unchanged: retained, and completed,
//     indeterminate, or in progress under another owner whose lease is
//     live or whose record has another fingerprint than a takeover request
//     (a takeover never hides a key reused with other arguments). This is
//     the replay path, a read that writes nothing.
//   - Otherwise ins inserts a fresh in-progress row. When the key has a row
//     (ON CONFLICT) the update's WHERE re-checks, against the latest
//     committed version of the row and under its row lock, that the row
//     still needs a write: expired (replaced by a fresh grant), in progress
//     under the claimer (a lost-ack regrant: same token, lease extended), or
//     in progress under another owner whose lease has passed (taken over
//     with a new token when $8 is true and the fingerprints are equal, or
//     marked indeterminate when $8 is false).
//   - tok draws the new token. nextval is volatile, so the CTE is
//     materialized: the final SELECT compares against the very value the
//     insert proposed, which tells a fresh token (new grant or takeover)
//     from a kept one (regrant).
//
// When the snapshot said "write" but the latest version says "no write" (a
// concurrent claim won the race), the statement returns no row and Claim
// runs it again: the new snapshot then sees the winner's row as settled.
const claimSQL = `WITH req AS (
    SELECT $1::bytea AS key, $2::text AS namespace, $3::bytea AS fingerprint, $4::bytea AS owner,
           $5::bigint AS now, $6::bigint AS lease_until, $7::bigint AS retain_until,
           $8::boolean AS takeover
),
cur AS (
    SELECT r.* FROM {{table}} r, req WHERE r.key = req.key
),
settled AS (
    SELECT cur.* FROM cur, req
    WHERE cur.retain_until > req.now
      AND (cur.state <> 1 OR (cur.owner <> req.owner AND (cur.lease_until > req.now
           OR (req.takeover AND cur.fingerprint <> req.fingerprint))))
),
tok AS (
    SELECT nextval('{{seq}}') AS v
),
ins AS (
    INSERT INTO {{table}} AS t (` + columns + `)
    SELECT req.key, req.namespace, req.fingerprint, 1, req.owner, (SELECT v FROM tok),
           req.lease_until, req.retain_until, NULL, 1, req.now, req.now
    FROM req
    WHERE NOT EXISTS (SELECT 1 FROM settled)
    ON CONFLICT (key) DO UPDATE SET
        namespace = CASE WHEN {{exp}} THEN EXCLUDED.namespace WHEN {{same}} THEN t.namespace
                         WHEN {{takeover}} THEN EXCLUDED.namespace ELSE t.namespace END,
        fingerprint = CASE WHEN {{exp}} THEN EXCLUDED.fingerprint WHEN {{same}} THEN t.fingerprint
                           WHEN {{takeover}} THEN EXCLUDED.fingerprint ELSE t.fingerprint END,
        state = CASE WHEN {{exp}} OR {{same}} OR {{takeover}} THEN 1 ELSE 3 END,
        owner = CASE WHEN {{exp}} OR {{same}} OR {{takeover}} THEN EXCLUDED.owner ELSE t.owner END,
        token = CASE WHEN {{exp}} THEN EXCLUDED.token WHEN {{same}} THEN t.token
                     WHEN {{takeover}} THEN EXCLUDED.token ELSE t.token END,
        lease_until = CASE WHEN {{exp}} THEN EXCLUDED.lease_until
                           WHEN {{same}} THEN GREATEST(t.lease_until, EXCLUDED.lease_until)
                           WHEN {{takeover}} THEN EXCLUDED.lease_until ELSE t.lease_until END,
        retain_until = CASE WHEN {{exp}} THEN EXCLUDED.retain_until WHEN {{same}} THEN t.retain_until
                            WHEN {{takeover}} THEN EXCLUDED.retain_until ELSE t.retain_until END,
        result = CASE WHEN {{exp}} THEN NULL WHEN {{same}} THEN t.result
                      WHEN {{takeover}} THEN NULL ELSE t.result END,
        attempts = CASE WHEN {{exp}} THEN 1 WHEN {{same}} THEN t.attempts
                        WHEN {{takeover}} THEN t.attempts + 1 ELSE t.attempts END,
        created_at = CASE WHEN {{exp}} THEN EXCLUDED.created_at ELSE t.created_at END,
        updated_at = CASE WHEN {{exp}} THEN EXCLUDED.updated_at
                          WHEN {{same}} THEN CASE WHEN EXCLUDED.lease_until > t.lease_until
                                                  THEN EXCLUDED.updated_at ELSE t.updated_at END
                          ELSE EXCLUDED.updated_at END
    WHERE t.retain_until <= EXCLUDED.created_at
       OR (t.state = 1 AND (t.owner = EXCLUDED.owner OR (t.lease_until <= EXCLUDED.created_at
           AND (NOT $8::boolean OR t.fingerprint = EXCLUDED.fingerprint))))
    RETURNING ` + returning + `
)
SELECT ` + columns + `, token = (SELECT v FROM tok) AS fresh, true AS changed FROM ins
UNION ALL
SELECT ` + columns + `, false, false FROM settled`

// returning qualifies the columns for the RETURNING list of ins.
const returning = `t.key, t.namespace, t.fingerprint, t.state, t.owner, t.token, t.lease_until, t.retain_until, t.result, t.attempts, t.created_at, t.updated_at`

// Conditions of the ON CONFLICT update, evaluated on the existing row t in
// this order (a CASE takes the first that holds): exp, the row is expired;
// same, it is in progress under the claimer (the WHERE admits no other
// unexpired row with the claimer as owner); takeover, the request allows a
// takeover of another owner's passed lease (the WHERE admits such a row only
// when its fingerprint is the request's). When none holds the row is marked
// indeterminate.
var claimConds = strings.NewReplacer(
	"{{exp}}", "t.retain_until <= EXCLUDED.created_at",
	"{{same}}", "t.owner = EXCLUDED.owner",
	"{{takeover}}", "$8::boolean",
)

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
	r := strings.NewReplacer("{{table}}", n.quoted(), "{{seq}}", n.sequence())
	return queries{
		migrate:  n.schemaSQL(),
		claim:    r.Replace(claimConds.Replace(claimSQL)),
		complete: r.Replace(completeSQL),
		release:  r.Replace(releaseSQL),
		mark:     r.Replace(markSQL),
		renew:    r.Replace(renewSQL),
		get:      r.Replace(getSQL),
		delete:   r.Replace(deleteSQL),
		sweep:    r.Replace(sweepSQL),
	}
}
