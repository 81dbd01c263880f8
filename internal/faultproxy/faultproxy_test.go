package faultproxy

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// echo starts a line echo server and returns its address.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, msg string, wait time.Duration) (string, error) {
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	line, err := r.ReadString('\n')
	return line, err
}

func TestPassBlackholeReset(t *testing.T) {
	p, err := Start(echo(t))
	require.NoError(t, err)
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)

	line, err := roundTrip(c, r, "one", 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "one\n", line)

	// Blackholed: the request is held, so the read times out...
	p.SetMode(Blackhole)
	_, err = roundTrip(c, r, "two", 50*time.Millisecond)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())

	// ...and is delivered once the proxy passes again.
	p.SetMode(Pass)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err = r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "two\n", line)

	// Reset closes the open connection and refuses new traffic.
	p.SetMode(Reset)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = r.ReadString('\n')
	require.Error(t, err)
	// The kernel may complete the handshake before the proxy resets the
	// connection, or the reset may already fail the dial.
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		_, err = roundTrip(c2, bufio.NewReader(c2), "refused", 10*time.Second)
		require.Error(t, err)
		_ = c2.Close()
	}

	// Passing again serves new connections.
	p.SetMode(Pass)
	c3, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c3.Close()
	line, err = roundTrip(c3, bufio.NewReader(c3), "three", 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "three\n", line)
	require.GreaterOrEqual(t, p.Accepted(), int64(3))
}

func TestCloseEndsHeldConnections(t *testing.T) {
	p, err := Start(echo(t))
	require.NoError(t, err)
	p.SetMode(Blackhole)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := roundTrip(c, bufio.NewReader(c), "held", 30*time.Second)
		done <- err
	}()
	require.NoError(t, p.Close())
	require.Error(t, <-done)
}
