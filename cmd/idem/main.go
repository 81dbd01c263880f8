// Command idem inspects and repairs the records of an idem store: list
// them, show one with its recorded result decoded, delete records so that
// a key left indeterminate can run again, sweep expired records, count
// records by namespace and state, and validate IDEM_RETRY before a deploy.
//
//	idem [-store DSN] list [-namespace NS] [-state in_progress|completed|indeterminate] [-limit N] [-cursor C] [-json]
//	idem [-store DSN] show [-json] KEY
//	idem [-store DSN] delete [-yes] [-force] KEY...
//	idem [-store DSN] sweep
//	idem [-store DSN] stats [-json]
//	idem check-env
//
// The store is the one -store names, else the one IDEM_STORE names (the
// DSN syntax of runtime.Open: sqlite:<path>, postgres://…, redis://…).
// Run it with `go tool idem` after `go get -tool
// github.com/idem-go/idem/cmd/idem`, or with `go run`.
//
// Exit status: 0 on success, 1 when the command failed, 2 for a usage
// mistake.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
