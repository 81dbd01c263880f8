package redisstore

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/idem-go/idem/runtime/store"
)

// schemes are the DSN schemes this package registers with store.Register:
// importing it is enough for runtime.Open and IDEM_STORE to accept
// redis:// and rediss:// URLs.
var schemes = []string{"redis", "rediss"}

func init() {
	for _, s := range schemes {
		store.Register(s, openDSN)
	}
	redis.SetLogger(quietLogger{log.New(os.Stderr, "redis: ", log.LstdFlags|log.Lshortfile)})
}

// openDSN is Open followed by a PING bounded by ctx, so that a server it
// cannot reach is reported when the store is opened.
func openDSN(ctx context.Context, dsn string) (store.Store, error) {
	s, err := Open(dsn)
	if err != nil {
		return nil, err
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("redisstore: connect: %w", err)
	}
	return s, nil
}

// quietLogger is the go-redis logger this package installs (go-redis has
// one logger per process; redis.SetLogger after the import replaces it).
// It drops the connection pool's dial failures, which go-redis logs on
// every failed dial: the store returns each of them to its caller already,
// and a server that is down would otherwise flood stderr. Other messages
// are printed as go-redis's default logger prints them.
type quietLogger struct{ l *log.Logger }

func (q quietLogger) Printf(_ context.Context, format string, v ...any) {
	if strings.HasPrefix(format, "redis: connection pool: failed to dial") {
		return
	}
	_ = q.l.Output(3, fmt.Sprintf(format, v...))
}
