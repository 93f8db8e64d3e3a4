package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

const answer = "0123456789abcdefghijklmnopqrstuvwxyz"

// backend is a real HTTP server answering a fixed body.
func backend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// rawGet sends one HTTP/1.1 request over a fresh connection and returns
// what came back before the connection ended.
func rawGet(t *testing.T, addr string, timeout time.Duration) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestProxyModes(t *testing.T) {
	srv := backend(t)
	target := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name    string
		fault   Fault
		check   func(t *testing.T, got string, err error)
		faulted bool
	}{
		{"pass", Fault{}, func(t *testing.T, got string, err error) {
			if err != nil || !strings.HasSuffix(got, answer) {
				t.Fatalf("got %q, %v; want the whole answer", got, err)
			}
		}, false},
		{"delay", Fault{Mode: Delay, Delay: 50 * time.Millisecond}, func(t *testing.T, got string, err error) {
			if err != nil || !strings.HasSuffix(got, answer) {
				t.Fatalf("got %q, %v; want the whole answer, late", got, err)
			}
		}, false},
		{"drop", Fault{Mode: Drop}, func(t *testing.T, got string, err error) {
			if err != nil || got != "" {
				t.Fatalf("got %q, %v; want a clean close without an answer", got, err)
			}
		}, true},
		{"reset", Fault{Mode: Reset}, func(t *testing.T, got string, err error) {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("got %q, %v; want ECONNRESET", got, err)
			}
		}, true},
		{"truncate", Fault{Mode: Truncate, Bytes: 20}, func(t *testing.T, got string, err error) {
			if err != nil || len(got) != 20 {
				t.Fatalf("got %d bytes %q, %v; want exactly 20", len(got), got, err)
			}
		}, true},
		{"black hole", Fault{Mode: BlackHole}, func(t *testing.T, got string, err error) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || got != "" {
				t.Fatalf("got %q, %v; want nothing until the deadline", got, err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, target)
			p.Set(tt.fault)
			got, err := rawGet(t, p.Addr(), 500*time.Millisecond)
			tt.check(t, got, err)
			if st := p.Stats(); st.Conns != 1 || (st.Faulted > 0) != tt.faulted {
				t.Errorf("stats %+v, want 1 connection, faulted %v", st, tt.faulted)
			}
			// Every fault clears: the next request gets the whole answer.
			p.Clear()
			if got, err := rawGet(t, p.Addr(), 2*time.Second); err != nil || !strings.HasSuffix(got, answer) {
				t.Fatalf("after Clear: got %q, %v", got, err)
			}
		})
	}
}

// A keep-alive connection opened before the fault meets it on its next
// request, and a black-holed request ends its connection when the fault
// clears so the client can retry on a fresh one.
func TestProxyFaultsOpenConnections(t *testing.T) {
	srv := backend(t)
	p := startProxy(t, strings.TrimPrefix(srv.URL, "http://"))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	get := func() (*http.Response, error) {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(r, nil)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if _, err := get(); err != nil {
		t.Fatal(err)
	}
	p.Set(Fault{Mode: BlackHole})
	cleared := make(chan struct{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		p.Clear()
		close(cleared)
	}()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := get(); err == nil {
		t.Fatal("a black-holed request got an answer")
	}
	<-cleared
	p.Set(Fault{Mode: Drop})
	resp, err := http.Get("http://" + p.Addr())
	if err == nil {
		resp.Body.Close()
		t.Fatal("a dropped connection answered")
	}
}

func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := startProxy(t, dead)
	if got, err := rawGet(t, p.Addr(), 2*time.Second); got != "" || err != nil {
		t.Fatalf("got %q, %v; want a close without an answer", got, err)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Pass: "pass", Reset: "reset", BlackHole: "black-hole", Mode(42): "mode(42)"} {
		if got := m.String(); got != want {
			t.Errorf("%d: %q, want %q", int(m), got, want)
		}
	}
}
