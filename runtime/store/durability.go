package store

import "fmt"

// Durability says which of a store's writes are on disk when they return,
// and so what a crash can take back. Only the claim must be durable before
// the function runs: a completion that a crash takes back turns the record
// into a claim again, whose lease passes, which the protocol already
// handles (the next caller of a none function gets an indeterminate
// record, an api or queue function takes the key over, and the db effect
// records in the caller's own transaction). Stores that can tell their
// writes apart take it as an option and in their DSN as
// ?durability=claims|all|crash (ParseDurability).
type Durability int

const (
	// DurableClaims, the default: claims are on disk before Claim
	// returns (they survive a power loss); Complete, Release and
	// MarkIndeterminate are not waited for and reach the disk with the
	// next synced write, so a power loss or an OS crash can take back the
	// last of them, never a claim.
	DurableClaims Durability = iota
	// DurableAll: every write is on disk when it returns.
	DurableAll
	// DurableCrash: no write waits for the disk (DBOS's trade-off). A
	// process crash loses nothing; a power loss or an OS crash can take
	// back claims too, after which a function that ran may run again.
	DurableCrash
)

// durabilityNames are the DSN spellings, in the order of the constants.
var durabilityNames = [...]string{"claims", "all", "crash"}

// String returns "claims", "all" or "crash": the DSN spelling.
func (d Durability) String() string {
	if d >= 0 && int(d) < len(durabilityNames) {
		return durabilityNames[d]
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// Valid reports whether d is one of the constants.
func (d Durability) Valid() bool { return d >= 0 && int(d) < len(durabilityNames) }

// ParseDurability returns the Durability a DSN spells: "claims", "all" or
// "crash".
func ParseDurability(s string) (Durability, error) {
	for i, n := range durabilityNames {
		if n == s {
			return Durability(i), nil
		}
	}
	return 0, fmt.Errorf("idem: durability=%s: use claims (the default: claims survive a power loss, completions may not), all (every write survives a power loss) or crash (survives a process crash only)", s)
}
