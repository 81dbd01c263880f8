// Command shop runs the pipeline once.
package main

import (
	"context"
	"database/sql"
	"log"
	"time"

	"example.com/shop/checkout"
	"example.com/shop/fulfil"
	"example.com/shop/internal/sms"
	"example.com/shop/notify"
	"example.com/shop/orders"
	"example.com/shop/payments"
)

func main() {
	ctx := context.Background()
	var d checkout.Deps
	o := orders.Order{ID: "o-1", Customer: "c-1", Total: 1200}
	if err := checkout.Checkout(ctx, d, o, "c@example.com"); err != nil {
		log.Fatal(err)
	}
	if err := fulfil.ShipIdem(ctx, nil, d.Kafka, "/var/invoices", fulfil.Shipment{ID: "s-1", OrderID: o.ID}); err != nil {
		log.Fatal(err)
	}
	if err := notify.TextCustomer(ctx, &sms.Client{}, "+100", o.ID); err != nil {
		log.Fatal(err)
	}
	// Regenerates a lost invoice: calls WriteInvoice outside Ship.
	if err := notify.WriteInvoice("/var/invoices", o.ID, nil); err != nil {
		log.Fatal(err)
	}
	_ = notify.AppendLog("/var/log/shop.log", "done")
	_ = orders.ArchiveOld(ctx, d.DB, time.Now().AddDate(-1, 0, 0), "/var/archive/marker")
	_ = checkout.Cancel(ctx, d, o.ID, "p-1", 1200)
	_ = backfill(ctx, d, nil, nil)
}

// backfill imports orders from the old system, calling the marked functions
// themselves instead of their wrappers.
func backfill(ctx context.Context, d checkout.Deps, tx *sql.Tx, old []orders.Order) error {
	for _, o := range old {
		if err := orders.InsertOrder(ctx, tx, o); err != nil {
			return err
		}
		if _, err := payments.Charge(ctx, d.HTTP, payments.Payment{OrderID: o.ID, Customer: o.Customer, Amount: o.Total}); err != nil {
			return err
		}
	}
	return nil
}
