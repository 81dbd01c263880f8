// Package extlib stands for code that cannot carry directives (sqlc
// output, a third-party client).
package extlib

import "context"

// Send sends a message.
func Send(ctx context.Context, id string) error { return nil }

// Queries runs statements.
type Queries struct{}

// Insert inserts a row.
func (q *Queries) Insert(ctx context.Context, id string) error { return nil }

// Other is not wrapped.
func Other(ctx context.Context) error { return nil }
