// Package httpxtest helps test that credentials do not follow redirects: a
// trap server on another origin records what reaches it, and a redirect
// handler sends clients there.
package httpxtest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Seen is one request that reached a Trap.
type Seen struct {
	Method, Path string
	Header       http.Header
}

// Trap is a server on 127.0.0.1 that records every request and answers
// 200 with an empty JSON object. Its URL names it by the host given to
// NewTrap, so "localhost" is another host than a server at 127.0.0.1.
type Trap struct {
	srv  *httptest.Server
	host string
	mu   sync.Mutex
	seen []Seen
}

// NewTrap starts a trap reached as host ("localhost", or "127.0.0.1" for
// another port of the same host); it stops when the test ends.
func NewTrap(t testing.TB, host string) *Trap {
	t.Helper()
	tr := &Trap{host: host}
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.seen = append(tr.seen, Seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
		tr.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(tr.srv.Close)
	return tr
}

// URL is the trap's base URL, by its host name.
func (tr *Trap) URL() string {
	_, port, _ := net.SplitHostPort(tr.srv.Listener.Addr().String())
	return "http://" + net.JoinHostPort(tr.host, port)
}

// Requests returns what reached the trap so far.
func (tr *Trap) Requests() []Seen {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]Seen(nil), tr.seen...)
}

// Leaks lists every header of every request that reached the trap and
// carries one of secrets, or is a credential header whatever its value.
func (tr *Trap) Leaks(secrets ...string) []string {
	var out []string
	for _, s := range tr.Requests() {
		for k, vs := range s.Header {
			for _, v := range vs {
				switch {
				case credentialHeader(k):
					out = append(out, fmt.Sprintf("%s %s: %s: %s", s.Method, s.Path, k, v))
				case containsAny(v, secrets):
					out = append(out, fmt.Sprintf("%s %s: %s carries a secret", s.Method, s.Path, k))
				}
			}
		}
	}
	return out
}

func credentialHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Authorization", "Proxy-Authorization", "Cookie", "Private-Token", "X-Api-Key":
		return true
	}
	return false
}

func containsAny(v string, secrets []string) bool {
	for _, s := range secrets {
		if s != "" && strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// Redirect answers every request with code (307 keeps the method and
// body) to base plus the request's path and query.
func Redirect(base string, code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.TrimSuffix(base, "/")+r.URL.RequestURI(), code)
	})
}
