package audit

import (
	"bufio"
	"fmt"
	"go/constant"
	"go/types"
	"io"
	"regexp"
	"strings"
)

// Categories of the built-in rules.
const (
	CategoryDB    = "db"
	CategoryAPI   = "api"
	CategoryQueue = "queue"
	CategoryEmail = "email"
	CategoryFile  = "file"
	CategoryKV    = "kv"
)

// Conditions a rule can put on a call's arguments.
const (
	// WhenSQLWrite: the first constant string argument is SQL that writes
	// (INSERT, UPDATE, DELETE, MERGE, UPSERT, REPLACE, or RETURNING
	// anywhere). Calls whose SQL is not constant are not side effects.
	WhenSQLWrite = "sql-write"
	// WhenWriteFlag: the second argument (os.OpenFile's flag) is not a
	// constant, or is a constant with a write, create, append or truncate
	// bit.
	WhenWriteFlag = "write-flag"
	// WhenUnsafeRequest: the first *net/http.Request argument was not built
	// in the same function by http.NewRequest or NewRequestWithContext
	// with a constant GET, HEAD or OPTIONS method.
	WhenUnsafeRequest = "unsafe-request"
)

// Rule makes the calls of one callee (or of a family of callees) side
// effects of a category.
type Rule struct {
	// Category names the kind of side effect: db, api, queue, email, file,
	// kv, or any word of the user's.
	Category string
	// Callee names the callee fully qualified, as errcheck's exclusion
	// lists do: "net/http.Post" for a function,
	// "(*database/sql.DB).ExecContext" for a method (the star is optional:
	// receivers match with or without it), "(github.com/jackc/pgx/v5.Tx).Exec"
	// for an interface method. A receiver type "*" matches every type of
	// the package ("(github.com/redis/go-redis/v9.*).Set"), and a name
	// ending in "*" matches every name with that prefix
	// ("(*github.com/rabbitmq/amqp091-go.Channel).Publish*").
	Callee string
	// When is a condition on the call's arguments (WhenSQLWrite,
	// WhenWriteFlag, WhenUnsafeRequest), or empty for every call.
	When string

	pkg, recv, name string // parsed Callee; recv "" for functions
}

// redisWrites are go-redis's write commands.
var redisWrites = []string{
	"Append", "Decr", "DecrBy", "Del", "Eval", "EvalSha", "EvalRO", "Expire", "ExpireAt", "GetDel", "GetEx", "GetSet",
	"HDel", "HIncrBy", "HIncrByFloat", "HMSet", "HSet", "HSetNX", "Incr", "IncrBy", "IncrByFloat",
	"LInsert", "LMove", "LPop", "LPush", "LPushX", "LRem", "LSet", "LTrim", "MSet", "MSetNX",
	"PExpire", "PExpireAt", "Persist", "Publish", "Rename", "RenameNX", "RPop", "RPopLPush", "RPush", "RPushX",
	"SAdd", "Set", "SetArgs", "SetEx", "SetNX", "SetRange", "SetXX", "SMove", "SPop", "SRem", "SPublish", "Unlink",
	"XAck", "XAdd", "XDel", "XTrim", "ZAdd", "ZAddArgs", "ZAddNX", "ZAddXX", "ZIncrBy", "ZPopMax", "ZPopMin", "ZRem",
	"ZRemRangeByRank", "ZRemRangeByScore",
}

