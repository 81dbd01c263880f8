// Package faultproxy is a TCP proxy for fault tests: it forwards loopback
// connections to a server and, on command, blackholes them (accepts and
// holds connections but moves no bytes, as a network partition does) or
// resets them (closes every connection at once and refuses new ones until
// it passes again, as a server restart does).
//
// Tests point a store's DSN at [Proxy.Addr] instead of the server and switch
// modes while calls run.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what the proxy does with traffic.
type Mode int32

const (
	// Pass forwards bytes both ways.
	Pass Mode = iota
	// Blackhole keeps connections open and accepts new ones but forwards
	// nothing: reads on the client side block until the mode changes or
	// the client gives up.
	Blackhole
	// Reset closes every open connection (with a TCP reset where the
	// platform allows) and closes new ones as soon as they are accepted.
	Reset
)

// String returns "pass", "blackhole" or "reset".
func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Blackhole:
		return "blackhole"
	case Reset:
		return "reset"
	}
	return "unknown"
}

// Proxy forwards connections from a loopback listener to a target address.
type Proxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	changed chan struct{} // closed and replaced on every mode change
	closed  bool
	wg      sync.WaitGroup

	accepted atomic.Int64
}

// Start listens on 127.0.0.1 on a free port and forwards to target
// (host:port). Close stops it.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepted returns how many client connections the proxy has accepted.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode { return Mode(p.mode.Load()) }

// SetMode switches the proxy to m. Switching to Reset closes every open
// connection; switching from Blackhole lets held connections move again.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode.Store(int32(m))
	close(p.changed)
	p.changed = make(chan struct{})
	var drop []net.Conn
	if m == Reset {
		for c := range p.conns {
			drop = append(drop, c)
		}
	}
	p.mu.Unlock()
	for _, c := range drop {
		abort(c)
	}
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.Mode() == Reset {
			abort(c)
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// track registers c; it reports false when the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		_ = client.Close()
		return
	}
	defer p.untrack(client)
	// A connection accepted while blackholed waits before dialing, as a
	// partitioned server would never answer its handshake.
	if !p.gate() {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		abort(client)
		return
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	// One direction ended: end both, so the other pipe returns too.
	_ = client.Close()
	_ = server.Close()
	<-done
}

// gate blocks while the proxy blackholes and reports whether traffic may
// move (false once the proxy resets or closes).
func (p *Proxy) gate() bool {
	for {
		p.mu.Lock()
		m, ch, closed := p.Mode(), p.changed, p.closed
		p.mu.Unlock()
		switch {
		case closed || m == Reset:
			return false
		case m == Pass:
			return true
		}
		<-ch
	}
}

// pipe copies src to dst, chunk by chunk, holding each chunk while the
// proxy blackholes.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

// abort closes c with a TCP reset where it can.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
