package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

type safeToRetry bool

func (s safeToRetry) Error() string     { return "server closed the connection before the query was sent" }
func (s safeToRetry) SafeToRetry() bool { return bool(s) }

func TestClassify(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}
	cases := []struct {
		name string
		err  error
		want errClass
	}{
		{"plain error", errors.New("x"), classIndeterminate},
		{"marked not applied", NotApplied(errors.New("x")), classNotApplied},
		{"marked permanent", Permanent(errors.New("x")), classPermanent},
		{"permanent wrapping context error", Permanent(context.Canceled), classPermanent},
		{"wrapped mark", fmt.Errorf("charge: %w", NotApplied(errors.New("x"))), classNotApplied},
		{"context canceled", fmt.Errorf("call: %w", context.Canceled), classContext},
		{"deadline", context.DeadlineExceeded, classContext},
		{"dial refused", fmt.Errorf("post: %w", dial), classNotApplied},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, classNotApplied},
		{"dns", &net.DNSError{Err: "no such host", Name: "api.invalid"}, classNotApplied},
		{"read timeout after sending", read, classIndeterminate},
		{"safe to retry", fmt.Errorf("q: %w", safeToRetry(true)), classNotApplied},
		{"not safe to retry", safeToRetry(false), classIndeterminate},
		{"store error", fmt.Errorf("%w: claim: %w", ErrStore, errors.New("down")), classNotApplied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want.String(), classify(tc.err).String())
		})
	}
}

func TestClassifyInTellsTheCallersCancellationFromTheFunctionsOwnDeadline(t *testing.T) {
	timeout := fmt.Errorf("Post %q: %w", "https://api.example/charges", context.DeadlineExceeded)
	require.Equal(t, classIndeterminate, classifyIn(context.Background(), timeout), "the function's own deadline: the request may have landed")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Equal(t, classContext, classifyIn(ctx, timeout), "the caller gave up: stop")
	require.Equal(t, classNotApplied, classifyIn(ctx, NotApplied(timeout)), "marks win")
}
