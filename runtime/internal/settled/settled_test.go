package settled

import (
	"testing"
	"time"

	"github.com/idem-go/idem/runtime/store"
)

func TestKeys(t *testing.T) {
	s := Keys{Max: 2}
	a, b, c := store.Key{1}, store.Key{2}, store.Key{3}
	if s.Has(a) {
		t.Fatal("the zero Keys has a key")
	}
	s.Add(a)
	s.Add(b)
	if !s.Has(a) || !s.Has(b) {
		t.Fatal("added keys are missing")
	}
	s.Forget(a)
	if s.Has(a) {
		t.Fatal("a forgotten key is kept")
	}
	s.Add(a)
	s.Add(c) // over Max: starts over
	if s.Has(b) || !s.Has(c) {
		t.Fatal("Keys did not start over past Max")
	}
}

// Only a settled record within its retention is answered from.
func TestAnswer(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	req := store.ClaimRequest{Key: store.Key{1}, Owner: store.Owner{2}, Now: now, LeaseUntil: now.Add(time.Minute), RetainUntil: now.Add(time.Hour)}
	rec := store.Record{Key: req.Key, Owner: store.Owner{3}, Token: 4, LeaseUntil: now, RetainUntil: now.Add(time.Second), Result: []byte("r")}
	for _, c := range []struct {
		state  store.State
		retain time.Time
		ok     bool
	}{
		{store.StateCompleted, now.Add(time.Second), true},
		{store.StateIndeterminate, now.Add(time.Second), true},
		{store.StateCompleted, now, false}, // expired: the claim grants afresh
		{store.StateInProgress, now.Add(time.Hour), false},
		{0, now.Add(time.Hour), false},
	} {
		r := rec
		r.State, r.RetainUntil = c.state, c.retain
		res, ok := Answer(r, req)
		if ok != c.ok {
			t.Errorf("state %v retain %v: answered %v, want %v", c.state, c.retain, ok, c.ok)
		}
		if ok && (res.Granted || res.Record.State != c.state || string(res.Record.Result) != "r") {
			t.Errorf("state %v: answer %+v", c.state, res)
		}
	}
}
