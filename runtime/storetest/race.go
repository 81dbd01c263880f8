package storetest

import (
	"sync"
	"testing"
	"time"
)

// A race subtest (ClaimRace, TakeoverRace) runs its race many times: a
// check-then-act race in a store grants one key twice only when two claims
// interleave inside a window of a few instructions, which one race of a
// few goroutines hits rarely (a mutex-guarded map that decides under a read
// lock and writes under the write lock without deciding again is caught in
// about 1 race in 1000 on 2 cores). The first race has many racers on one
// key; each repetition has raceN racers that claim the same raceKeys keys
// in the same order, which keeps them contending key after key and finds
// such windows about ten times faster per second than one key per race.
//
// The number of repetitions scales with the store's speed: every race
// subtest runs at least raceMinRounds repetitions, and then more, up to
// raceRounds, while it has spent less than raceBudget. An in-memory store
// runs all raceRounds within the budget (memstore: about 0.6s per subtest;
// with -race it stops at the budget), which caught the race above in 100
// of 100 suite runs, with and without -race, also beside two CPU-bound
// processes; a store that does I/O runs as many as the budget allows (5 to
// 50 on SQLite and PostgreSQL, a few hundred on Redis). Whether a correct
// store passes never depends on the budget: only how hard the suite looks
// does.
const (
	raceRounds    = 1000
	raceMinRounds = 5
	raceBudget    = time.Second
	raceFirstN    = 32 // racers in the first race, on one key
	raceN         = 4  // racers in each repetition
	raceKeys      = 16 // keys each racer claims in a repetition
)

// repeatRace runs race(t, raceFirstN, 1) once and then race(t, raceN,
// raceKeys) as the budget above allows, stopping at the first failure. It
// logs how many races ran. race(t, n, m) races n claimers on each of m keys.
func repeatRace(t *testing.T, race func(t *testing.T, n, m int)) {
	t.Helper()
	start := time.Now()
	race(t, raceFirstN, 1)
	rounds := 1
	for ; rounds < raceRounds && !t.Failed(); rounds++ {
		if rounds >= raceMinRounds && time.Since(start) >= raceBudget {
			break
		}
		race(t, raceN, raceKeys)
	}
	if t.Failed() {
		t.Logf("failed in race %d", rounds)
		return
	}
	t.Logf("%d races in %v", rounds, time.Since(start).Round(time.Millisecond))
}

// together runs f(i) for i in [0, n) on n goroutines released at once by
// closing a channel, and waits for all of them.
func together(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}
