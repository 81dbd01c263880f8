// Package shapes is a golden case of idemgen: every signature shape a
// wrapper must reproduce.
package shapes

import (
	"context"
	"sync"

	"github.com/idem-go/idem/runtime"
)

var (
	mu    sync.Mutex
	calls = map[string]int{}
	keys  = map[string]string{}
)

// called counts a run of the function name and records the key it saw.
func called(ctx context.Context, name string) {
	mu.Lock()
	defer mu.Unlock()
	calls[name]++
	if ctx != nil {
		k, _ := runtime.KeyFrom(ctx)
		keys[name] = k
	}
}

// count returns how often name ran.
func count(name string) int {
	mu.Lock()
	defer mu.Unlock()
	return calls[name]
}
