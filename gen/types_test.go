package gen

import (
	"go/types"
	"reflect"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/packages"

	"github.com/idem-go/idem/gen/internal/resultcases"
	idemrt "github.com/idem-go/idem/runtime"
)

// TestResultCheckAgreesWithRuntime checks that the static check of result
// types accepts exactly the types runtime.CheckResultType accepts.
func TestResultCheckAgreesWithRuntime(t *testing.T) {
	pkgs, err := packages.Load(&packages.Config{Mode: loadMode}, "github.com/idem-go/idem/gen/internal/resultcases")
	require.NoError(t, err)
	require.Len(t, pkgs, 1)
	require.Empty(t, pkgs[0].Errors)
	scope := pkgs[0].Types.Scope()
	q := types.RelativeTo(pkgs[0].Types)

	names := make([]string, 0, len(resultcases.Cases))
	for name := range resultcases.Cases {
		names = append(names, name)
	}
	sort.Strings(names)
	accepted := 0
	for _, name := range names {
		obj := scope.Lookup(name)
		require.NotNil(t, obj, name)
		static := resultProblem(obj.Type(), q)
		dynamic := idemrt.CheckResultType(reflect.TypeOf(resultcases.Cases[name]).Elem())
		assert.Equal(t, dynamic == nil, static == "", "%s: static %q, runtime %v", name, static, dynamic)
		if static == "" {
			accepted++
		}
	}
	assert.Greater(t, accepted, 3)
	assert.Less(t, accepted, len(names)-3)
}

func TestKeyProblem(t *testing.T) {
	pkgs, err := packages.Load(&packages.Config{Mode: loadMode}, "github.com/idem-go/idem/gen/internal/resultcases")
	require.NoError(t, err)
	p := pkgs[0].Types
	q := types.RelativeTo(p)
	for name, want := range map[string]string{
		"Int":        "",
		"Exported":   "",
		"Unexported": "", // this package may read its own unexported fields
		"Time":       "",
		"FuncField":  "x.F has type func(), which is a func",
		"ChanField":  "x.C has type chan int, which is a chan",
		"IfaceField": "x.E has type error, which is an interface",
		"Any":        "x has type Any, which is an interface",
		"Unsafe":     "x.P has type unsafe.Pointer, which is an unsafe.Pointer",
		"Nested":     "",
	} {
		prob := keyProblem(p.Scope().Lookup(name).Type(), p)
		if want == "" {
			assert.Nil(t, prob, name)
			continue
		}
		require.NotNil(t, prob, name)
		assert.Equal(t, want, prob.describe("x", q), name)
	}
	// From another package, unexported fields cannot be read.
	other := types.NewPackage("example.com/other", "other")
	prob := keyProblem(p.Scope().Lookup("Unexported").Type(), other)
	require.NotNil(t, prob)
	assert.Equal(t, "x.b is an unexported field of resultcases.Unexported, which generated code in this package cannot read", prob.describe("x", func(p *types.Package) string { return p.Name() }))
}
