package runtime

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/idem-go/idem/runtime/memstore"
)

// resetRetryOverrides clears every override for a test.
func resetRetryOverrides(t *testing.T) {
	t.Helper()
	clear := func() {
		retryOverrides.mu.Lock()
		retryOverrides.code = nil
		retryOverrides.envValue, retryOverrides.env, retryOverrides.envErr = "", nil, nil
		retryOverrides.mu.Unlock()
		retryOverrides.resolved.Store(new(sync.Map))
	}
	clear()
	t.Cleanup(clear)
}

func TestParseRetryOverrides(t *testing.T) {
	got, err := ParseRetryOverrides(" example.com/app/billing.*=attempts:8,delay:200ms,max-delay:5s; *=attempts:1 ;")
	require.NoError(t, err)
	require.Equal(t, []RetryOverride{
		{Pattern: "example.com/app/billing.*", Policy: RetryPolicy{Attempts: 8, Delay: 200 * time.Millisecond, MaxDelay: 5 * time.Second}},
		{Pattern: "*", Policy: RetryPolicy{Attempts: 1}},
	}, got)

	for in, quoted := range map[string]string{
		"billing.*":                        `"billing.*"`,
		"a=attempts:0":                     `"attempts:0"`,
		"a=attempts:x":                     `"attempts:x"`,
		"a=delay:fast":                     `"delay:fast"`,
		"a=delay:-1s":                      `"delay:-1s"`,
		"a=retries:3":                      `unknown setting "retries"`,
		"a=attempts":                       `"attempts"`,
		"a*b=attempts:2":                   `"a*b"`,
		"a=attempts:2;a=attempts:3":        `"a" appears twice`,
		"a=delay:1s,max-delay:10ms":        `max-delay is shorter`,
		"ok=attempts:2; bad=attempts:2,,x": `"" in entry`,
	} {
		_, err := ParseRetryOverrides(in)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), quoted, in)
		require.Contains(t, err.Error(), EnvRetry, in)
	}
}

func TestRetryOverrideSpecificity(t *testing.T) {
	resetRetryOverrides(t)
	t.Setenv(EnvRetry, "*=attempts:1,delay:1s; example.com/app/*=attempts:4; example.com/app/billing.*=attempts:8,max-delay:5s")
	spec := &Spec{Namespace: "example.com/app/billing.Charge", Retry: RetryPolicy{Attempts: 2, Delay: 10 * time.Millisecond, MaxDelay: time.Second}}
	p, err := effectiveRetry(spec)
	require.NoError(t, err)
	// attempts and max-delay from the longest prefix; delay from "*".
	require.Equal(t, RetryPolicy{Attempts: 8, Delay: time.Second, MaxDelay: 5 * time.Second}, p)

	other := &Spec{Namespace: "example.com/app/mail.Send", Retry: RetryPolicy{Attempts: 3}}
	p, err = effectiveRetry(other)
	require.NoError(t, err)
	require.Equal(t, RetryPolicy{Attempts: 4, Delay: time.Second}, p)

	// An exact namespace outranks every prefix; code wins over env.
	SetRetryOverride("example.com/app/billing.Charge", RetryPolicy{Attempts: 20})
	SetRetryOverride("example.com/app/billing.*", RetryPolicy{Attempts: 9})
	p, err = effectiveRetry(spec)
	require.NoError(t, err)
	require.Equal(t, 20, p.Attempts)
	require.Equal(t, 5*time.Second, p.MaxDelay)
	SetRetryOverride("example.com/app/billing.Charge", RetryPolicy{}) // removes it
	p, err = effectiveRetry(spec)
	require.NoError(t, err)
	require.Equal(t, 9, p.Attempts)

	// A changed environment is read again.
	t.Setenv(EnvRetry, "")
	p, err = effectiveRetry(other)
	require.NoError(t, err)
	require.Equal(t, other.Retry, p)
}

func TestMalformedRetryEnvFailsTheCall(t *testing.T) {
	resetRetryOverrides(t)
	t.Setenv(EnvRetry, "billing.*=attempts:lots")
	_, err := effectiveRetry(&Spec{Namespace: "billing.Charge"})
	require.ErrorContains(t, err, `"attempts:lots"`)
}

