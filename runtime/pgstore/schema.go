package pgstore

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
)

// DefaultTable is the table a store uses unless WithTable names another.
const DefaultTable = "idem_records"

// maxTableLen keeps the derived index and sequence names within PostgreSQL's
// 63-byte identifier limit, so that they are never truncated (two truncated
// names could collide and IF NOT EXISTS would then silently skip one).
const maxTableLen = 63 - len("_retain_until_idx")

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Schema is the SQL that creates the default table (idem_records), its
// retention index, its token sequence and its claim function. New runs the
// same statements (see Migrate); an operator whose application may not run
// DDL can run this by hand instead and open the store with WithoutMigrate.
// SchemaSQL returns the statements for another table name. Running it again
// is harmless: every statement is IF NOT EXISTS or OR REPLACE.
//
// Columns:
//
//   - key: the 32-byte store.Key; the primary key.
//   - namespace, fingerprint: of the grant, for operators and the runtime.
//   - state: 1 in progress, 2 completed, 3 indeterminate (store.State).
//   - owner (16 bytes), token: the fence of the current or last grant.
//     Tokens are drawn from the table's sequence, so a grant's token is
//     larger than every token granted before it for any key, even after
//     Release, Delete or Sweep removed the key's row.
//   - lease_until, retain_until, created_at, updated_at: the caller's
//     times, as nanoseconds since 1970-01-01 UTC (bigint, so the caller's
//     times round-trip and compare exactly; the zero time.Time is
//     stored as -9223372036854775808). For reading by hand:
//     to_timestamp(retain_until / 1e9).
//   - result: the encoded results of a completed record (NULL for none).
//   - attempts: how many times the key was granted (first claim and
//     takeovers).
//
// The function idem_records_claim (PL/pgSQL, named after the table) is the
// write half of a claim. The claim statement reads the key's row and calls
// it only when the claim must write, so that a claim answered by the
// existing record (the replay of a completed key) is a plain read that
// never sets up the machinery of an insert or update. It performs the one
// write the statement decided on (decision 1: insert a fresh grant; 2:
// replace an expired row; 3: extend the claimer's own lease; 4: take over
// another owner's passed lease; 5: mark it indeterminate), conditional on
// the row still being the version the statement read (cur_token,
// cur_lease_until), and returns the token of the written row, or NULL when
// a concurrent claim changed the row first (the store then runs the claim
// again). It is not meant to be called by hand. It runs with the caller's
// privileges (SECURITY INVOKER): the role that claims needs EXECUTE on it,
// which PostgreSQL grants to PUBLIC unless default privileges say
// otherwise, besides its rights on the table and sequence. A later version
// of this package that needs a different function will add one under
// another name rather than change this one, so that processes of both
// versions can share a table during a rolling upgrade.
//
// Dropping the table leaves the sequence and the function: to remove the
// store, run DROP TABLE idem_records; DROP SEQUENCE idem_records_token_seq;
// DROP FUNCTION idem_records_claim.
const Schema = schemaTable + schemaFunction

// schemaTable is the part of Schema that creates the table, index and
// sequence.
const schemaTable = `CREATE TABLE IF NOT EXISTS "idem_records" (
    key          bytea    NOT NULL PRIMARY KEY CHECK (octet_length(key) = 32),
    namespace    text     NOT NULL,
    fingerprint  bytea    NOT NULL,
    state        smallint NOT NULL CHECK (state IN (1, 2, 3)),
    owner        bytea    NOT NULL,
    token        bigint   NOT NULL,
    lease_until  bigint   NOT NULL,
    retain_until bigint   NOT NULL,
    result       bytea,
    attempts     integer  NOT NULL,
    created_at   bigint   NOT NULL,
    updated_at   bigint   NOT NULL
);
CREATE INDEX IF NOT EXISTS "idem_records_retain_until_idx" ON "idem_records" (retain_until);
CREATE SEQUENCE IF NOT EXISTS "idem_records_token_seq" AS bigint;
`

// schemaFunction is the part of Schema that creates the claim function.
// Its decision numbers are the constants of decision (see claimSQL).
const schemaFunction = `CREATE OR REPLACE FUNCTION "idem_records_claim"(
    decision integer, req_key bytea, req_namespace text, req_fingerprint bytea, req_owner bytea,
    req_now bigint, req_lease_until bigint, req_retain_until bigint,
    cur_token bigint, cur_lease_until bigint)
RETURNS bigint LANGUAGE plpgsql AS ` + "$claim$" + functionBody + "$claim$;\n"

