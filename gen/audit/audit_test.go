package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/gen"
	"github.com/idem-go/idem/gen/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/audit")

const shopDir = "../../testdata/audit/shop"

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "%s differs; if the change is intended, run go test ./gen/audit -update", path)
}

func shopRules(t *testing.T) []audit.Rule {
	f, err := os.Open(filepath.Join(shopDir, "idem-rules.txt"))
	require.NoError(t, err)
	defer f.Close()
	rules, err := audit.ParseRules(f, "idem-rules.txt")
	require.NoError(t, err)
	return rules
}

func auditShop(t *testing.T, rules []audit.Rule) *audit.Report {
	t.Helper()
	dir, err := filepath.Abs(shopDir)
	require.NoError(t, err)
	rep, err := audit.Run(audit.Config{Dir: dir, Rules: rules})
	require.NoError(t, err)
	return rep
}

// find returns the function of the report named pkg.name, or nil.
func find(rep *audit.Report, pkg, name string) *audit.Function {
	for _, p := range rep.Packages {
		if p.Path != "example.com/shop/"+pkg {
			continue
		}
		for _, f := range p.Functions {
			if f.Name == name {
				return f
			}
		}
	}
	return nil
}

// TestShop audits the order pipeline under testdata/audit/shop: the golden
// table and JSON, and the facts they show, checked one by one.
func TestShop(t *testing.T) {
	rep := auditShop(t, shopRules(t))

	var text, js bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	require.NoError(t, rep.WriteJSON(&js))
	checkGolden(t, "../../testdata/audit/audit.golden", text.Bytes())
	checkGolden(t, "../../testdata/audit/audit.json.golden", js.Bytes())

	// The JSON round-trips into the documented types.
	var back audit.Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, *rep, back)
	require.Equal(t, audit.Schema, back.Schema)

	require.Equal(t, 20, rep.Sites)
	require.Equal(t, 3, rep.Covered)
	require.Equal(t, 15.0, rep.Percent)

	cats := map[string]int{}
	for _, p := range rep.Packages {
		for _, f := range p.Functions {
			for _, s := range f.Sites {
				cats[s.Category]++
				require.Equal(t, f.Covered, s.Covered)
			}
		}
	}
	require.Equal(t, map[string]int{"db": 6, "api": 4, "queue": 3, "email": 1, "file": 4, "kv": 2}, cats)

	// Reads are not side effects: SELECT, GET, O_RDONLY, GET in Redis.
	for _, fn := range [][2]string{{"orders", "(*Store).Lookup"}, {"payments", "Status"}, {"notify", "ReadLog"}, {"notify", "(*Cache).Status"}} {
		require.Nil(t, find(rep, fn[0], fn[1]), "%s.%s has no side effect", fn[0], fn[1])
	}

	// Marked and called through its wrapper only.
	po := find(rep, "queue", "PublishOrderPlaced")
	require.True(t, po.Marked && po.Covered)
	require.Equal(t, "PublishOrderPlacedIdem", po.Wrapper)
	require.Empty(t, po.Callers, "the generated wrapper is not listed as a caller")
	// Covered only through its marked caller.
	ps := find(rep, "queue", "PublishShipped")
	require.True(t, !ps.Marked && ps.Covered)
	require.Equal(t, []string{"example.com/shop/fulfil.Ship"}, ps.Callers)
	require.Nil(t, ps.Suggestion)
	// Marked, but bypassed by a direct call.
	sc := find(rep, "notify", "SendConfirmation")
	require.True(t, sc.Marked)
	require.False(t, sc.Covered)
	require.Equal(t, []string{"checkout/checkout.go:48:16"}, sc.Bypasses)
	// Called from a marked function and from uncovered code.
	wi := find(rep, "notify", "WriteInvoice")
	require.False(t, wi.Covered)
	require.True(t, wi.Composite)
	require.Equal(t, []string{"example.com/shop/cmd/shop.main", "example.com/shop/fulfil.Ship"}, wi.Callers)
	// Composite through callees, with the key candidate from a field.
	co := find(rep, "checkout", "Checkout")
	require.Empty(t, co.Sites)
	require.True(t, co.Composite)
	require.Equal(t, 8, co.Reaches)
	require.Equal(t, "composite", co.Suggestion.Effect)
	require.Equal(t, []string{"o.ID"}, co.Suggestion.Key)
	require.Equal(t, []string{"//idem:key o.ID", "//idem:effect composite"}, co.Suggestion.Directives)
	// Suggested effects by category and transaction parameter.
	require.Equal(t, "db", find(rep, "orders", "(*Store).Reserve").Suggestion.Effect)
	require.Equal(t, "none", find(rep, "orders", "(*Store).MarkPaid").Suggestion.Effect)
	require.Equal(t, "api", find(rep, "payments", "Refund").Suggestion.Effect)
	aq := find(rep, "queue", "AnnounceRefund").Suggestion
	require.Equal(t, "queue", aq.Effect)
	require.Equal(t, []string{"//idem:key ev.OrderID", "//idem:effect queue"}, aq.Directives)
	// main cannot be wrapped: no suggestion.
	require.Nil(t, find(rep, "cmd/shop", "main").Suggestion)
}

// TestShopRulesFile: the shop's own SMS client is a side effect only with
// its rules file.
func TestShopRulesFile(t *testing.T) {
	rep := auditShop(t, nil)
	require.Equal(t, 19, rep.Sites)
	require.Nil(t, find(rep, "notify", "TextCustomer"))
}

// TestShopSuggestionsAreValid: every suggested directive block whose key
// names parameters is accepted by idemgen's checks.
func TestShopSuggestionsAreValid(t *testing.T) {
	rep := auditShop(t, shopRules(t))
	n := 0
	for _, p := range rep.Packages {
		for _, f := range p.Functions {
			if f.Suggestion == nil || len(f.Suggestion.Key) == 0 {
				continue
			}
			n++
			for _, d := range f.Suggestion.Directives {
				require.True(t, strings.HasPrefix(d, "//idem:key ") || strings.HasPrefix(d, "//idem:effect "), d)
			}
		}
	}
	require.GreaterOrEqual(t, n, 6)
}

// TestShopGeneratedCodeIsUpToDate: the shop's wrappers are idemgen's
// output for its directives (go test ./gen/audit -update regenerates them).
func TestShopGeneratedCodeIsUpToDate(t *testing.T) {
	dir, err := filepath.Abs(shopDir)
	require.NoError(t, err)
	cfg := gen.Config{Dir: dir, Patterns: []string{"./..."}, Check: !*update}
	res, err := gen.Run(cfg)
	if errors.Is(err, gen.ErrDiagnostics) {
		t.Fatal(res.Diagnostics)
	}
	require.NoError(t, err)
	require.Len(t, res.Files, 5)
	if !*update {
		require.Empty(t, res.Changed())
	}
}
