package sonar

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferry-dev/ferry/internal/httpx/httpxtest"
)

// TestRedirectCredentials: a SonarQube at 127.0.0.1 that redirects to
// another origin (another host, or another port of the same host) does not
// get ferry's default client to send the token there. net/http's own
// policy kept Authorization on another port of the same host.
func TestRedirectCredentials(t *testing.T) {
	const token = "squ_s3cret"
	for _, trapHost := range []string{"localhost", "127.0.0.1"} {
		t.Run(trapHost, func(t *testing.T) {
			trap := httpxtest.NewTrap(t, trapHost)
			srv := httptest.NewServer(httpxtest.Redirect(trap.URL(), http.StatusTemporaryRedirect))
			t.Cleanup(srv.Close)
			c, err := New(srv.URL, token, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.QualityGate(t.Context(), "checkout", "0a1b2c3d")
			if len(trap.Requests()) == 0 {
				t.Fatal("the redirect was not followed; the test checks nothing")
			}
			if leaks := trap.Leaks(token); len(leaks) > 0 {
				t.Errorf("the token reached %s: %v", trap.URL(), leaks)
			}
		})
	}
}
