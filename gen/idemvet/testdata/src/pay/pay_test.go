package pay

import (
	"context"
	"testing"
)

// Tests call the functions themselves: not reported.
func TestCharge(t *testing.T) {
	if _, err := ChargeOrder(context.Background(), Order{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	_ = notify("1")
}
