package annotations

import (
	"go/token"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// group builds a comment group from lines, each line starting 100 bytes
// after the previous one (as if separated by other text).
func group(lines ...string) []Comment {
	var cs []Comment
	for i, l := range lines {
		cs = append(cs, Comment{Text: l, Pos: token.Pos(1000 + 100*i)})
	}
	return cs
}

// diag renders a diagnostic as "line:col: message" with 0-based line index
// and 1-based column, relative to group().
func diag(d Diagnostic) string {
	off := int(d.Pos) - 1000
	return strconv.Itoa(off/100) + ":" + strconv.Itoa(off%100+1) + ": " + d.Message
}

func parse(t *testing.T, lines ...string) (*Set, []string) {
	t.Helper()
	set, ds := Parse(group(lines...))
	var out []string
	for _, d := range ds {
		out = append(out, diag(d))
	}
	return set, out
}

func TestParseFull(t *testing.T) {
	set, ds := parse(t,
		"// InsertEvent stores an event.",
		"//",
		"//idem:key ev.ID, tenant",
		"//idem:fingerprint ev, tenant",
		"//idem:effect api",
		"//idem:retry attempts=5 delay=100ms max-delay=2s",
		"//idem:ttl 48h",
		"//idem:lease 1m",
		"//idem:name InsertOnce",
		`//idem:namespace "example.com/events insert"`,
		"//idem:version 3",
	)
	require.Empty(t, ds)
	require.NotNil(t, set)
	assert.Equal(t, token.Pos(1200), set.Pos)
	require.Len(t, set.Key.Paths, 2)
	assert.Equal(t, "ev.ID", set.Key.Paths[0].String())
	assert.Equal(t, "ev", set.Key.Paths[0].Param.Name)
	assert.Equal(t, token.Pos(1200+len("//idem:key ")), set.Key.Paths[0].Param.Pos)
	assert.Equal(t, token.Pos(1200+len("//idem:key ev.")), set.Key.Paths[0].Steps[0].Pos)
	assert.Equal(t, "tenant", set.Key.Paths[1].String())
	assert.Equal(t, token.Pos(1200+len("//idem:key ev.ID, ")), set.Key.Paths[1].Param.Pos)
	assert.False(t, set.Fingerprint.None)
	assert.Len(t, set.Fingerprint.Paths, 2)
	assert.Equal(t, EffectAPI, set.Effect.Effect)
	assert.Equal(t, 5, set.Retry.Attempts)
	assert.Equal(t, 100*time.Millisecond, set.Retry.Delay)
	assert.Equal(t, 2*time.Second, set.Retry.MaxDelay)
	assert.Equal(t, 48*time.Hour, set.TTL.Value)
	assert.Equal(t, time.Minute, set.Lease.Value)
	assert.Equal(t, "InsertOnce", set.Name.Ident.Name)
	assert.Equal(t, "example.com/events insert", set.Namespace.Value)
	assert.Equal(t, 3, set.Version.Value)
	assert.Len(t, set.Lines, 9)
}

func TestParseNoDirectives(t *testing.T) {
	set, ds := parse(t, "// Just a doc comment.", "// idem: a word after the colon is prose", "/*idem:key x*/", "// idem:", "//idem")
	assert.Nil(t, set)
	assert.Empty(t, ds)
}

// TestParseSpacedDirective: a directive with a space after // is not a
// directive for Go; it is reported with the fix, alone or beside others.
func TestParseSpacedDirective(t *testing.T) {
	set, ds := parse(t, "// Doc.", "// idem:key x")
	assert.Nil(t, set)
	assert.Equal(t, []string{`1:1: "// idem:key x" is not a directive because of the space after //, so it is ignored; write //idem:key x with no space (as for //go:generate)`}, ds)

	set, ds = parse(t, "//idem:key id", "//\t idem:ttl 1h")
	require.NotNil(t, set)
	assert.Nil(t, set.TTL)
	assert.Equal(t, []string{`1:1: "//\t idem:ttl 1h" is not a directive because of the space after //, so it is ignored; write //idem:ttl 1h with no space (as for //go:generate)`}, ds)
}

func TestNamespaceProblem(t *testing.T) {
	for _, ok := range []string{"billing.Charge", "example.com/app/billing.Service.Charge", "a b", "é", strings.Repeat("n", MaxNamespaceLen)} {
		assert.Empty(t, NamespaceProblem(ok), ok)
	}
	for bad, want := range map[string]string{
		"":                                     "must not be empty",
		" ":                                    "must not be empty",
		"a\x00b":                               "non-printable character U+0000 at byte 1",
		"a\tb":                                 "non-printable character U+0009",
		"a\u200bb":                             "non-printable character U+200B",
		"\xff":                                 "valid UTF-8",
		" lead":                                "white space",
		strings.Repeat("n", MaxNamespaceLen+1): "257 bytes long",
	} {
		assert.Contains(t, NamespaceProblem(bad), want, "%q", bad)
	}
	_, ds := parse(t, "//idem:key a", `//idem:namespace "a\x00b"`)
	assert.Equal(t, []string{`1:18: namespace "a\x00b" holds the non-printable character U+0000 at byte 1; namespaces are printable text (stores reject NUL and control characters)`}, ds)
}

func TestParseMinimal(t *testing.T) {
	set, ds := parse(t, "//idem:key id")
	require.Empty(t, ds)
	assert.Nil(t, set.Fingerprint)
	assert.Nil(t, set.Effect)
	assert.Nil(t, set.Retry)
	assert.Equal(t, "id", set.Key.Paths[0].String())
}

func TestParseFingerprintNone(t *testing.T) {
	set, ds := parse(t, "//idem:key id", "//idem:fingerprint -")
	require.Empty(t, ds)
	assert.True(t, set.Fingerprint.None)
}

func TestParseEffects(t *testing.T) {
	for word, want := range map[string]Effect{"none": EffectNone, "api": EffectAPI, "queue": EffectQueue} {
		set, ds := parse(t, "//idem:key id", "//idem:effect "+word)
		require.Empty(t, ds, word)
		assert.Equal(t, want, set.Effect.Effect)
		assert.Equal(t, word, want.String())
	}
	assert.Equal(t, "db", EffectDB.String())
}

func TestParseNamespaceBare(t *testing.T) {
	set, ds := parse(t, "//idem:key id", "//idem:namespace billing.Charge")
	require.Empty(t, ds)
	assert.Equal(t, "billing.Charge", set.Namespace.Value)
}

func TestParseRetryCommas(t *testing.T) {
	set, ds := parse(t, "//idem:key id", "//idem:retry attempts=3, delay=1s")
	require.Empty(t, ds)
	assert.Equal(t, 3, set.Retry.Attempts)
	assert.Equal(t, time.Second, set.Retry.Delay)
	assert.Zero(t, set.Retry.MaxDelay)
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"unknown", []string{"//idem:key id", "//idem:retries attempts=3"},
			[]string{"1:8: unknown directive //idem:retries; did you mean //idem:retry? (known: key, fingerprint, effect, retry, ttl, lease, name, namespace, version, wrap, classify)"}},
		{"unknown suggests key", []string{"//idem:keys id"},
			[]string{"0:8: unknown directive //idem:keys; did you mean //idem:key? (known: key, fingerprint, effect, retry, ttl, lease, name, namespace, version, wrap, classify)"}},
		{"empty name", []string{"//idem:key id", "//idem:"},
			[]string{"1:1: empty directive name after \"//idem:\"; known directives: key, fingerprint, effect, retry, ttl, lease, name, namespace, version, wrap, classify"}},
		{"repeated", []string{"//idem:key id", "//idem:ttl 1h", "//idem:ttl 2h"},
			[]string{"2:1: //idem:ttl repeated: a function takes one //idem:ttl line; remove this one"}},
		{"no key", []string{"//idem:effect api", "//idem:ttl 1h"},
			[]string{"0:1: //idem:effect without //idem:key: add //idem:key naming the parameters that identify one operation, or remove the idem directives"}},
		{"key empty", []string{"//idem:key"},
			[]string{"0:1: //idem:key needs at least one path: a parameter name, optionally followed by .Field selectors"}},
		{"key stray comma", []string{"//idem:key a,,b"},
			[]string{"0:14: empty path in //idem:key: remove the stray comma"}},
		{"key spaces", []string{"//idem:key a b"},
			[]string{"0:12: malformed path \"a b\": separate paths with commas, and write no spaces inside a path"}},
		{"key empty field", []string{"//idem:key ev..ID"},
			[]string{"0:15: malformed path \"ev..ID\": empty name between dots"}},
		{"key bad ident", []string{"//idem:key ev.1x"},
			[]string{"0:15: malformed path \"ev.1x\": \"1x\" is not a Go identifier"}},
		{"key underscore", []string{"//idem:key _"},
			[]string{"0:12: a path cannot start with _: give the parameter a name to use it"}},
		{"key repeated path", []string{"//idem:key a, a"},
			[]string{"0:15: path a repeated in //idem:key"}},
		{"fingerprint dash mixed", []string{"//idem:key a", "//idem:fingerprint a, -"},
			[]string{"1:23: //idem:fingerprint - means no fingerprint and stands alone; remove the other paths or the -"}},
		{"effect db", []string{"//idem:key a", "//idem:effect db"}, nil},
		{"effect unknown", []string{"//idem:key a", "//idem:effect http"},
			[]string{"1:15: unknown effect \"http\": use one of none, api, queue, db, composite"}},
		{"effect two", []string{"//idem:key a", "//idem:effect api queue"},
			[]string{"1:19: //idem:effect takes one argument (one of none, api, queue, db, composite); remove \"queue\""}},
		{"effect missing", []string{"//idem:key a", "//idem:effect"},
			[]string{"1:1: //idem:effect needs one of none, api, queue, db, composite"}},
		{"retry no attempts", []string{"//idem:key a", "//idem:retry delay=1s"},
			[]string{"1:1: //idem:retry needs attempts=N"}},
		{"retry empty", []string{"//idem:key a", "//idem:retry"},
			[]string{"1:1: //idem:retry needs attempts=N, optionally followed by delay=D and max-delay=D"}},
		{"retry bad attempts", []string{"//idem:key a", "//idem:retry attempts=x"},
			[]string{"1:23: malformed attempts \"x\": write a decimal integer of at least 1"}},
		{"retry zero attempts", []string{"//idem:key a", "//idem:retry attempts=0"},
			[]string{"1:23: attempts \"0\" must be at least 1"}},
		{"retry negative attempts", []string{"//idem:key a", "//idem:retry attempts=-2"},
			[]string{"1:23: malformed attempts \"-2\": write a decimal integer of at least 1"}},
		{"retry bad delay", []string{"//idem:key a", "//idem:retry attempts=2 delay=fast"},
			[]string{"1:31: malformed delay \"fast\": write a Go duration such as 30s, 5m or 24h"}},
		{"retry unknown option", []string{"//idem:key a", "//idem:retry attempts=2 maxdelay=1s"},
			[]string{"1:25: unknown retry option \"maxdelay\"; did you mean max-delay? (known: attempts, delay, max-delay)"}},
		{"retry no equals", []string{"//idem:key a", "//idem:retry 3"},
			[]string{"1:14: malformed retry option \"3\": write name=value, for example attempts=3"}},
		{"retry repeated option", []string{"//idem:key a", "//idem:retry attempts=2 attempts=3"},
			[]string{"1:25: retry option attempts repeated; remove one"}},
		{"retry max below delay", []string{"//idem:key a", "//idem:retry attempts=2 delay=2s max-delay=1s"},
			[]string{"1:44: max-delay 1s is less than delay 2s"}},
		{"ttl malformed", []string{"//idem:key a", "//idem:ttl 1day"},
			[]string{"1:12: malformed ttl \"1day\": write a Go duration such as 30s, 5m or 24h"}},
		{"lease zero", []string{"//idem:key a", "//idem:lease 0s"},
			[]string{"1:14: lease \"0s\" must be greater than zero"}},
		{"lease negative", []string{"//idem:key a", "//idem:lease -1s"},
			[]string{"1:14: lease \"-1s\" must be greater than zero"}},
		{"ttl missing", []string{"//idem:key a", "//idem:ttl"},
			[]string{"1:1: //idem:ttl needs a Go duration such as 30s or 24h"}},
		{"name bad", []string{"//idem:key a", "//idem:name 9lives"},
			[]string{"1:13: malformed wrapper name \"9lives\": write a Go identifier other than _"}},
		{"name keyword", []string{"//idem:key a", "//idem:name func"},
			[]string{"1:13: malformed wrapper name \"func\": write a Go identifier other than _"}},
		{"name blank", []string{"//idem:key a", "//idem:name _"},
			[]string{"1:13: malformed wrapper name \"_\": write a Go identifier other than _"}},
		{"namespace unterminated", []string{"//idem:key a", `//idem:namespace "abc`},
			[]string{"1:18: malformed namespace \"abc: write one quoted Go string"}},
		{"namespace empty quoted", []string{"//idem:key a", `//idem:namespace ""`},
			[]string{"1:18: namespace must not be empty: write a word such as example.com/billing.Charge"}},
		{"namespace spaces", []string{"//idem:key a", `//idem:namespace a b`},
			[]string{"1:20: //idem:namespace takes one argument (a namespace (quote it if it contains spaces)); remove \"b\""}},
		{"version zero", []string{"//idem:key a", "//idem:version 0"},
			[]string{"1:16: version \"0\" must be at least 1"}},
		{"version malformed", []string{"//idem:key a", "//idem:version v2"},
			[]string{"1:16: malformed version \"v2\": write a decimal integer of at least 1"}},
		{"invalid utf8", []string{"//idem:key a\xff"},
			[]string{"0:1: directive is not valid UTF-8"}},
		{"key method with argument", []string{"//idem:key req.Get(1)"},
			[]string{"0:19: malformed path \"req.Get(1)\": a method on a path takes no arguments: write Get()"}},
		{"key index not constant", []string{"//idem:key h[k]"},
			[]string{"0:13: malformed path \"h[k]\": a map entry is [constant]: a quoted Go string or a decimal integer, as in h[\"Webhook-Id\"]"}},
		{"key constant with selector", []string{`//idem:key "dlq".x`},
			[]string{"0:17: malformed path \"\\\"dlq\\\".x\": a constant stands alone; separate paths with commas"}},
		{"key unknown option", []string{"//idem:key id if-empty=skip"},
			[]string{"0:24: unknown if-empty value \"skip\": write if-empty=run to run a call whose key parts are all empty without deduplication, or leave the option out"}},
		{"key option on fingerprint", []string{"//idem:key id", "//idem:fingerprint id if-empty=run"},
			[]string{"1:20: malformed path \"id if-empty=run\": separate paths with commas, and write no spaces inside a path"}},
		{"many at once", []string{"//idem:effect xyz", "//idem:ttl soon", "//idem:lease 0s", "//idem:frobnicate"},
			[]string{
				"0:15: unknown effect \"xyz\": use one of none, api, queue, db, composite",
				"1:12: malformed ttl \"soon\": write a Go duration such as 30s, 5m or 24h",
				"2:14: lease \"0s\" must be greater than zero",
				"3:8: unknown directive //idem:frobnicate; did you mean //idem:name? (known: key, fingerprint, effect, retry, ttl, lease, name, namespace, version, wrap, classify)",
				"0:1: //idem:effect without //idem:key: add //idem:key naming the parameters that identify one operation, or remove the idem directives",
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, ds := parse(t, c.lines...)
			require.NotNil(t, set)
			assert.Equal(t, c.want, ds)
		})
	}
}

