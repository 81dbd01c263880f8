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

type sentSafe bool

func (s sentSafe) Error() string     { return "server closed the connection before the query was sent" }
func (s sentSafe) SafeToRetry() bool { return bool(s) }

func TestClassify(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}
	notRecorded := fmt.Errorf("%w: inner: complete: %w", ErrNotRecorded, errors.New("connection reset"))
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
		// A function may fail a dial after an earlier request applied its
		// effect: nothing about the error's kind proves otherwise.
		{"dial refused", fmt.Errorf("post: %w", dial), classIndeterminate},
		{"bare ECONNREFUSED", syscall.ECONNREFUSED, classIndeterminate},
		{"dns", &net.DNSError{Err: "no such host", Name: "api.invalid"}, classIndeterminate},
		{"read timeout after sending", read, classIndeterminate},
		{"safe to retry", fmt.Errorf("q: %w", sentSafe(true)), classIndeterminate},
		{"dial marked by the function's author", NotApplied(dial), classNotApplied},
		// An inner wrapped call's claim failed: the inner function did
		// not run, but the outer one may have applied effects before.
		{"store error of an inner call", fmt.Errorf("%w: claim: %w", ErrStore, errors.New("down")), classIndeterminate},
		{"inner call ran, not recorded", fmt.Errorf("send: %w", notRecorded), classApplied},
		{"inner call ran, not recorded, marked not applied", NotApplied(notRecorded), classApplied},
		{"inner call lost its lease", fmt.Errorf("send: %w: k: %w", ErrLeaseLost, context.Canceled), classApplied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want.String(), classify(tc.err).String())
		})
	}
}

func TestSafeToRetryIsOnlyForTheDBEffect(t *testing.T) {
	require.True(t, safeToRetry(fmt.Errorf("q: %w", sentSafe(true))))
	require.False(t, safeToRetry(sentSafe(false)))
	require.False(t, safeToRetry(errors.New("x")))
}

func TestClassifyInTellsTheCallersCancellationFromTheFunctionsOwnDeadline(t *testing.T) {
	timeout := fmt.Errorf("Post %q: %w", "https://api.example/charges", context.DeadlineExceeded)
	require.Equal(t, classIndeterminate, classifyIn(context.Background(), timeout), "the function's own deadline: the request may have landed")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.Equal(t, classContext, classifyIn(ctx, timeout), "the caller gave up: stop")
	require.Equal(t, classNotApplied, classifyIn(ctx, NotApplied(timeout)), "marks win")
}
