package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
)

// passOnly is a Source whose only news is its last pass.
type passOnly struct{ pass *Pass }

func (s passOnly) Pipeline() (*config.Pipeline, error) {
	return &config.Pipeline{Apps: []config.App{{Name: "checkout", Image: "registry.example/shop/checkout"}},
		Environments: []config.Environment{{Name: "dev", Overlay: "overlays/dev", Auto: true}}}, nil
}
func (passOnly) Status(context.Context) ([]Cell, error)                         { return nil, nil }
func (s passOnly) LastPass() *Pass                                              { return s.pass }
func (passOnly) Progress() []Analysis                                           { return nil }
func (passOnly) Timeline(context.Context, string, string, int) ([]Event, error) { return nil, nil }

// TestHomeShowsUntrusted: the tags passed over for want of a verified
// signature and the versions set by unverified commits are on the home
// page, with why, as text.
func TestHomeShowsUntrusted(t *testing.T) {
	pass := &Pass{Untrusted: []Untrusted{
		{App: "checkout", Version: "1.2.0", What: "tag", Reason: "no cosign signature of sha256:<b>x</b>"},
		{App: "checkout", Env: "dev", Version: "1.1.0", What: "commit", Reason: "commit abc123def456 by bob@example.com is not verified: the commit is not signed"},
	}}
	w := httptest.NewRecorder()
	New(passOnly{pass}, Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	body := w.Body.String()
	for _, want := range []string{
		"<h2>Not trusted</h2>",
		"registry <span class=\"muted\">(no signature that verifies)</span>",
		"no cosign signature of sha256:&lt;b&gt;x&lt;/b&gt;",
		"dev <span class=\"muted\">(unverified commit)</span>",
		"by bob@example.com is not verified: the commit is not signed",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/ lacks %s", want)
		}
	}
	w = httptest.NewRecorder()
	New(passOnly{&Pass{}}, Options{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if strings.Contains(w.Body.String(), "Not trusted") {
		t.Error("the section shows with nothing in it")
	}
}
