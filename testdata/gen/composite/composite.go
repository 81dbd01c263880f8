// Package composite is a golden case of idemgen: a composite operation
// whose effects run in steps.
package composite

import (
	"context"
	"errors"
	"sync"

	"github.com/idem-go/idem/runtime"
)

// mu guards the counters the test driver reads.
var mu sync.Mutex

// Counters of the effects, by sink; charges counts distinct keys.
var (
	reserved int
	charges  = map[string]int{}
	notified int
	failOnce = map[string]bool{}
)

// Fulfil reserves stock, charges a payment and notifies, each once per
// order, resuming after a failure at the first step that did not complete.
//
//idem:key orderID
//idem:effect composite
//idem:retry attempts=3 delay=1ms
func Fulfil(ctx context.Context, orderID string, amount int) (string, error) {
	n, err := runtime.Step(ctx, "reserve", runtime.EffectNone, func(ctx context.Context) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		reserved++
		return reserved, nil
	})
	if err != nil {
		return "", err
	}
	receipt, err := runtime.Step(ctx, "charge", runtime.EffectAPI, func(ctx context.Context) (string, error) {
		key, _ := runtime.KeyFrom(ctx)
		mu.Lock()
		defer mu.Unlock()
		charges[key]++
		if !failOnce[orderID] {
			failOnce[orderID] = true
			return "", errors.New("gateway timeout after the charge")
		}
		return "receipt-" + key[:8], nil
	})
	if err != nil {
		return "", err
	}
	_, err = runtime.Step(ctx, "notify", runtime.EffectQueue, func(ctx context.Context) (struct{}, error) {
		mu.Lock()
		defer mu.Unlock()
		notified++
		return struct{}{}, nil
	})
	if err != nil {
		return "", err
	}
	_ = n
	return receipt, nil
}
