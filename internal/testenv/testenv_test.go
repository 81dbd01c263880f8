package testenv

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTB records Skip and Fatal and, like the real ones, stops the calling
// goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatal(args ...any) {
	f.failed = true
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Skip(args ...any) {
	f.skipped = true
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

// call runs get on a fake in its own goroutine (Skip and Fatal end it) and
// reports what happened.
func call(get func(testing.TB) string) (f *fakeTB, got string, returned bool) {
	f = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = get(f)
		returned = true
	}()
	<-done
	return f, got, returned
}

func TestHelpers(t *testing.T) {
	helpers := []struct {
		name, env, server string
		get               func(testing.TB) string
	}{
		{"PostgresDSN", PostgresDSNVar, "PostgreSQL", PostgresDSN},
		{"RedisURL", RedisURLVar, "Redis", RedisURL},
		{"RedisClusterAddr", RedisClusterAddrVar, "Redis Cluster", RedisClusterAddr},
		{"MySQLDSN", MySQLDSNVar, "MySQL", MySQLDSN},
	}
	for _, h := range helpers {
		t.Run(h.name, func(t *testing.T) {
			t.Run("set", func(t *testing.T) {
				t.Setenv(h.env, "scheme://somewhere:1/x")
				t.Setenv(CIVar, "true")
				f, got, returned := call(h.get)
				require.True(t, returned)
				assert.Equal(t, "scheme://somewhere:1/x", got)
				assert.False(t, f.skipped)
				assert.False(t, f.failed)
			})
			t.Run("unset outside CI skips", func(t *testing.T) {
				t.Setenv(h.env, "")
				t.Setenv(CIVar, "")
				f, _, returned := call(h.get)
				require.False(t, returned, "must not return after Skip")
				assert.True(t, f.skipped)
				assert.False(t, f.failed)
				assert.Contains(t, f.msg, h.env)
				assert.Contains(t, f.msg, "bash scripts/test.sh")
			})
			t.Run("unset with CI=false skips", func(t *testing.T) {
				t.Setenv(h.env, "")
				t.Setenv(CIVar, "false")
				f, _, _ := call(h.get)
				assert.True(t, f.skipped)
				assert.False(t, f.failed)
			})
			for _, ci := range []string{"true", "1", "TRUE", "yes", "on"} {
				t.Run("unset under CI="+ci+" fails", func(t *testing.T) {
					t.Setenv(h.env, "")
					t.Setenv(CIVar, ci)
					f, _, returned := call(h.get)
					require.False(t, returned, "must not return after Fatal")
					assert.True(t, f.failed)
					assert.False(t, f.skipped)
					assert.Contains(t, f.msg, h.env+" is not set: CI must provide "+h.server)
					assert.Contains(t, f.msg, "bash scripts/test.sh")
				})
			}
		})
	}
}

func TestCI(t *testing.T) {
	for v, want := range map[string]bool{
		"": false, "0": false, "false": false, "FALSE": false, "no": false, "off": false, " false ": false,
		"true": true, "1": true, "TRUE": true, "yes": true, "on": true, "anything": true,
	} {
		t.Setenv(CIVar, v)
		assert.Equal(t, want, CI(), "CI=%q", v)
	}
}

// runTB runs f on a fake in its own goroutine (Skip and Fatal end it).
func runTB(f func(testing.TB)) (fake *fakeTB, returned bool) {
	_, _, returned = call(func(tb testing.TB) string {
		fake = tb.(*fakeTB)
		f(tb)
		return ""
	})
	return fake, returned
}

func TestSkip(t *testing.T) {
	const reason = "no go command on PATH; install Go"
	t.Run("outside CI skips", func(t *testing.T) {
		t.Setenv(CIVar, "")
		f, returned := runTB(func(tb testing.TB) { Skip(tb, reason) })
		require.False(t, returned, "must not return after Skip")
		assert.True(t, f.skipped)
		assert.False(t, f.failed)
		assert.Equal(t, reason, f.msg)
	})
	for _, ci := range []string{"true", "yes"} {
		t.Run("under CI="+ci+" fails", func(t *testing.T) {
			t.Setenv(CIVar, ci)
			f, returned := runTB(func(tb testing.TB) { Skip(tb, reason) })
			require.False(t, returned, "must not return after Fatal")
			assert.True(t, f.failed)
			assert.False(t, f.skipped)
			assert.Equal(t, "CI must not skip this test (CI="+ci+"): "+reason, f.msg)
		})
	}
}

func TestNotApplicable(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv(CIVar, ci)
		f, returned := runTB(func(tb testing.TB) { NotApplicable(tb, "helper process, run only by TestX") })
		require.False(t, returned, "must not return after Skip")
		assert.True(t, f.skipped, "CI=%q", ci)
		assert.False(t, f.failed, "CI=%q", ci)
		assert.Equal(t, NotApplicablePrefix+"helper process, run only by TestX", f.msg)
	}
}
