package prometheus

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/httpx"
	"github.com/ferry-dev/ferry/internal/httpx/httpxtest"
)

// TestRedirectCredentials: a Prometheus at 127.0.0.1 answering 307 to
// another origin must not get ferry to send its credentials there. Before
// the client was built with prometheus/common, the bearer token went to
// localhost (issue 18, item 3a). A redirect to another host is followed
// without credentials; one to another port of the same host, where
// prometheus/common would add them again, is refused.
func TestRedirectCredentials(t *testing.T) {
	const token, pass = "s3cret-token", "s3cret-pass"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		trapHost  string
		basic     bool
		followed  bool
		refused   bool
		noCredsOK bool
	}{
		{name: "bearer, other host", trapHost: "localhost", followed: true},
		{name: "bearer, other port", trapHost: "127.0.0.1", refused: true},
		{name: "basic, other host", trapHost: "localhost", basic: true, followed: true},
		{name: "basic, other port", trapHost: "127.0.0.1", basic: true, refused: true},
		{name: "no credentials, other port", trapHost: "127.0.0.1", noCredsOK: true, followed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trap := httpxtest.NewTrap(t, tc.trapHost)
			srv := httptest.NewServer(httpxtest.Redirect(trap.URL(), http.StatusTemporaryRedirect))
			t.Cleanup(srv.Close)
			addr, opts := srv.URL, Options{Timeout: 5 * time.Second}
			switch {
			case tc.basic:
				u, _ := url.Parse(srv.URL)
				u.User = url.UserPassword("ferry", pass)
				addr = u.String()
			case !tc.noCredsOK:
				opts.BearerTokenFile = file
			}
			_, err := newProvider(t, addr, opts).Instant(t.Context(), "up", time.Time{})
			if err == nil {
				t.Fatal("the trap's empty answer should not parse as a result")
			}
			if leaks := trap.Leaks(token, pass); len(leaks) > 0 {
				t.Fatalf("credentials reached %s: %v", trap.URL(), leaks)
			}
			if got := len(trap.Requests()) > 0; got != tc.followed {
				t.Errorf("redirect followed = %v, want %v (err %v)", got, tc.followed, err)
			}
			if tc.refused && !errors.Is(err, httpx.ErrRedirect) {
				t.Errorf("err = %v, want ErrRedirect", err)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), pass) {
				t.Errorf("error leaks a credential: %v", err)
			}
		})
	}
}

// TestBodyLimit: an answer over MaxBodyBytes is cut with an error naming
// the server and the limit, whatever client_golang's reader does.
func TestBodyLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`)
		for i := 0; i < 1<<12; i++ {
			if _, err := io.WriteString(w, `{"metric":{"a":"1"},"value":[1700000000,"1"]},`); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err := newProvider(t, srv.URL, Options{MaxBodyBytes: 64 << 10}).InstantVector(t.Context(), "up", time.Time{})
	want := "prometheus " + host + " /api/v1/query: body exceeds 64 KiB"
	if !errors.Is(err, httpx.ErrBodyTooLarge) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}
