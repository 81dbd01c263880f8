// Command minimal uses the runtime with one store, memstore, as a program
// that needs no database would. deps_test.go checks what it links and what
// it registers: it prints the database/sql drivers registered, then the
// outcome of runtime.Open for each DSN among its arguments.
package main

import (
	"database/sql"
	"fmt"
	"os"

	"github.com/idem-go/idem/runtime"
	_ "github.com/idem-go/idem/runtime/memstore"
)

func main() {
	fmt.Printf("drivers: %q\n", sql.Drivers())
	for _, dsn := range os.Args[1:] {
		s, err := runtime.Open(dsn)
		if err != nil {
			fmt.Printf("%s: %v\n", dsn, err)
			continue
		}
		fmt.Printf("%s: ok\n", dsn)
		_ = s.Close()
	}
}
