// Package notify tells customers and keeps files and caches.
package notify

import (
	"context"
	"net/smtp"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"example.com/shop/internal/sms"
)

// SendConfirmation e-mails the order confirmation.
//
//idem:key orderID
func SendConfirmation(ctx context.Context, addr, to, orderID string) error {
	return smtp.SendMail(addr, nil, "shop@example.com", []string{to}, []byte("Subject: order "+orderID+"\r\n\r\nThank you."))
}

// TextCustomer sends an SMS (a side effect through the shop's own rule).
func TextCustomer(ctx context.Context, c *sms.Client, phone, orderID string) error {
	return c.Send(ctx, phone, "Your order "+orderID+" shipped", orderID)
}

// WriteInvoice writes an invoice file under dir/orderID.
func WriteInvoice(dir, orderID string, pdf []byte) error {
	if err := os.MkdirAll(filepath.Join(dir, orderID), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, orderID, "invoice.pdf"), pdf, 0o644)
}

// AppendLog appends a line to the audit log.
func AppendLog(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
}

// ReadLog opens the audit log for reading: not a side effect.
func ReadLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY, 0)
}

// Cache remembers order states in Redis.
type Cache struct{ RDB *redis.Client }

// Remember stores an order's status.
func (c *Cache) Remember(ctx context.Context, orderID, status string) error {
	return c.RDB.Set(ctx, "order:"+orderID, status, 0).Err()
}

// Forget removes an order's status.
func (c *Cache) Forget(ctx context.Context, orderID string) error {
	return c.RDB.Del(ctx, "order:"+orderID).Err()
}

// Status reads an order's status: not a side effect.
func (c *Cache) Status(ctx context.Context, orderID string) (string, error) {
	return c.RDB.Get(ctx, "order:"+orderID).Result()
}
