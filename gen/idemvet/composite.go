package idemvet

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/types/typeutil"

	"github.com/idem-go/idem/annotations"
	"github.com/idem-go/idem/gen"
	"github.com/idem-go/idem/gen/audit"
)

// stepFuncs are the functions whose function-literal arguments are steps,
// by package path.
var stepFuncs = map[string]map[string]bool{
	"github.com/idem-go/idem/runtime":         {"Step": true, "StepSQL": true, "StepTx": true},
	"github.com/idem-go/idem/runtime/idempgx": {"StepPgx": true},
}

// isStepCall reports whether call calls a step function.
func isStepCall(info *types.Info, call *ast.CallExpr) bool {
	fn, _ := typeutil.Callee(info, call).(*types.Func)
	if fn == nil || fn.Pkg() == nil {
		return false
	}
	return stepFuncs[fn.Pkg().Path()][fn.Name()]
}

// reportOutsideSteps reports the side effects of composite functions in f
// that are not inside a step.
func reportOutsideSteps(pass *analysis.Pass, f *ast.File) {
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		set, _ := gen.Directives(fd)
		if set == nil || set.Key == nil || set.Effect == nil || set.Effect.Effect != annotations.EffectComposite {
			continue
		}
		inStep := map[*ast.FuncLit]bool{}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return !inStep[n] // a step's body may make effects
			case *ast.CallExpr:
				if isStepCall(pass.TypesInfo, n) {
					for _, arg := range n.Args {
						if lit, ok := ast.Unparen(arg).(*ast.FuncLit); ok {
							inStep[lit] = true
						}
					}
					return true
				}
				if category, ok := audit.SideEffect(n, pass.TypesInfo, fd); ok {
					pass.Reportf(n.Pos(), "composite %s: this call makes a side effect (%s) outside a step; the code between steps runs again on every execution of the operation, so move the call into runtime.Step or runtime.StepSQL", fd.Name.Name, category)
				}
			}
			return true
		})
	}
}
