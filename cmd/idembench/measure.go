package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// op is one operation of a measurement. worker is the worker's index; i
// counts operations, across workers when the measurement has a fixed number
// of operations and per worker when it runs for a duration.
type op func(ctx context.Context, worker int, i int64) error

// sample is the outcome of one measurement.
type sample struct {
	ops     int64
	elapsed time.Duration
}

// rate returns operations per second.
func (s sample) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.ops) / s.elapsed.Seconds()
}

// measure runs f on conns concurrent workers, limit operations in total when
// limit > 0 and otherwise until d has passed, and counts the operations. The
// first error stops every worker and is returned.
//
// A measurement for a duration completes at least one operation per worker
// whatever the duration, so a busy machine that schedules the workers only
// after d has passed still yields a sample (the elapsed time then covers that
// operation too) instead of an empty one.
func measure(ctx context.Context, conns int, limit int64, d time.Duration, f op) (sample, error) {
	var (
		next, total    atomic.Int64
		failed, timeUp atomic.Bool
		errOnce        sync.Once
		firstErr       error
		wg             sync.WaitGroup
	)
	start := time.Now()
	if limit <= 0 {
		t := time.AfterFunc(d, func() { timeUp.Store(true) })
		defer t.Stop()
	}
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var done int64
			for !failed.Load() {
				i := done
				if limit > 0 {
					if i = next.Add(1) - 1; i >= limit {
						break
					}
				} else if done > 0 && timeUp.Load() {
					break
				}
				if err := f(ctx, w, i); err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
					break
				}
				done++
			}
			total.Add(done)
		}()
	}
	wg.Wait()
	s := sample{ops: total.Load(), elapsed: time.Since(start)}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return s, firstErr
}

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// pair is a workload as measured: the baseline's and the runtime's rates,
// one per round, in measurement order.
type pair struct {
	baseline, runtime []float64
	order             []string // per round: "BR" (baseline first) or "RB"
}

// alternate measures baseline and runtime rounds times each, alternating
// which goes first (B R, R B, B R, ...) so that a drift in machine speed
// during the run weighs on both alike.
func alternate(ctx context.Context, rounds int, once func(which string) (float64, error)) (pair, error) {
	var p pair
	for r := range rounds {
		order := "BR"
		if r%2 == 1 {
			order = "RB"
		}
		p.order = append(p.order, order)
		for _, which := range order {
			if err := ctx.Err(); err != nil {
				return p, err
			}
			rate, err := once(string(which))
			if err != nil {
				return p, err
			}
			if which == 'B' {
				p.baseline = append(p.baseline, rate)
			} else {
				p.runtime = append(p.runtime, rate)
			}
		}
	}
	return p, nil
}
