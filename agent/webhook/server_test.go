package webhook

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// trickle opens a connection, sends a POST's headers announcing a body
// of size bytes, then one byte every gap until the server answers or
// closes. It returns the status (0: closed without an answer) and how
// many body bytes it got to send.
func trickle(addr, path string, headers map[string]string, size int, gap time.Duration) (status, sent int, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, addr, size)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return 0, 0, err
	}
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for sent < size {
		select {
		case status := <-answered:
			return status, sent, nil
		case <-tick.C:
			if _, err := conn.Write([]byte{' '}); err != nil {
				return <-answered, sent, nil
			}
			sent++
		}
	}
	return <-answered, sent, nil
}

// TestSlowBodies plays the slow-body attack on a real server on 127.0.0.1:
// 200 connections with a (fake) signature trickle their bodies a byte per
// 100 ms. The first MaxUnauthenticated hold every slot until the body
// deadline cuts them off (408); the others get 503 with Retry-After at
// once; an alert with a bearer token, posted while the slots are held, is
// accepted.
func TestSlowBodies(t *testing.T) {
	const (
		slow        = 200
		maxUnauth   = 16
		bodyTimeout = 2 * time.Second
		bodySize    = 1000 // 100 s at a byte per 100 ms: only a deadline ends it
	)
	var h *Handler
	held := make(chan int, 1) // unauthenticated slots in use when the alert was handed on
	h = New(HandlerOptions{Verifier: NewVerifier(testSecret), BodyTimeout: bodyTimeout, MaxUnauthenticated: maxUnauth,
		OnAlerts: func(context.Context, []AlertEvent) { held <- len(h.unauth) }})
	srv := NewServer(h, ServerOptions{BodyTimeout: bodyTimeout})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()

	fake := map[string]string{SignatureHeader: "sha256=" + strings.Repeat("0", 64)}
	type result struct {
		status, sent int
		took         time.Duration
		err          error
	}
	results := make(chan result, slow+5)
	var refused atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	attack := func(headers map[string]string) {
		wg.Go(func() {
			t0 := time.Now()
			status, sent, err := trickle(addr, "/hooks/alertmanager", headers, bodySize, 100*time.Millisecond)
			if status == http.StatusServiceUnavailable {
				refused.Add(1)
			}
			results <- result{status, sent, time.Since(t0), err}
		})
	}
	for range slow {
		attack(fake)
	}
	// A caller with the bearer token never waits for a slot, but its body
	// has the same deadline.
	for range 5 {
		attack(map[string]string{"Authorization": "Bearer " + testSecret})
	}
	// Wait until every slot is held and every other signed call refused.
	for refused.Load() < slow-maxUnauth || len(h.unauth) < maxUnauth {
		if time.Since(start) > time.Minute {
			t.Fatalf("after a minute: %d refused, %d slots held", refused.Load(), len(h.unauth))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The real alert, with a bearer token, while the slow ones are open.
	t0 := time.Now()
	req, _ := http.NewRequest("POST", "http://"+addr+"/hooks/alertmanager", bytes.NewReader(readSample(t, "alertmanager-firing.json")))
	req.Header.Set("Authorization", "Bearer "+testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	alertTook := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alert: status %d, want 200", resp.StatusCode)
	}
	if n := <-held; n != maxUnauth {
		t.Errorf("the alert was handled with %d slots held, want all %d (the slow calls still open)", n, maxUnauth)
	}
	// One more signed call is refused at once, not queued.
	firing := readSample(t, "alertmanager-firing.json")
	req, _ = http.NewRequest("POST", "http://"+addr+"/hooks/alertmanager", bytes.NewReader(firing))
	req.Header.Set(SignatureHeader, sign(testSecret, firing))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("signed call while full: status %d Retry-After %q, want 503 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	wg.Wait()
	close(results)
	var busy, cut []time.Duration
	for r := range results {
		switch {
		case r.err != nil:
			t.Errorf("slow client: %v", r.err)
		case r.status == http.StatusServiceUnavailable:
			busy = append(busy, r.took)
		case r.status == http.StatusRequestTimeout && r.sent < bodySize:
			cut = append(cut, r.took)
		default:
			t.Errorf("slow client: status %d after %d of %d bytes in %s, want 503 at once or 408 at the deadline", r.status, r.sent, bodySize, r.took)
		}
	}
	if len(busy) != slow-maxUnauth || len(cut) != maxUnauth+5 {
		t.Errorf("%d refused with 503 and %d cut off with 408, want %d and %d", len(busy), len(cut), slow-maxUnauth, maxUnauth+5)
	}
	slices.Sort(busy)
	slices.Sort(cut)
	if len(busy) > 0 && len(cut) > 0 {
		t.Logf("%d slow-body connections (a byte per 100 ms, %d-byte bodies), body timeout %s, %d unauthenticated slots:",
			slow+5, bodySize, bodyTimeout, maxUnauth)
		t.Logf("  %d refused with 503: median %s, slowest %s after connecting", len(busy), busy[len(busy)/2].Round(time.Millisecond), busy[len(busy)-1].Round(time.Millisecond))
		t.Logf("  %d cut off with 408: first %s, last %s after connecting", len(cut), cut[0].Round(time.Millisecond), cut[len(cut)-1].Round(time.Millisecond))
		t.Logf("  bearer alert accepted in %s while they were open; all closed %s after the first connected",
			alertTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
}

// TestUnauthenticatedBodyNotRead: a call with no credentials, or a wrong
// bearer token and no signature, is refused from its headers: the answer
// comes before a single body byte is sent.
func TestUnauthenticatedBodyNotRead(t *testing.T) {
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnPush: func(context.Context, PushEvent) {}})
	srv := NewServer(h, ServerOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	for _, headers := range []map[string]string{nil, {"Authorization": "Bearer guess"}, {GitLabTokenHeader: "guess"}, {JFrogAuthHeader: "guess"}} {
		// A gap of an hour: any byte sent would mean the server waited for it.
		status, sent, err := trickle(ln.Addr().String(), "/hooks/git", headers, 1000, time.Hour)
		if err != nil || status != http.StatusUnauthorized || sent != 0 {
			t.Errorf("headers %v: status %d after %d body bytes (%v), want 401 after none", headers, status, sent, err)
		}
	}
	// A wrong secret path is refused from the path alone.
	reg := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnRegistry: func(context.Context, []RegistryEvent) {}})
	regSrv := NewServer(reg, ServerOptions{})
	regLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go regSrv.Serve(regLn)
	defer regSrv.Close()
	status, sent, err := trickle(regLn.Addr().String(), "/hooks/registry/"+PathToken("guess"), nil, 1000, time.Hour)
	if err != nil || status != http.StatusUnauthorized || sent != 0 {
		t.Errorf("wrong secret path: status %d after %d body bytes (%v), want 401 after none", status, sent, err)
	}
}

func TestNewServerTimeouts(t *testing.T) {
	srv := NewServer(http.NotFoundHandler(), ServerOptions{})
	if srv.ReadHeaderTimeout != DefaultReadHeaderTimeout || srv.ReadTimeout != DefaultReadHeaderTimeout+DefaultBodyTimeout ||
		srv.WriteTimeout != DefaultWriteTimeout || srv.IdleTimeout != DefaultIdleTimeout || srv.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("defaults: %+v", srv)
	}
	srv = NewServer(http.NotFoundHandler(), ServerOptions{ReadHeaderTimeout: time.Second, BodyTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second, IdleTimeout: 4 * time.Second})
	if srv.ReadTimeout != 3*time.Second || srv.WriteTimeout != 3*time.Second || srv.IdleTimeout != 4*time.Second {
		t.Errorf("set: %+v", srv)
	}
}
