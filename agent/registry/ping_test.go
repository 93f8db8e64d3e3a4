package registry

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counting serves h and counts its API checks (GET /v2/) and the
// connections clients opened (a TLS attempt on a plain-HTTP server is one).
type counting struct {
	h     http.Handler
	pings atomic.Int64
	conns atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		c.pings.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

func (c *counting) serve(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(c)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// A fresh agent asks the API check once per registry host, not once per
// repository, and opens few connections: with 10,000 apps on one registry
// it asked 10,000 times, each on a plain-HTTP registry after a TLS
// handshake that fails, and dialled most requests anew.
func TestOnePingPerRegistry(t *testing.T) {
	const repos = 40
	reg := newRegistry()
	pushHost := serve(t, reg)
	want := map[string]string{}
	for i := range repos {
		want[fmt.Sprint(i)] = digestOf(t, push(t, fmt.Sprintf("%s/fleet/app%02d:1.0.0", pushHost, i)))
	}
	cnt := &counting{h: reg}
	host := cnt.serve(t)
	c := NewClient(Options{RequestsPerSecond: -1})
	lookUp := func(i int) error {
		repo := fmt.Sprintf("%s/fleet/app%02d", host, i)
		if _, err := c.Tags(t.Context(), repo, false); err != nil {
			return err
		}
		d, err := c.Resolve(t.Context(), repo, "1.0.0", false)
		if err == nil && d.Digest != want[fmt.Sprint(i)] {
			err = fmt.Errorf("%s: digest %s, want %s", repo, d.Digest, want[fmt.Sprint(i)])
		}
		return err
	}
	// As the agent's look-ups: a few workers, each through many repositories.
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, repos)
	next := make(chan int, repos)
	for i := range repos {
		next <- i
	}
	close(next)
	for range workers {
		wg.Go(func() {
			for i := range next {
				errs <- lookUp(i)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := cnt.pings.Load(); n != 1 {
		t.Errorf("%d API checks for %d repositories on one registry, want 1", n, repos)
	}
	// One per worker, and the first check's TLS attempt and its own.
	if n := cnt.conns.Load(); n > workers+2 {
		t.Errorf("%d connections for %d repositories, want them reused", n, repos)
	}
}

// The API check's answer is the registry's, so a cached one still leads
// each repository to its own token: a bearer registry gets one token
// request per repository, scoped to it.
func TestPingCacheKeepsTokensPerRepository(t *testing.T) {
	reg := newRegistry()
	pushHost := serve(t, reg)
	for i := range 3 {
		push(t, fmt.Sprintf("%s/fleet/app%d:1.0.0", pushHost, i))
	}
	var mu sync.Mutex
	scopes := map[string]int{}
	var pings atomic.Int64
	var host string
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		scopes[r.URL.Query().Get("scope")]++
		mu.Unlock()
		fmt.Fprintf(w, `{"token":%q}`, "tok-"+r.URL.Query().Get("scope"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			pings.Add(1)
		}
		auth := r.Header.Get("Authorization")
		repo := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/v2/"), "/", 3)
		if len(repo) < 3 || auth != "Bearer tok-repository:"+repo[0]+"/"+repo[1]+":pull" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, host))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	})
	host = serve(t, mux)
	c := NewClient(Options{RequestsPerSecond: -1})
	for i := range 3 {
		repo := fmt.Sprintf("%s/fleet/app%d", host, i)
		if tags, err := c.Tags(t.Context(), repo, false); err != nil || len(tags) != 1 {
			t.Fatalf("Tags(%s) = %v, %v", repo, tags, err)
		}
		if _, err := c.Resolve(t.Context(), repo, "1.0.0", false); err != nil {
			t.Fatalf("Resolve(%s): %v", repo, err)
		}
	}
	if n := pings.Load(); n != 1 {
		t.Errorf("%d API checks, want 1", n)
	}
	for i := range 3 {
		if s := fmt.Sprintf("repository:fleet/app%d:pull", i); scopes[s] != 1 {
			t.Errorf("token requests for %s: %d, want 1 (all: %v)", s, scopes[s], scopes)
		}
	}
}

// An answer is kept for pingTTL only: a registry that changes its
// authentication is asked again.
func TestPingCacheExpires(t *testing.T) {
	var c pingCache
	now := time.Unix(1000, 0)
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:5000/v2/", nil)
	req.URL.Scheme, req.URL.Host = "http", "127.0.0.1:5000"
	resp := &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{"Www-Authenticate": {`Basic realm="x"`}}, Request: req}
	c.store(req, resp, now)
	got, err, ok := c.answer(req, now.Add(pingTTL-time.Second))
	if !ok || err != nil || got.StatusCode != http.StatusUnauthorized || got.Header.Get("WWW-Authenticate") != `Basic realm="x"` {
		t.Fatalf("fresh answer = %+v, %v, %v", got, err, ok)
	}
	https := req.Clone(req.Context())
	https.URL.Scheme = "https"
	if _, err, ok := c.answer(https, now.Add(time.Second)); !ok || err == nil {
		t.Errorf("an HTTPS check of a host that answered over HTTP: %v, %v; want a refusal without dialling", err, ok)
	}
	if _, _, ok := c.answer(req, now.Add(pingTTL)); ok {
		t.Error("an answer older than pingTTL was reused")
	}
	// 500 is no answer to keep.
	c.store(req, &http.Response{StatusCode: http.StatusInternalServerError, Request: req}, now.Add(2*pingTTL))
	if _, _, ok := c.answer(req, now.Add(2*pingTTL)); ok {
		t.Error("a 500 was kept")
	}
}