// functionBody is the body of the claim function, kept apart so that
// Migrate can tell whether the installed function already has it.
const functionBody = `
DECLARE
    written bigint;
BEGIN
    CASE decision
    WHEN 1 THEN -- no row: insert a fresh grant
        INSERT INTO "idem_records" (key, namespace, fingerprint, state, owner, token,
            lease_until, retain_until, result, attempts, created_at, updated_at)
        VALUES (req_key, req_namespace, req_fingerprint, 1, req_owner, nextval('"idem_records_token_seq"'),
            req_lease_until, req_retain_until, NULL, 1, req_now, req_now)
        ON CONFLICT (key) DO NOTHING
        RETURNING token INTO written;
    WHEN 2 THEN -- the row has expired: replace it with a fresh grant
        UPDATE "idem_records" SET namespace = req_namespace, fingerprint = req_fingerprint, state = 1,
            owner = req_owner, token = nextval('"idem_records_token_seq"'),
            lease_until = req_lease_until, retain_until = req_retain_until, result = NULL,
            attempts = 1, created_at = req_now, updated_at = req_now
        WHERE key = req_key AND token = cur_token AND retain_until <= req_now
        RETURNING token INTO written;
    WHEN 3 THEN -- in progress under the claimer (its first answer was lost): extend the lease
        UPDATE "idem_records" SET lease_until = GREATEST(lease_until, req_lease_until),
            updated_at = CASE WHEN req_lease_until > lease_until THEN req_now ELSE updated_at END
        WHERE key = req_key AND token = cur_token AND state = 1 AND owner = req_owner
          AND lease_until = cur_lease_until
        RETURNING token INTO written;
    WHEN 4 THEN -- another owner's lease has passed: take it over with a new token
        UPDATE "idem_records" SET namespace = req_namespace, owner = req_owner,
            token = nextval('"idem_records_token_seq"'), lease_until = req_lease_until,
            retain_until = req_retain_until, result = NULL, attempts = attempts + 1, updated_at = req_now
        WHERE key = req_key AND token = cur_token AND state = 1 AND lease_until <= req_now
          AND fingerprint = req_fingerprint
        RETURNING token INTO written;
    WHEN 5 THEN -- another owner's lease has passed, no takeover: mark it indeterminate
        UPDATE "idem_records" SET state = 3, updated_at = req_now
        WHERE key = req_key AND token = cur_token AND state = 1 AND lease_until = cur_lease_until
        RETURNING token INTO written;
    END CASE;
    RETURN written;
END
`

// SchemaSQL returns Schema for table, which is a lowercase SQL identifier
// optionally qualified by a schema ("idem.records"). It fails for any other
// name.
func SchemaSQL(table string) (string, error) {
	n, err := parseTable(table)
	if err != nil {
		return "", err
	}
	return n.schemaSQL(), nil
}

// tableName is a validated, possibly schema-qualified table name and the
// names derived from it.
type tableName struct {
	schema, table string // schema is "" when unqualified
}

func parseTable(s string) (tableName, error) {
	var n tableName
	parts := strings.Split(s, ".")
	switch len(parts) {
	case 1:
		n.table = parts[0]
	case 2:
		n.schema, n.table = parts[0], parts[1]
		if !identRE.MatchString(n.schema) || len(n.schema) > 63 {
			return n, fmt.Errorf("pgstore: schema name %q is not a lowercase SQL identifier of at most 63 bytes (letters a-z, digits, _; not starting with a digit)", n.schema)
		}
	default:
		return n, fmt.Errorf("pgstore: table name %q: use \"table\" or \"schema.table\"", s)
	}
	if !identRE.MatchString(n.table) || len(n.table) > maxTableLen {
		return n, fmt.Errorf("pgstore: table name %q is not a lowercase SQL identifier of at most %d bytes (letters a-z, digits, _; not starting with a digit)", n.table, maxTableLen)
	}
	return n, nil
}

// qualify quotes name and prefixes it with the schema, if any. Names are
// validated identifiers, so quoting needs no escaping.
func (n tableName) qualify(name string) string {
	if n.schema == "" {
		return `"` + name + `"`
	}
	return `"` + n.schema + `"."` + name + `"`
}

func (n tableName) String() string {
	if n.schema == "" {
		return n.table
	}
	return n.schema + "." + n.table
}

func (n tableName) quoted() string   { return n.qualify(n.table) }
func (n tableName) sequence() string { return n.qualify(n.table + "_token_seq") }
func (n tableName) function() string { return n.qualify(n.table + "_claim") }

// functionSignature names the claim function with its argument types, as
// to_regprocedure reads it.
func (n tableName) functionSignature() string {
	return n.function() + "(integer, bytea, text, bytea, bytea, bigint, bigint, bigint, bigint, bigint)"
}

// rename replaces the default names in s (a part of Schema) with n's.
func (n tableName) rename(s string) string {
	return strings.NewReplacer(
		`"idem_records_retain_until_idx"`, `"`+n.table+`_retain_until_idx"`, // an index lives in its table's schema
		`"idem_records_token_seq"`, n.sequence(),
		`"idem_records_claim"`, n.function(),
		`"idem_records"`, n.quoted(),
	).Replace(s)
}

func (n tableName) schemaSQL() string { return n.rename(Schema) }

// lockID is the advisory lock key that serializes migrations of this table
// across processes.
func (n tableName) lockID() int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/idem-go/idem/runtime/pgstore:" + n.String()))
	return int64(h.Sum64())
}
