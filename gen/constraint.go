package gen

import (
	"go/build/constraint"
	"path/filepath"
	"strings"
)

// buildConstraint returns the expression of the generated file's //go:build
// line: !idemgen, and the constraints of the source file (its //go:build
// line and its _GOOS/_GOARCH file name suffix), since the generated file's
// own name ends in _idem and so carries no file name constraint.
func (fg *fileGen) buildConstraint() string {
	var expr constraint.Expr = &constraint.NotExpr{X: &constraint.TagExpr{Tag: buildTag}}
	for _, g := range fg.syntax.Comments {
		if g.Pos() >= fg.syntax.Package {
			break
		}
		for _, c := range g.List {
			if !constraint.IsGoBuild(c.Text) {
				continue
			}
			if x, err := constraint.Parse(c.Text); err == nil {
				expr = &constraint.AndExpr{X: expr, Y: x}
			}
		}
	}
	for _, tag := range fileNameTags(filepath.Base(fg.src)) {
		expr = &constraint.AndExpr{X: expr, Y: &constraint.TagExpr{Tag: tag}}
	}
	return expr.String()
}

// fileNameTags returns the GOOS and GOARCH implied by a file name, as
// go/build reads them: name_GOOS_GOARCH.go, name_GOOS.go, name_GOARCH.go.
func fileNameTags(name string) []string {
	name, _, _ = strings.Cut(name, ".")
	i := strings.Index(name, "_")
	if i < 0 {
		return nil
	}
	l := strings.Split(name[i:], "_")
	if n := len(l); n > 0 && l[n-1] == "test" {
		l = l[:n-1]
	}
	n := len(l)
	if n >= 2 && knownOS[l[n-2]] && knownArch[l[n-1]] {
		return []string{l[n-2], l[n-1]}
	}
	if n >= 1 && (knownOS[l[n-1]] || knownArch[l[n-1]]) {
		return []string{l[n-1]}
	}
	return nil
}

// knownOS and knownArch are go/build's lists (internal/syslist), read-only.
var knownOS = map[string]bool{
	"aix": true, "android": true, "darwin": true, "dragonfly": true, "freebsd": true, "hurd": true,
	"illumos": true, "ios": true, "js": true, "linux": true, "nacl": true, "netbsd": true, "openbsd": true,
	"plan9": true, "solaris": true, "wasip1": true, "windows": true, "zos": true,
}

var knownArch = map[string]bool{
	"386": true, "amd64": true, "amd64p32": true, "arm": true, "armbe": true, "arm64": true, "arm64be": true,
	"loong64": true, "mips": true, "mipsle": true, "mips64": true, "mips64le": true, "mips64p32": true,
	"mips64p32le": true, "ppc": true, "ppc64": true, "ppc64le": true, "riscv": true, "riscv64": true,
	"s390": true, "s390x": true, "sparc": true, "sparc64": true, "wasm": true,
}
