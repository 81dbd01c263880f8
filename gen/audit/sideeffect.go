package audit

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/types/typeutil"
)

// SideEffect reports whether call, in the function declared by fd, makes a
// side effect by the built-in rules and extra ones, as the audit counts
// it, and returns its category. idemvet uses it to find side effects
// outside the steps of a composite operation.
func SideEffect(call *ast.CallExpr, info *types.Info, fd *ast.FuncDecl, extra ...Rule) (category string, ok bool) {
	callee, _ := typeutil.Callee(info, call).(*types.Func)
	if callee == nil {
		return "", false
	}
	r, ok := newTable(append(Builtin(), extra...)).match(callee.Origin())
	if !ok {
		return "", false
	}
	var reqs map[types.Object]bool
	if !(&auditor{}).applies(r, call, info, &node{decl: fd}, &reqs) {
		return "", false
	}
	return r.Category, true
}
