package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/httpx"
	"github.com/ferry-dev/ferry/internal/httpx/httpxtest"
)

// streamTags answers /v2/ and streams a tag list that goes on until the
// client hangs up or stop bytes were written (so that, without a limit,
// the test ends with a long list instead of running out of memory).
type streamTags struct {
	stop    int64
	written atomic.Int64
}

func (s *streamTags) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	n, _ := io.WriteString(w, `{"name":"shop/checkout","tags":["1.0.0"`)
	chunk := []byte(strings.Repeat(`,"1.0.0"`, 4096))
	for total := int64(n); total < s.stop; total += int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		s.written.Add(int64(len(chunk)))
	}
	_, _ = io.WriteString(w, `]}`)
}

// TestTagsEndlessBody: a registry streaming a tag list without end is cut
// at MaxBodyBytes, with an error naming the registry, the repository and
// the limit.
func TestTagsEndlessBody(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		limit string
	}{
		{"default limit", Options{}, "4 MiB"},
		{"configured limit", Options{MaxBodyBytes: 64 << 10}, "64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := serve(t, &streamTags{stop: 64 << 20})
			_, err := NewClient(tc.opts).Tags(t.Context(), host+"/shop/checkout", false)
			want := fmt.Sprintf("registry %s tag list for shop/checkout: body exceeds %s", host, tc.limit)
			if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, httpx.ErrBodyTooLarge) {
				t.Fatalf("err = %v, want it to contain %q", err, want)
			}
		})
	}
}

// pages serves a tag list of one tag per page; link says what each page's
// Link header points to.
type pages struct {
	link     func(r *http.Request, page int64) string
	pad      int
	requests atomic.Int64
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		return
	}
	n := p.requests.Add(1)
	if l := p.link(r, n); l != "" {
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, l))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"name":"shop/checkout","tags":["1.0.%d"]%s}`, n, strings.Repeat(" ", p.pad))
}

// TestTagsPaging: a Link header that points back to a page already read
// stops at once; one that always points to a new page stops at
// MaxTagPages; pages that are each small but together large stop at
// MaxTagListBytes.
func TestTagsPaging(t *testing.T) {
	self := func(r *http.Request, _ int64) string { return r.URL.RequestURI() }
	first := func(r *http.Request, n int64) string {
		if n == 1 {
			return r.URL.Path + "?n=1000&last=1.0.1"
		}
		return r.URL.Path + "?n=1000"
	}
	fresh := func(r *http.Request, n int64) string { return fmt.Sprintf("%s?n=1000&last=1.0.%d", r.URL.Path, n) }
	for _, tc := range []struct {
		name     string
		link     func(*http.Request, int64) string
		pad      int
		opts     Options
		is       error
		requests int64
		msg      string
	}{
		{name: "Link to itself", link: self, is: ErrPagingLoop, requests: 1, msg: "page 1 links to page 1"},
		{name: "Link back to the first page", link: first, is: ErrPagingLoop, requests: 2, msg: "page 2 links to page 1"},
		{name: "endless new pages", link: fresh, opts: Options{MaxTagPages: 25}, is: ErrTooManyPages, requests: 25, msg: "stopped after 25 pages"},
		{name: "default page limit", link: fresh, opts: Options{RequestsPerSecond: -1}, is: ErrTooManyPages, requests: DefaultMaxTagPages, msg: "stopped after 1000 pages"},
		{name: "pages add up", link: fresh, pad: 1000, opts: Options{MaxTagListBytes: 10 << 10}, is: httpx.ErrBodyTooLarge, requests: 10, msg: "tag list for shop/checkout (all pages): body exceeds 10 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pages{link: tc.link, pad: tc.pad}
			host := serve(t, p)
			_, err := NewClient(tc.opts).Tags(t.Context(), host+"/shop/checkout", false)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "registry "+host) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.is, tc.msg)
			}
			if got := p.requests.Load(); got != tc.requests {
				t.Errorf("%d tag-list requests, want %d", got, tc.requests)
			}
			t.Logf("%d requests: %v", p.requests.Load(), err)
		})
	}
}

// TestRegistryDeadlines: a registry that answers the API check and then
// holds a request open ends the request at RequestTimeout, and a call as a
// whole at LookupTimeout, even when the caller's context has no deadline.
func TestRegistryDeadlines(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			_, _ = io.WriteString(w, `{"tags":[`) // then nothing more
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	host := serve(t, hang)
	for _, tc := range []struct {
		name string
		opts Options
		call func(*Client) error
		msg  string
	}{
		{"tag list body stalls", Options{RequestTimeout: 200 * time.Millisecond}, func(c *Client) error {
			_, err := c.Tags(t.Context(), host+"/shop/checkout", false)
			return err
		}, "not read within 200ms"},
		{"manifest never answered", Options{RequestTimeout: 200 * time.Millisecond}, func(c *Client) error {
			_, err := c.Resolve(t.Context(), host+"/shop/checkout", "1.0.0", false)
			return err
		}, "no answer within 200ms"},
		{"lookup budget", Options{RequestTimeout: time.Hour, LookupTimeout: 200 * time.Millisecond}, func(c *Client) error {
			_, err := c.Tags(t.Context(), host+"/shop/checkout", false)
			return err
		}, "deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(NewClient(tc.opts))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %q", err, tc.msg)
			}
		})
	}
}

// tokenAuth is a registry behind a token service, as Docker Hub and
// Harbor are: /v2/ asks for a bearer token from /token, which hands one out
// for basic credentials.
func tokenAuth(user, pass, token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			fmt.Fprintf(w, `{"token":%q}`, token)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, r.Host))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// redirectTags sends tag-list and blob requests to trap, as a registry
// whose storage lives elsewhere does.
func redirectTags(trap string, next http.Handler) http.Handler {
	to := httpxtest.Redirect(trap, http.StatusTemporaryRedirect)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			to.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestRegistryRedirectCredentials: registry credentials (basic, and the
// bearer token from the token service) never reach another origin that a
// redirect names: another host (localhost for 127.0.0.1) or another port.
func TestRegistryRedirectCredentials(t *testing.T) {
	const user, pass, token = "ferry", "basic-s3cret", "bearer-s3cret"
	for _, auth := range []string{"basic", "bearer"} {
		for _, trapHost := range []string{"localhost", "127.0.0.1"} {
			t.Run(auth+" to "+trapHost, func(t *testing.T) {
				trap := httpxtest.NewTrap(t, trapHost)
				var h http.Handler = redirectTags(trap.URL(), http.NotFoundHandler())
				if auth == "basic" {
					h = basicAuth(user, pass, h)
				} else {
					h = tokenAuth(user, pass, token, h)
				}
				srv := httptest.NewServer(h)
				t.Cleanup(srv.Close)
				host := srv.Listener.Addr().String()
				kc, err := Keychain("", map[string]Basic{host: {user, pass}})
				if err != nil {
					t.Fatal(err)
				}
				_, _ = NewClient(Options{Keychain: kc}).Tags(t.Context(), host+"/shop/checkout", false)
				if len(trap.Requests()) == 0 {
					t.Fatal("the redirect was not followed; the test checks nothing")
				}
				if leaks := trap.Leaks(pass, token); len(leaks) > 0 {
					t.Errorf("credentials reached %s: %v", trap.URL(), leaks)
				}
			})
		}
	}
}
