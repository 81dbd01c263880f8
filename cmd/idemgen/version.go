package main

import (
	"runtime/debug"
	"strings"
)

// modulePath is the module idemgen belongs to.
const modulePath = "github.com/idem-go/idem"

// version returns idemgen's version as recorded in the binary's build
// information: the idem module's version when idemgen was built as a
// dependency (go tool, go install …@version), else the main module's
// version, with the VCS revision for a development build; "(unknown)"
// without build information.
func version(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "(unknown)"
	}
	v := ""
	if bi.Main.Path == modulePath {
		v = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			v = d.Version
			if d.Replace != nil && d.Replace.Version != "" {
				v = d.Replace.Version
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "(devel)"
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", modified"
				}
			}
		}
		if rev != "" {
			v += " revision " + rev[:min(12, len(rev))] + modified
		}
	}
	if bi.GoVersion != "" {
		v += " " + strings.TrimSpace(bi.GoVersion)
	}
	return v
}
