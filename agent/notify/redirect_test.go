package notify

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/httpx"
	"github.com/ferry-dev/ferry/internal/httpx/httpxtest"
)

// TestRedirectCredentials: a webhook receiver at 127.0.0.1 that answers
// 307 to another origin (another host, or another port of the same host)
// does not get a secret sent there. Before, net/http's policy kept the
// webhook's Authorization on another port of the same host, and its
// Referer header carried the Slack URL, whose path is the secret, to any
// host.
func TestRedirectCredentials(t *testing.T) {
	const token = "whk_s3cret"
	ev := Event{Kind: Promotion, App: "checkout", Env: "prod", Version: "1.2.3", Time: time.Unix(0, 0).UTC()}
	for _, trapHost := range []string{"localhost", "127.0.0.1"} {
		t.Run(trapHost, func(t *testing.T) {
			trap := httpxtest.NewTrap(t, trapHost)
			srv := httptest.NewServer(httpxtest.Redirect(trap.URL()+"/moved", http.StatusTemporaryRedirect))
			t.Cleanup(srv.Close)
			w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/hook", Token: token})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Send(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
			s, err := NewSlack(SlackConfig{URL: srv.URL + "/services/T0/B0/" + token})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
			seen := trap.Requests()
			if len(seen) != 2 {
				t.Fatalf("%d requests reached the trap, want 2", len(seen))
			}
			if leaks := trap.Leaks(token); len(leaks) > 0 {
				t.Errorf("a secret reached %s: %v", trap.URL(), leaks)
			}
		})
	}
}

// TestAnswerBounded: a receiver whose answer never ends holds the sender
// for at most maxAnswer bytes, and its error names the receiver by origin.
func TestAnswerBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		chunk := []byte(strings.Repeat("x", 4096))
		for range 1 << 12 { // 16 MiB, then stop so a broken limit ends too
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/hook?key=s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(t.Context(), Event{Kind: Promotion})
	if err == nil || !strings.Contains(err.Error(), "status 502") || strings.Contains(err.Error(), "s3cret") || IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable 502 that hides the URL's key", err)
	}
	// The limit itself, on the client the poster uses.
	resp, err := w.p.client.Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, httpx.ErrBodyTooLarge) || !strings.Contains(err.Error(), "webhook "+srv.URL+": body exceeds 64 KiB") {
		t.Fatalf("reading the whole answer: %v, want the 64 KiB limit", err)
	}
}