func TestParseRicherPaths(t *testing.T) {
	set, ds := parse(t,
		`//idem:key req.GetOrder().GetId(), h["Webhook-Id, x"], "dlq", s.tenant, m[-3], 42 if-empty=run`,
	)
	require.Empty(t, ds)
	require.True(t, set.Key.IfEmptyRun)
	var got []string
	for _, p := range set.Key.Paths {
		got = append(got, p.String())
	}
	assert.Equal(t, []string{`req.GetOrder().GetId()`, `h["Webhook-Id, x"]`, `"dlq"`, `s.tenant`, `m[-3]`, `42`}, got)
	p := set.Key.Paths[0]
	assert.Equal(t, []StepKind{StepCall, StepCall}, []StepKind{p.Steps[0].Kind, p.Steps[1].Kind})
	assert.Equal(t, "GetId", p.Steps[1].Name)
	idx := set.Key.Paths[1].Steps[0]
	assert.Equal(t, StepIndex, idx.Kind)
	assert.Equal(t, token.STRING, idx.Index.Kind)
	assert.Equal(t, token.Pos(1000+len(`//idem:key req.GetOrder().GetId(), h[`)), idx.Pos)
	c := set.Key.Paths[2]
	require.NotNil(t, c.Const)
	assert.Equal(t, "", c.Param.Name)
	assert.Equal(t, token.INT, set.Key.Paths[5].Const.Kind)

	set, ds = parse(t, "//idem:key id")
	require.Empty(t, ds)
	assert.False(t, set.Key.IfEmptyRun)
}

