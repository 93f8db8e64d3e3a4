package httpx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/httpx"
	"github.com/ferry-dev/ferry/internal/httpx/httpxtest"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// withToken is how SDKs add a token: a transport wrapped around the
// client's, setting the header on every request it sends.
func withToken(c *http.Client, header, value string) *http.Client {
	next := c.Transport
	c.Transport = rtFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set(header, value)
		return next.RoundTrip(r)
	})
	return c
}

// TestRedirectCredentials sends credentials to a server on 127.0.0.1 that
// redirects to a trap; whatever the credential and however it was added,
// it must reach the trap only when the trap is the same origin. net/http's
// own policy is the control: it leaks in the cases marked stdlibLeaks.
func TestRedirectCredentials(t *testing.T) {
	const secret = "s3cret"
	cases := []struct {
		name        string
		trapHost    string // "localhost": another host; "127.0.0.1": another port
		client      func(*http.Client) *http.Client
		header      func(*http.Request)
		stdlibLeaks bool
	}{
		{name: "Authorization on the request, other host", trapHost: "localhost",
			header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }},
		{name: "Authorization on the request, other port", trapHost: "127.0.0.1",
			header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }, stdlibLeaks: true},
		{name: "GitLab Private-Token on the request, other host", trapHost: "localhost",
			header: func(r *http.Request) { r.Header.Set("Private-Token", secret) }, stdlibLeaks: true},
		{name: "Cookie and X-Api-Key, other port", trapHost: "127.0.0.1",
			header: func(r *http.Request) { r.Header.Set("Cookie", "s="+secret); r.Header.Set("X-Api-Key", secret) }, stdlibLeaks: true},
		{name: "token added by a wrapping transport, other host", trapHost: "localhost",
			client: func(c *http.Client) *http.Client { return withToken(c, "Authorization", "Bearer "+secret) }, stdlibLeaks: true},
		{name: "token added by a wrapping transport, other port", trapHost: "127.0.0.1",
			client: func(c *http.Client) *http.Client { return withToken(c, "Authorization", "token "+secret) }, stdlibLeaks: true},
	}
	for _, tc := range cases {
		for _, policy := range []string{"httpx", "net/http"} {
			t.Run(tc.name+"/"+policy, func(t *testing.T) {
				trap := httpxtest.NewTrap(t, tc.trapHost)
				srv := httptest.NewServer(httpxtest.Redirect(trap.URL(), http.StatusTemporaryRedirect))
				defer srv.Close()
				c := httpx.NewClient(nil, httpx.Timeouts{})
				if policy == "net/http" {
					c = &http.Client{Transport: http.DefaultTransport}
				}
				if tc.client != nil {
					c = tc.client(c)
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/x?page=2", nil)
				req.Header.Set("Accept", "application/json")
				if tc.header != nil {
					tc.header(req)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				httpx.Drain(resp, 1<<10)
				seen := trap.Requests()
				if len(seen) != 1 || seen[0].Path != "/api/x" {
					t.Fatalf("the redirect should be followed once to the trap: %+v", seen)
				}
				leaks := trap.Leaks(secret)
				switch {
				case policy == "httpx" && len(leaks) > 0:
					t.Errorf("credentials reached another origin: %v", leaks)
				case policy == "httpx" && seen[0].Header.Get("Accept") != "application/json":
					t.Errorf("the Accept header should follow the redirect: %v", seen[0].Header)
				case policy == "net/http" && tc.stdlibLeaks && len(leaks) == 0:
					t.Errorf("control: net/http was expected to leak here; the case tests nothing")
				}
			})
		}
	}
}

// A redirect within the origin keeps the credentials: the policy must not
// break servers that redirect to themselves (a trailing slash, a moved
// path).
func TestRedirectSameOriginKeepsCredentials(t *testing.T) {
	var got string
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new", http.StatusFound) })
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("Authorization") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/old", nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := httpx.NewClient(nil, httpx.Timeouts{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	httpx.Drain(resp, 1<<10)
	if got != "Bearer t" {
		t.Fatalf("Authorization after a same-origin redirect = %q", got)
	}
}

// Once a chain has left the origin, coming back does not restore the
// credentials: the hop in between could have chosen where to send them.
func TestRedirectChainIsSticky(t *testing.T) {
	var back string
	home := http.NewServeMux()
	srv := httptest.NewServer(home)
	defer srv.Close()
	away := httptest.NewServer(httpxtest.Redirect(srv.URL+"/", http.StatusFound))
	defer away.Close()
	awayURL := strings.Replace(away.URL, "127.0.0.1", "localhost", 1)
	home.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, awayURL+"/back", http.StatusFound) })
	home.HandleFunc("/back", func(w http.ResponseWriter, r *http.Request) { back = r.Header.Get("Authorization") })
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/start", nil)
	req.Header.Set("Authorization", "Bearer t")
	c := withToken(httpx.NewClient(nil, httpx.Timeouts{}), "X-Ignored", "x")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	httpx.Drain(resp, 1<<10)
	if back != "" {
		t.Fatalf("Authorization came back after the chain left the origin: %q", back)
	}
}

