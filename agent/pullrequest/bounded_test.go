package pullrequest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-dev/ferry/internal/httpx"
	"github.com/ferry-dev/ferry/internal/httpx/httpxtest"
)

// TestRedirectCredentials: a forge at 127.0.0.1 that redirects the API to
// another origin (another host, or another port of the same host) does
// not get the token sent there, however the SDK sends it: Gitea's
// Authorization header, GitHub's token transport, GitLab's Private-Token
// header (which net/http copies to any host). Also with a client the
// caller supplies.
func TestRedirectCredentials(t *testing.T) {
	const token = "tok_s3cret_0123456789"
	for _, kind := range Kinds() {
		for _, trapHost := range []string{"localhost", "127.0.0.1"} {
			for _, own := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s to %s, own client %v", kind, trapHost, own), func(t *testing.T) {
					trap := httpxtest.NewTrap(t, trapHost)
					srv := httptest.NewServer(httpxtest.Redirect(trap.URL(), http.StatusTemporaryRedirect))
					t.Cleanup(srv.Close)
					cfg := Config{Kind: kind, URL: srv.URL, Token: token, Repo: "ferry/fleet"}
					if own {
						cfg.HTTPClient = &http.Client{}
					}
					c, err := New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					_, _ = c.Find(t.Context(), "ferry/prod/checkout")
					if len(trap.Requests()) == 0 {
						t.Fatal("the redirect was not followed; the test checks nothing")
					}
					if leaks := trap.Leaks(token); len(leaks) > 0 {
						t.Errorf("the token reached %s: %v", trap.URL(), leaks)
					}
				})
			}
		}
	}
}

// TestAnswerLimits: an endless answer is cut at MaxBodyBytes with an error
// naming the forge, and paging that never ends stops at MaxPages.
func TestAnswerLimits(t *testing.T) {
	t.Run("endless body", func(t *testing.T) {
		for _, kind := range Kinds() {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "[")
				item := []byte(strings.Repeat(`{"number":1,"title":"x"},`, 1024))
				for range (MaxBodyBytes / len(item)) + 64 {
					if _, err := w.Write(item); err != nil {
						return
					}
				}
			}))
			c, err := New(Config{Kind: kind, URL: srv.URL, Token: "t", Repo: "ferry/fleet"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Find(t.Context(), "ferry/prod/checkout")
			srv.Close()
			if !errors.Is(err, httpx.ErrBodyTooLarge) || !strings.Contains(err.Error(), "body exceeds 16 MiB") {
				t.Errorf("%s: err = %v, want the 16 MiB limit", kind, err)
			}
		}
	})
	t.Run("endless pages", func(t *testing.T) {
		var requests atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := requests.Add(1)
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?page=%d>; rel="next"`, r.Host, r.URL.Path, n+1))
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "[]")
		}))
		t.Cleanup(srv.Close)
		c, err := New(Config{Kind: KindGitHub, URL: srv.URL, Token: "t", Repo: "ferry/fleet"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Find(t.Context(), "ferry/prod/checkout")
		if !errors.Is(err, ErrTooManyPages) || requests.Load() != MaxPages {
			t.Fatalf("err = %v after %d requests, want ErrTooManyPages after %d", err, requests.Load(), MaxPages)
		}
	})
}
