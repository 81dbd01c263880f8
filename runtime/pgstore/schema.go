package pgstore

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"

	"github.com/idem-go/idem/runtime/internal/sqldialect"
)

// DefaultTable is the table a store uses unless WithTable names another.
const DefaultTable = "idem_records"

// maxTableLen keeps the derived index and sequence names within PostgreSQL's
// 63-byte identifier limit, so that they are never truncated (two truncated
// names could collide and IF NOT EXISTS would then silently skip one).
const maxTableLen = 63 - len("_retain_until_idx")

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Schema is the SQL that creates the default table (idem_records), its
// retention index and its token sequence. New runs the same statements (see
// Migrate); an operator whose application may not run DDL can run this by
// hand instead and open the store with WithoutMigrate. SchemaSQL returns
// the statements for another table name. Running it again is harmless:
// every statement is IF NOT EXISTS.
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
//   - fingerprint_parts: store.Record.FingerprintParts of the grant, the
//     per-part digests that let ErrKeyReused name the arguments that
//     differ (NULL for none). New runs and Migrate add it to a table
//     created before it existed; by hand: ALTER TABLE idem_records ADD
//     COLUMN IF NOT EXISTS fingerprint_parts bytea. A store opened with
//     WithoutMigrate on a table without it works without the digests.
//
// Earlier development versions of this package also created a PL/pgSQL
// function idem_records_claim; it is no longer used (claims are decided by
// store.Decide in Go) and can be dropped: DROP FUNCTION IF EXISTS
// idem_records_claim.
//
// Dropping the table leaves the sequence: to remove the store, run DROP
// TABLE idem_records; DROP SEQUENCE idem_records_token_seq.
const Schema = schemaTable

// schemaTable creates the table, index and sequence.
const schemaTable = sqldialect.PostgresSchema

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

// rename replaces the default names in s (a part of Schema) with n's.
func (n tableName) rename(s string) string {
	return strings.NewReplacer(
		`"idem_records_retain_until_idx"`, `"`+n.table+`_retain_until_idx"`, // an index lives in its table's schema
		`"idem_records_token_seq"`, n.sequence(),
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