// Builtin returns the built-in rules table.
func Builtin() []Rule {
	var rs []Rule
	add := func(cat, when string, callees ...string) {
		for _, c := range callees {
			rs = append(rs, mustRule(Rule{Category: cat, Callee: c, When: when}))
		}
	}
	// db: database/sql.
	for _, recv := range []string{"DB", "Tx", "Conn"} {
		add(CategoryDB, "", "(*database/sql."+recv+").Exec", "(*database/sql."+recv+").ExecContext")
		add(CategoryDB, WhenSQLWrite, "(*database/sql."+recv+").Query*")
	}
	add(CategoryDB, "", "(*database/sql.Stmt).Exec", "(*database/sql.Stmt).ExecContext")
	// db: pgx.
	for _, recv := range []string{"*github.com/jackc/pgx/v5.Conn", "github.com/jackc/pgx/v5.Tx", "*github.com/jackc/pgx/v5/pgxpool.Pool", "*github.com/jackc/pgx/v5/pgxpool.Tx", "*github.com/jackc/pgx/v5/pgxpool.Conn"} {
		add(CategoryDB, "", "("+recv+").Exec", "("+recv+").SendBatch", "("+recv+").CopyFrom")
		add(CategoryDB, WhenSQLWrite, "("+recv+").Query", "("+recv+").QueryRow")
	}
	// db: sqlx and gorm write methods.
	for _, recv := range []string{"DB", "Tx"} {
		add(CategoryDB, "", "(*github.com/jmoiron/sqlx."+recv+").MustExec", "(*github.com/jmoiron/sqlx."+recv+").MustExecContext",
			"(*github.com/jmoiron/sqlx."+recv+").NamedExec", "(*github.com/jmoiron/sqlx."+recv+").NamedExecContext")
	}
	for _, m := range []string{"Create", "CreateInBatches", "Save", "Update", "Updates", "UpdateColumn", "UpdateColumns", "Delete", "Exec", "FirstOrCreate"} {
		add(CategoryDB, "", "(*gorm.io/gorm.DB)."+m)
	}
	// api: net/http.
	add(CategoryAPI, WhenUnsafeRequest, "(*net/http.Client).Do")
	add(CategoryAPI, "", "(*net/http.Client).Post", "(*net/http.Client).PostForm", "net/http.Post", "net/http.PostForm")
	// queue.
	add(CategoryQueue, "",
		"(*github.com/segmentio/kafka-go.Writer).WriteMessages",
		"(github.com/IBM/sarama.SyncProducer).SendMessage", "(github.com/IBM/sarama.SyncProducer).SendMessages",
		"(github.com/IBM/sarama.AsyncProducer).Input",
		"(github.com/Shopify/sarama.SyncProducer).SendMessage", "(github.com/Shopify/sarama.SyncProducer).SendMessages",
		"(github.com/Shopify/sarama.AsyncProducer).Input",
		"(*github.com/nats-io/nats.go.Conn).Publish*", "(*github.com/nats-io/nats.go.EncodedConn).Publish",
		"(github.com/nats-io/nats.go.JetStream).Publish*", "(github.com/nats-io/nats.go.JetStreamContext).Publish*",
		"(github.com/nats-io/nats.go/jetstream.JetStream).Publish*", "(github.com/nats-io/nats.go/jetstream.Publisher).Publish*",
		"(*github.com/rabbitmq/amqp091-go.Channel).Publish*",
		"(*github.com/aws/aws-sdk-go-v2/service/sqs.Client).SendMessage*",
		"(*github.com/aws/aws-sdk-go-v2/service/sns.Client).Publish*",
		"(*cloud.google.com/go/pubsub.Topic).Publish", "(*cloud.google.com/go/pubsub/v2.Publisher).Publish",
	)
	// email.
	add(CategoryEmail, "", "net/smtp.SendMail", "(*net/smtp.Client).Data")
	// file.
	add(CategoryFile, "", "os.WriteFile", "os.Create", "os.Rename", "os.Remove", "os.RemoveAll", "os.Mkdir*")
	add(CategoryFile, WhenWriteFlag, "os.OpenFile")
	// kv: go-redis write commands, on clients, pipelines and interfaces.
	for _, m := range redisWrites {
		add(CategoryKV, "", "(github.com/redis/go-redis/v9.*)."+m)
	}
	return rs
}

func mustRule(r Rule) Rule {
	r, err := r.parsed()
	if err != nil {
		panic(err)
	}
	return r
}

var calleeRE = regexp.MustCompile(`^(?:\((\*?)([^()\s]+)\.([^./()\s]+)\)\.([A-Za-z_][A-Za-z0-9_]*\*?)|([^()\s]+)\.([A-Za-z_][A-Za-z0-9_]*\*?))$`)