func TestRedirectRefused(t *testing.T) {
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/plain", http.StatusFound)
	}))
	defer tls.Close()
	c := httpx.NewClient(tls.Client().Transport, httpx.Timeouts{})
	if _, err := c.Get(tls.URL); !errors.Is(err, httpx.ErrRedirect) {
		t.Errorf("https -> http: err = %v, want ErrRedirect", err)
	}

	var loop *httptest.Server
	loop = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, loop.URL, http.StatusFound)
	}))
	defer loop.Close()
	if _, err := httpx.NewClient(nil, httpx.Timeouts{}).Get(loop.URL); !errors.Is(err, httpx.ErrRedirect) {
		t.Errorf("redirect loop: err = %v, want ErrRedirect", err)
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"http://127.0.0.1:80/a", "http://127.0.0.1/b", true},
		{"https://Reg.Example/a", "https://reg.example:443/b", true},
		{"http://127.0.0.1:5000/", "http://localhost:5000/", false},
		{"http://127.0.0.1:5000/", "http://127.0.0.1:5001/", false},
		{"http://reg.example/", "https://reg.example/", false},
		{"https://reg.example/", "https://evil.reg.example/", false},
	} {
		a, b := mustURL(t, tc.a), mustURL(t, tc.b)
		if got := httpx.SameOrigin(a, b); got != tc.want {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestDeadlines: a server that accepts and never answers, and one that
// sends headers then stalls the body, both end with an error instead of
// holding the caller. The bounds are short so the test is quick; it checks
// that an error comes, not how fast.
func TestDeadlines(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("/silent", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"tags":[`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	t.Run("response header", func(t *testing.T) {
		c := httpx.NewClient(nil, httpx.Timeouts{ResponseHeader: 100 * time.Millisecond, Request: -1})
		if _, err := c.Get(srv.URL + "/silent"); err == nil {
			t.Fatal("want an error from a server that never answers")
		}
	})
	t.Run("whole request", func(t *testing.T) {
		c := httpx.NewClient(nil, httpx.Timeouts{Request: 200 * time.Millisecond})
		resp, err := c.Get(srv.URL + "/stall")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("want an error from a body that stalls")
		}
	})
	t.Run("WithDeadline under a client without timeout", func(t *testing.T) {
		c := &http.Client{Transport: httpx.WithDeadline(http.DefaultTransport, 200*time.Millisecond)}
		resp, err := c.Get(srv.URL + "/stall")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not read within 200ms") {
			t.Fatalf("err = %v, want the body deadline named", err)
		}
		_, err = c.Get(srv.URL + "/silent")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 200ms") {
			t.Fatalf("err = %v, want the request deadline named", err)
		}
	})
}

// LimitResponses bounds bodies that a library reads itself.
func TestLimitResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 2048))
	}))
	defer srv.Close()
	rt := httpx.LimitResponses(http.DefaultTransport, func(r *http.Request) (string, int64) {
		return "prometheus " + r.URL.Host + " " + r.URL.Path, 1024
	})
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL + "/api/v1/query")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, httpx.ErrBodyTooLarge) || !strings.HasSuffix(err.Error(), "/api/v1/query: body exceeds 1 KiB") {
		t.Fatalf("err = %v", err)
	}
}

// Harden gives a caller's client the same guarantees as NewClient's.
func TestHarden(t *testing.T) {
	const secret = "s3cret"
	trap := httpxtest.NewTrap(t, "127.0.0.1")
	srv := httptest.NewServer(httpxtest.Redirect(trap.URL(), http.StatusFound))
	defer srv.Close()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 4096))
	}))
	defer big.Close()
	own := &http.Client{Transport: http.DefaultTransport}
	ownRT := own.Transport
	// The SDK wraps the hardened client's transport with its token layer.
	c := withToken(httpx.Harden(own, httpx.Timeouts{}, func(*http.Request) (string, int64) { return "test", 1024 }), "Private-Token", secret)
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	httpx.Drain(resp, 1<<10)
	if leaks := trap.Leaks(secret); len(trap.Requests()) != 1 || len(leaks) > 0 {
		t.Fatalf("requests %d, leaks %v", len(trap.Requests()), leaks)
	}
	resp, err = c.Get(big.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, httpx.ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
	if own.CheckRedirect != nil || fmt.Sprintf("%p", own.Transport) != fmt.Sprintf("%p", ownRT) {
		t.Error("Harden changed the caller's client")
	}
}
