package httpx

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://scans.example/r/app.json", "https://scans.example/r/app.json"},
		{"https://user:s3cret@scans.example/r.json", "https://REDACTED@scans.example/r.json"},
		{"https://ghp_token@scans.example/r.json", "https://REDACTED@scans.example/r.json"},
		{"https://s.example/r.json?access_token=s3cret&v=2", "https://s.example/r.json?access_token=REDACTED&v=REDACTED"},
		{"https://s.example/r?X-Amz-Signature=abc&X-Amz-Signature=def", "https://s.example/r?X-Amz-Signature=REDACTED"},
		{"https://s.example/r?token", "https://s.example/r?token=REDACTED"},
		{"https://s.example/r#frag-s3cret", "https://s.example/r"},
		{"http://127.0.0.1:5000/v2/shop/checkout/tags/list?n=100&last=1.0.0", "http://127.0.0.1:5000/v2/shop/checkout/tags/list?n=REDACTED&last=REDACTED"},
		{"://bad s3cret", "<unparsable URL>"},
	} {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") || strings.Contains(got, "ghp_token") {
			t.Errorf("RedactURL(%q) = %q still shows the secret", tc.in, got)
		}
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/s3cret": "https://hooks.slack.com",
		"http://u:p@127.0.0.1:8080/x?y=z":               "http://127.0.0.1:8080",
		"not a url":                                     "<unparsable URL>",
	} {
		if got := Origin(in); got != want {
			t.Errorf("Origin(%q) = %q, want %q", in, got, want)
		}
	}
}

// A failed request's *url.Error repeats the URL: RedactError hides its
// secrets and keeps the cause for errors.Is.
func TestRedactError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://user:s3cret@127.0.0.1:1/r?token=s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = http.DefaultClient.Do(req)
	if err == nil || !strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("precondition: net/http's error should show the URL: %v", err)
	}
	for name, show := range map[string]func(string) string{"RedactURL": nil, "Origin": Origin} {
		red := RedactError(err, show)
		if strings.Contains(red.Error(), "s3cret") {
			t.Errorf("%s: %v still shows the secret", name, red)
		}
		if !errors.Is(red, context.Canceled) {
			t.Errorf("%s: %v lost context.Canceled", name, red)
		}
	}
	plain := errors.New("plain")
	if RedactError(plain, nil) != plain {
		t.Error("an error without a URL should come back unchanged")
	}
}

func TestRedactUnparsable(t *testing.T) {
	for in, want := range map[string]string{
		"ssh://git:p%zz@host:22/fleet.git":  "ssh://REDACTED@host:22/fleet.git",
		"https://u:s3cret@host/x?token=%zz": "https://REDACTED@host/x?token=REDACTED",
		"https://u:s3cret@host":             "https://REDACTED@host",
		"://u:s3cret@host":                  "<unparsable URL>",
		"ht tp://u:s3cret@host":             "<unparsable URL>",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