func TestMalformedKeyStillMarksFunction(t *testing.T) {
	set, ds := parse(t, "//idem:key")
	require.Len(t, ds, 1)
	require.NotNil(t, set.Key, "a malformed key still marks the function, so no second 'without key' error")
}

func TestEditDistance(t *testing.T) {
	assert.Equal(t, 0, editDistance("key", "key"))
	assert.Equal(t, 1, editDistance("keys", "key"))
	assert.Equal(t, 3, editDistance("", "abc"))
	assert.Equal(t, "fingerprint", closest("fingerprints"))
	assert.Equal(t, "ttl", closest("TTL"))
}

// FuzzParse asserts that Parse never panics and positions every diagnostic
// inside the comment that holds the mistake.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"//idem:key ev.ID, tenant",
		"//idem:",
		"//idem:retry attempts=3 delay=1s max-delay=2s",
		"//idem:retry attempts=3,,delay=",
		"//idem:key a,,",
		"//idem:key ,",
		"//idem:namespace \"\\",
		"//idem:namespace `a`",
		"//idem:version 99999999999999999999999",
		"//idem:fingerprint -",
		"//idem:fingerprint - -",
		"//idem:effect db",
		"//idem:ttl 1\xff",
		"//idem:\xffkey",
		"//idem:name é",
		"//idem:key a.b.c.d\t",
		"//idem:retry =",
	} {
		f.Add(s, "//idem:key x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		comments := []Comment{{Text: "//idem:" + a, Pos: 10}, {Text: b, Pos: token.Pos(20 + len(a))}}
		if !IsDirective(b) {
			comments[1].Text = "//idem:" + b
		}
		set, ds := Parse(comments)
		if set == nil {
			t.Fatal("directive lines yielded no set")
		}
		for _, d := range ds {
			inside := false
			for _, c := range comments {
				if d.Pos >= c.Pos && int(d.Pos) < int(c.Pos)+len(c.Text) {
					inside = true
				}
			}
			if !inside {
				t.Fatalf("diagnostic %q at %d lies outside the comments %+v", d.Message, d.Pos, comments)
			}
			if d.Message == "" {
				t.Fatal("empty diagnostic message")
			}
		}
	})
}