func TestNoOverrideKeepsTheSpec(t *testing.T) {
	resetRetryOverrides(t)
	t.Setenv(EnvRetry, "")
	spec := &Spec{Namespace: "x.F", Retry: RetryPolicy{Attempts: 3, Delay: time.Millisecond}}
	p, err := effectiveRetry(spec)
	require.NoError(t, err)
	require.Equal(t, spec.Retry, p)
}

func TestRetryOverridesConcurrently(t *testing.T) {
	resetRetryOverrides(t)
	t.Setenv(EnvRetry, "*=attempts:2")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if i == 0 && j%20 == 0 {
					SetRetryOverride("x.*", RetryPolicy{Attempts: 3 + j%2})
				}
				p, err := effectiveRetry(&Spec{Namespace: "x.F"})
				if err != nil || p.Attempts < 2 || p.Attempts > 4 {
					t.Errorf("attempts %d, %v", p.Attempts, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
}

// runWith runs one wrapped call of spec (fresh memstore) whose function
// fails with fail() and returns the number of attempts and the error.
func runWith(t *testing.T, spec *Spec, fail func() error) (int, error) {
	t.Helper()
	ctx := WithStore(context.Background(), memstore.New())
	var key, fp Encoder
	key.Begin(spec.Namespace, spec.Version)
	key.String("k")
	fp.Begin(spec.Namespace, spec.Version)
	runs := 0
	_, err := Do(ctx, spec, &key, &fp, func(context.Context) (int, error) {
		runs++
		return 0, fail()
	})
	return runs, err
}

func TestRetryOverrideChangesAttemptsNotWhatIsRetried(t *testing.T) {
	resetRetryOverrides(t)
	boom := errors.New("boom")
	tiny := RetryPolicy{Delay: time.Microsecond, MaxDelay: time.Microsecond}

	// Generated with one attempt; the environment raises it to 4.
	t.Setenv(EnvRetry, "override/test.*=attempts:4,delay:1us,max-delay:1us")
	spec := &Spec{Namespace: "override/test.Send", Version: 1}
	runs, err := runWith(t, spec, func() error { return NotApplied(boom) })
	require.ErrorIs(t, err, boom)
	require.Equal(t, 4, runs, "a not-applied failure is retried up to the overridden budget")

	// An indeterminate failure under none is never retried, whatever the budget.
	SetRetryOverride("override/test.Send", RetryPolicy{Attempts: 9})
	runs, err = runWith(t, spec, func() error { return boom })
	require.ErrorIs(t, err, ErrIndeterminate)
	require.Equal(t, 1, runs)

	// Under api the same failure is retried with the same key, as often as
	// the override says.
	api := &Spec{Namespace: "override/test.Charge", Version: 1, Effect: EffectAPI, Retry: tiny}
	runs, _ = runWith(t, api, func() error { return boom })
	require.Equal(t, 4, runs)
	SetRetryOverride("override/test.Charge", RetryPolicy{Attempts: 2})
	runs, _ = runWith(t, api, func() error { return boom })
	require.Equal(t, 2, runs)
}

func TestMalformedRetryEnvFailsWithoutRunning(t *testing.T) {
	resetRetryOverrides(t)
	t.Setenv(EnvRetry, "override/test.*=attempts:lots")
	s := memstore.New()
	ctx := WithStore(context.Background(), s)
	spec := &Spec{Namespace: "override/test.Mail", Version: 1}
	call := func() (int, error) {
		var key, fp Encoder
		key.Begin(spec.Namespace, spec.Version)
		key.String("k")
		fp.Begin(spec.Namespace, spec.Version)
		runs := 0
		_, err := Do(ctx, spec, &key, &fp, func(context.Context) (int, error) { runs++; return 1, nil })
		return runs, err
	}
	runs, err := call()
	require.Zero(t, runs)
	require.ErrorContains(t, err, `"attempts:lots"`)
	require.ErrorContains(t, err, "override/test.Mail")
	// The claim was released: once the variable is fixed, the call runs.
	t.Setenv(EnvRetry, "override/test.*=attempts:2")
	runs, err = call()
	require.NoError(t, err)
	require.Equal(t, 1, runs)
}
