// Command idemvet reports calls that bypass idem wrappers and //idem:
// directives that idemgen would reject.
//
// Run it standalone, after `go get -tool github.com/idem-go/idem/cmd/idemvet`:
//
//	go tool idemvet ./...
//	go tool idemvet -fix ./...   # rename bypassing calls to their wrappers
//
// or through go vet:
//
//	go vet -vettool=$(go tool -n idemvet) ./...
//
// See package github.com/idem-go/idem/gen/idemvet for what it reports.
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/idem-go/idem/gen/idemvet"
)

func main() { singlechecker.Main(idemvet.Analyzer) }
