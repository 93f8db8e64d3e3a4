package registry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/time/rate"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	const limit = 30 * time.Second
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", time.Second}, // absent: default
		{"0", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"31", limit}, // capped
		{"99999999999999999999", limit},
		{"-1", time.Second}, // malformed: default
		{"1.5", time.Second},
		{"soon", time.Second},
		{now.Add(12 * time.Second).Format(http.TimeFormat), 12 * time.Second},
		{now.Add(time.Hour).Format(http.TimeFormat), limit},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},       // past date: retry now
		{"Wednesday, 25-Nov-26 18:00:05 GMT", 5 * time.Second}, // RFC 850
		{"Wed Nov 25 18:00:03 2026", 3 * time.Second},          // ANSI C
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header, now, limit); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
	if got := retryAfter("", now, time.Millisecond); got != time.Millisecond {
		t.Errorf("default wait is not capped: %s", got)
	}
}

// TestRetryReplaysBody: a retried POST (such as an OAuth token request)
// sends its whole body again.
func TestRetryReplaysBody(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	rt := &throttle{
		base: http.DefaultTransport, limit: rate.Inf, burst: 1, maxRetryAfter: time.Second,
		log: slog.New(slog.DiscardHandler), now: time.Now, limiters: map[string]*rate.Limiter{},
	}
	form := "grant_type=refresh_token&scope=repository%3Ashop%2Fcheckout%3Apull"
	resp, err := (&http.Client{Transport: rt}).Post(srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || bodies[0] != form || bodies[1] != form {
		t.Fatalf("server received bodies %q, want the form twice", bodies)
	}
	if rt.retries.Load() != 1 {
		t.Errorf("retries = %d, want 1", rt.retries.Load())
	}
}

func TestTooManyRequests(t *testing.T) {
	tests := []struct {
		name        string
		limit       int64
		retryAfter  string
		wantRetries uint64
		wantHits    int64 // requests that reached the server
		wantErr     bool
	}{
		{"none", 0, "", 0, 2, false},
		{"three, delta seconds", 3, "1", 3, 5, false},
		{"one, HTTP date", 1, "Wed, 21 Oct 2015 07:28:00 GMT", 1, 3, false},
		{"one, no header", 1, "", 1, 3, false},
		{"more than five retries", 10, "2", 5, 6, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &tooMany{next: newRegistry(), retryAfter: tt.retryAfter}
			host := serve(t, h)
			repo := host + "/shop/checkout"
			push(t, repo+":1.0.0")
			h.hits.Store(0)
			h.limit.Store(tt.limit)
			// Cap waits so the test does not sleep for the header's value.
			c := NewClient(Options{MaxRetryAfter: time.Nanosecond, RequestsPerSecond: -1})
			tags, err := c.Tags(t.Context(), repo, false)
			if tt.wantErr {
				var te *transport.Error
				if !errors.As(err, &te) || te.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("want a 429 error, got %v", err)
				}
				if !strings.Contains(err.Error(), repo) {
					t.Errorf("error %q does not name %s", err, repo)
				}
				t.Log(err)
			} else if err != nil || !slices.Equal(tags, []string{"1.0.0"}) {
				t.Fatalf("Tags = %v, %v", tags, err)
			}
			if got := c.Stats().Retries429; got != tt.wantRetries {
				t.Errorf("Retries429 = %d, want %d", got, tt.wantRetries)
			}
			// Equal hits also show go-containerregistry did not retry 429s itself.
			if got := h.hits.Load(); got != tt.wantHits {
				t.Errorf("server saw %d requests, want %d", got, tt.wantHits)
			}
		})
	}
}

func TestTooManyRequestsCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	h := &tooMany{next: newRegistry(), retryAfter: "3600", onLimit: cancel}
	h.limit.Store(1 << 30)
	host := serve(t, h)
	c := NewClient(Options{MaxRetryAfter: 2 * time.Hour})
	_, err := c.Tags(ctx, host+"/shop/checkout", false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestRateLimitWaits(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/checkout"
	push(t, repo+":1.0.0")
	// Burst 10, then 10/s: the first call pings and lists, later ones list
	// on the reused transport, so calls 10 and on must wait.
	c := NewClient(Options{RequestsPerSecond: 10})
	for range 14 {
		if _, err := c.Tags(t.Context(), repo, false); err != nil {
			t.Fatal(err)
		}
	}
	if c.Stats().RateLimitWaits == 0 {
		t.Error("no request waited for the rate limiter")
	}
}

func TestRateLimitDeadline(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/checkout"
	push(t, repo+":1.0.0")
	// One request per 1000s: the second request of the call cannot be made
	// before the deadline, so the call fails at once instead of sleeping.
	c := NewClient(Options{RequestsPerSecond: 0.001})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := c.Tags(ctx, repo, false)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want context.DeadlineExceeded, got %v", err)
	}
	if c.Stats().RateLimitWaits == 0 {
		t.Error("RateLimitWaits = 0")
	}
}