// parsed checks r and fills in its parsed callee.
func (r Rule) parsed() (Rule, error) {
	if r.Category == "" || strings.ContainsAny(r.Category, " \t") {
		return r, fmt.Errorf("rule %q: the category must be one word", r.Callee)
	}
	switch r.When {
	case "", WhenSQLWrite, WhenWriteFlag, WhenUnsafeRequest:
	default:
		return r, fmt.Errorf("rule %s: unknown condition %q; known: %s, %s, %s", r.Callee, r.When, WhenSQLWrite, WhenWriteFlag, WhenUnsafeRequest)
	}
	m := calleeRE.FindStringSubmatch(r.Callee)
	if m == nil {
		return r, fmt.Errorf("rule %q: write the callee as path/to/pkg.Func or (*path/to/pkg.Type).Method", r.Callee)
	}
	if m[2] != "" {
		r.pkg, r.recv, r.name = m[2], m[3], m[4]
	} else {
		r.pkg, r.name = m[5], m[6]
	}
	return r, nil
}

// ParseRules reads rules in the text format: one rule a line,
//
//	category callee [when=condition]
//
// with blank lines and lines starting with # ignored. For example:
//
//	# our message bus
//	queue (*example.com/platform/bus.Client).Send
//	db    (*example.com/platform/store.Store).Query* when=sql-write
func ParseRules(r io.Reader, name string) ([]Rule, error) {
	var rs []Rule
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%s:%d: write a rule as: category callee [when=condition]", name, n)
		}
		rule := Rule{Category: f[0], Callee: f[1]}
		if len(f) == 3 {
			w, ok := strings.CutPrefix(f[2], "when=")
			if !ok {
				return nil, fmt.Errorf("%s:%d: the third field is when=condition, not %q", name, n, f[2])
			}
			rule.When = w
		}
		rule, err := rule.parsed()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		rs = append(rs, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rs, nil
}

// table indexes rules by package path.
type table map[string][]Rule

func newTable(rules []Rule) table {
	t := table{}
	for _, r := range rules {
		t[r.pkg] = append(t[r.pkg], r)
	}
	return t
}

// match returns the first rule naming fn.
func (t table) match(fn *types.Func) (Rule, bool) {
	if fn.Pkg() == nil {
		return Rule{}, false
	}
	rs := t[fn.Pkg().Path()]
	if len(rs) == 0 {
		return Rule{}, false
	}
	recv := ""
	if sig, ok := fn.Type().(*types.Signature); ok && sig.Recv() != nil {
		rt := types.Unalias(sig.Recv().Type())
		if p, ok := rt.(*types.Pointer); ok {
			rt = types.Unalias(p.Elem())
		}
		if n, ok := rt.(*types.Named); ok {
			recv = n.Obj().Name()
		} else {
			recv = "?" // a method of an unnamed interface: matches only "*"
		}
	}
	for _, r := range rs {
		if (r.recv == "") != (recv == "") || r.recv != "" && r.recv != "*" && r.recv != recv {
			continue
		}
		if p, ok := strings.CutSuffix(r.name, "*"); ok {
			if strings.HasPrefix(fn.Name(), p) {
				return r, true
			}
		} else if r.name == fn.Name() {
			return r, true
		}
	}
	return Rule{}, false
}

var (
	sqlWordRE  = regexp.MustCompile(`(?i)\b(insert|update|delete|merge|upsert|replace|returning)\b`)
	sqlFirstRE = regexp.MustCompile(`^[\s(]*([A-Za-z]+)`)
)

// IsSQLWrite reports whether a SQL statement writes: it starts with
// INSERT, UPDATE, DELETE, MERGE, UPSERT or REPLACE, or is a WITH query that
// holds one of them, or has RETURNING. Leading comments are skipped.
func IsSQLWrite(sql string) bool {
	sql = stripSQLComments(sql)
	m := sqlFirstRE.FindStringSubmatch(sql)
	if m == nil {
		return false
	}
	switch strings.ToLower(m[1]) {
	case "insert", "update", "delete", "merge", "upsert", "replace":
		return true
	case "with":
		return sqlWordRE.MatchString(sql)
	}
	for _, w := range sqlWordRE.FindAllString(sql, -1) {
		if strings.EqualFold(w, "returning") {
			return true
		}
	}
	return false
}

func stripSQLComments(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		default:
			return s
		}
	}
}

// isSafeMethod reports whether an HTTP method has no side effect.
func isSafeMethod(v constant.Value) bool {
	if v == nil || v.Kind() != constant.String {
		return false
	}
	switch strings.ToUpper(constant.StringVal(v)) {
	case "GET", "HEAD", "OPTIONS":
		return true
	}
	return false
}
