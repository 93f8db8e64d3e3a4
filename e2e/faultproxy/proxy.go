// Package faultproxy puts switchable network faults between a client and a
// real server for tests: a TCP proxy (delay, drop, reset, truncate, black
// hole) and an HTTP reverse proxy (error statuses, slow bodies, a registry
// tag list without end, a Link header that points to itself). Faults are
// switched while connections are open, so a client's pooled keep-alive
// connections meet them too, and clearing a fault restores the plain path.
package faultproxy

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what the TCP proxy does to traffic.
type Mode int

// Modes of the TCP proxy.
const (
	// Pass forwards bytes both ways untouched.
	Pass Mode = iota
	// Delay holds each chunk of the server's answer for Fault.Delay.
	Delay
	// Drop closes the client's connection without an answer as soon as it
	// sends anything (and refuses new connections the same way).
	Drop
	// Reset aborts the client's connection with a TCP RST (SO_LINGER 0).
	Reset
	// Truncate forwards Fault.Bytes of the server's answer, then closes.
	Truncate
	// BlackHole accepts and reads but never answers, until the fault clears
	// or the client gives up.
	BlackHole
)

var modeNames = [...]string{"pass", "delay", "drop", "reset", "truncate", "black-hole"}

func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("mode(%d)", int(m))
	}
	return modeNames[m]
}

// Fault is the TCP proxy's current behaviour.
type Fault struct {
	Mode  Mode
	Delay time.Duration // Delay: per chunk of the answer
	Bytes int           // Truncate: bytes of the answer forwarded per connection
}

// Stats counts what the proxy did since it started.
type Stats struct {
	Conns   int64 // connections accepted
	Faulted int64 // connections a fault dropped, reset or truncated
}

// Proxy is a TCP proxy on 127.0.0.1 to one target address.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	fault   Fault
	changed chan struct{} // closed and replaced on every Set
	conns   map[net.Conn]struct{}
	closed  bool
	done    chan struct{} // closed by Close

	wg      sync.WaitGroup
	nConns  atomic.Int64
	faulted atomic.Int64
}

// Start listens on a free loopback port and forwards to target (host:port).
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy to %s: listen: %w", target, err)
	}
	p := &Proxy{target: target, ln: ln, changed: make(chan struct{}), done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set switches the fault for open and new connections.
func (p *Proxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
	close(p.changed)
	p.changed = make(chan struct{})
}

// Clear goes back to Pass.
func (p *Proxy) Clear() { p.Set(Fault{}) }

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{Conns: p.nConns.Load(), Faulted: p.faulted.Load()}
}

func (p *Proxy) current() (Fault, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault, p.changed
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		close(p.done)
	}
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

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
	c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.nConns.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *Proxy) handle(client net.Conn) {
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	if f, _ := p.current(); f.Mode == Drop || f.Mode == Reset {
		p.abort(client, f.Mode)
		return
	}
	upstream, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		hangUp(client) // as a dead server behind a load balancer would
		return
	}
	if !p.track(upstream) {
		upstream.Close()
		return
	}
	defer p.untrack(upstream)
	var once sync.Once
	stop := func() { once.Do(func() { client.Close(); upstream.Close() }) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.toServer(client, upstream, stop)
	}()
	p.toClient(upstream, client, stop)
	<-done
}

// abort ends a client connection the way mode says.
func (p *Proxy) abort(c net.Conn, mode Mode) {
	p.faulted.Add(1)
	if mode == Drop {
		hangUp(c)
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // Close then sends RST instead of FIN
	}
	c.Close()
}

// hangUp closes c with a FIN and no answer. Closing a socket with unread
// bytes would send RST instead, so it stops writing first and drains what
// the client still sends, for a moment.
func hangUp(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, tc)
	}
	c.Close()
}

// toServer copies the client's bytes upstream; a request met by Drop or
// Reset ends the connection instead.
func (p *Proxy) toServer(client, upstream net.Conn, stop func()) {
	defer stop()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			f, changed := p.current()
			switch f.Mode {
			case Drop, Reset:
				p.abort(client, f.Mode)
				return
			case BlackHole:
				// The request is swallowed; the connection cannot carry a
				// later one, so it ends when the fault changes.
				go func() {
					select {
					case <-changed:
					case <-p.done:
					}
					stop()
				}()
				continue
			}
			if _, werr := upstream.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// toClient copies the server's answer to the client through the fault.
func (p *Proxy) toClient(upstream, client net.Conn, stop func()) {
	defer stop()
	buf := make([]byte, 32<<10)
	sent := 0 // bytes forwarded while Truncate was on
	for {
		n, err := upstream.Read(buf)
		if n > 0 {
			if !p.forward(client, buf[:n], &sent) {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// forward writes chunk to the client under the current fault; false ends
// the connection.
func (p *Proxy) forward(client net.Conn, chunk []byte, sent *int) bool {
	for {
		f, changed := p.current()
		switch f.Mode {
		case Pass:
			*sent = 0
			_, err := client.Write(chunk)
			return err == nil
		case Delay:
			select {
			case <-time.After(f.Delay):
			case <-changed:
			case <-p.done:
				return false
			}
			_, err := client.Write(chunk)
			return err == nil
		case Drop, Reset:
			p.abort(client, f.Mode)
			return false
		case Truncate:
			left := f.Bytes - *sent
			if left >= len(chunk) {
				*sent += len(chunk)
				_, err := client.Write(chunk)
				return err == nil
			}
			if left > 0 {
				_, _ = client.Write(chunk[:left])
			}
			p.faulted.Add(1)
			return false
		case BlackHole:
			// Hold the answer until the fault changes; the client times out
			// or the fault clears and the answer goes through late.
			select {
			case <-changed:
			case <-p.done:
				return false
			}
		default:
			return false
		}
	}
}