func TestParseWrap(t *testing.T) {
	set, ds := parse(t, "//idem:wrap (*db.Queries).InsertEvent", "//idem:key arg.ID")
	require.Empty(t, ds)
	w := set.Wrap
	require.NotNil(t, w)
	assert.Equal(t, []string{"db", "Queries", "InsertEvent"}, []string{w.Pkg, w.Type, w.Func})
	assert.True(t, w.Pointer)
	assert.Equal(t, "(*db.Queries).InsertEvent", w.Target)

	set, ds = parse(t, "//idem:wrap mail.Send", "//idem:key id")
	require.Empty(t, ds)
	assert.Equal(t, []string{"mail", "", "Send"}, []string{set.Wrap.Pkg, set.Wrap.Type, set.Wrap.Func})
	assert.False(t, set.Wrap.Pointer)

	for _, bad := range []string{"Send", "(*db.Queries.Insert", "(*db).Insert", "a.b.c"} {
		_, ds = parse(t, "//idem:wrap "+bad, "//idem:key id")
		require.Len(t, ds, 1, bad)
		assert.Contains(t, ds[0], "malformed //idem:wrap target", bad)
	}
}

func TestParseClassify(t *testing.T) {
	for arg, want := range map[string][3]string{
		"classifyPayments":  {"", "classifyPayments", ""},
		"idemgrpc.Classify": {"idemgrpc", "Classify", ""},
		"github.com/idem-go/idem/runtime/idemgrpc.Classify": {"", "Classify", "github.com/idem-go/idem/runtime/idemgrpc"},
		"gopkg.in/x/y.v3.Classify":                          {"", "Classify", "gopkg.in/x/y.v3"},
	} {
		set, diags := parse(t, "//idem:key id", "//idem:classify "+arg)
		require.Empty(t, diags, arg)
		require.NotNil(t, set.Classify, arg)
		require.Equal(t, want, [3]string{set.Classify.Pkg, set.Classify.Func, set.Classify.Path}, arg)
	}
	for _, bad := range []string{"", "a.b.c", "9x", "f g", "_", "example.com/x", "example.com/x._", "example.com/.F", "/F"} {
		_, diags := parse(t, "//idem:key id", "//idem:classify "+bad)
		require.NotEmpty(t, diags, bad)
	}
}
