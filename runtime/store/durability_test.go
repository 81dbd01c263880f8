package store

import "testing"

func TestParseDurability(t *testing.T) {
	for _, d := range []Durability{DurableClaims, DurableAll, DurableCrash} {
		got, err := ParseDurability(d.String())
		if err != nil || got != d || !d.Valid() {
			t.Errorf("ParseDurability(%q) = %v, %v", d.String(), got, err)
		}
	}
	if _, err := ParseDurability("full"); err == nil {
		t.Error("ParseDurability accepted full")
	}
	if Durability(3).Valid() || Durability(-1).Valid() {
		t.Error("an unknown Durability is valid")
	}
}
