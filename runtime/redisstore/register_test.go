package redisstore

import (
	"bytes"
	"context"
	"log"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuietLoggerDropsDialFailuresOnly(t *testing.T) {
	var buf bytes.Buffer
	q := quietLogger{log.New(&buf, "", 0)}
	for range 100 {
		q.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, "dial tcp 127.0.0.1:1: connect: connection refused")
	}
	require.Empty(t, buf.String(), "dial failures are returned to callers, not logged")
	q.Printf(context.Background(), "redis: connection pool: conn[%d] rejected by hook, returning to pool", 7)
	require.Equal(t, "redis: connection pool: conn[7] rejected by hook, returning to pool\n", buf.String())
}
