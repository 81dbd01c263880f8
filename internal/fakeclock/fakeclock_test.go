package fakeclock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAfterFiresOnlyWhenAdvancedPastDeadline(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(start)
	ch := c.After(10 * time.Second)
	c.Advance(9 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired before its deadline")
	default:
	}
	require.Equal(t, 1, c.Waiters())
	c.Advance(time.Second)
	require.Equal(t, start.Add(10*time.Second), <-ch)
	require.Equal(t, 0, c.Waiters())
}

func TestAfterZeroFiresAtOnce(t *testing.T) {
	c := New(time.Unix(0, 0))
	select {
	case <-c.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
}

func TestBlockUntilSeesWaiterFromAnotherGoroutine(t *testing.T) {
	c := New(time.Unix(0, 0))
	got := make(chan time.Time)
	go func() { got <- <-c.After(time.Minute) }()
	c.BlockUntil(1)
	c.Advance(time.Minute)
	require.Equal(t, time.Unix(60, 0), <-got)
}

func TestAfterFuncRunsOnAdvanceUnlessStopped(t *testing.T) {
	c := New(time.Unix(0, 0))
	ran := make(chan struct{})
	c.AfterFunc(time.Second, func() { close(ran) })
	stop := c.AfterFunc(time.Second, func() { t.Error("a stopped AfterFunc ran") })
	require.Equal(t, 2, c.Waiters())
	require.True(t, stop())
	require.False(t, stop(), "a second stop prevents nothing")
	c.Advance(time.Second)
	<-ran
	require.Equal(t, 0, c.Waiters())
}
