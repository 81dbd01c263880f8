// Package sms is the shop's own SMS gateway client. The audit knows it as
// an api side effect through the rules file idem-rules.txt.
package sms

import "context"

// Client sends text messages.
type Client struct{ Token string }

// Send sends one message; key deduplicates it at the gateway.
func (c *Client) Send(ctx context.Context, to, text, key string) error { return nil }
