package faultproxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHTTPProxy(t *testing.T) {
	srv := backend(t)
	h, err := StartHTTP(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	tests := []struct {
		name       string
		fault      HTTPFault
		status     int
		retryAfter string
		body       string
		timeout    time.Duration
		wantErr    bool
	}{
		{name: "pass", status: 200, body: answer},
		{name: "429", fault: HTTPFault{Status: 429, RetryAfter: 2}, status: 429, retryAfter: "2"},
		{name: "500", fault: HTTPFault{Status: 500}, status: 500},
		{name: "503", fault: HTTPFault{Status: 503}, status: 503},
		{name: "slow body arrives whole", fault: HTTPFault{SlowBody: 5 * time.Millisecond, SlowChunk: 4}, status: 200, body: answer},
		{name: "slow body outlasts the client", fault: HTTPFault{SlowBody: time.Second, SlowChunk: 4}, timeout: 300 * time.Millisecond, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.Set(tt.fault)
			defer h.Clear()
			c := &http.Client{Timeout: tt.timeout}
			resp, err := c.Get(h.URL() + "/v2/")
			if err != nil {
				if !tt.wantErr {
					t.Fatal(err)
				}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if (err != nil) != tt.wantErr {
				t.Fatalf("read body: %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("status %d Retry-After %q, want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), tt.status, tt.retryAfter)
			}
			if tt.body != "" && string(b) != tt.body {
				t.Fatalf("body %q, want %q", b, tt.body)
			}
			if tt.status != 200 && !strings.Contains(string(b), "fault proxy") {
				t.Errorf("a fault's body should say it came from the proxy: %q", b)
			}
		})
	}
	if req, faulted := h.Stats(); req != int64(len(tests)) || faulted != int64(len(tests)-1) {
		t.Errorf("stats: %d requests, %d faulted; want %d, %d", req, faulted, len(tests), len(tests)-1)
	}
}

func TestStartHTTPBadTarget(t *testing.T) {
	if _, err := StartHTTP("not a url"); err == nil {
		t.Fatal("want an error for a target without a host")
	}
}
