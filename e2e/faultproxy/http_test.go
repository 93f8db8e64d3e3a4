package faultproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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

// tagServer is a registry's tag-list endpoint and nothing else.
func tagServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/shop/checkout/tags/list" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"shop/checkout","tags":["1.0.0"]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEndlessTags: a tag-list request gets a valid JSON prefix that goes on
// as long as it is read (here 8 MiB, far past the server's real answer);
// closing the connection stops it; other paths pass through.
func TestEndlessTags(t *testing.T) {
	h, err := StartHTTP(tagServer(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.Set(HTTPFault{EndlessTags: true})

	resp, err := http.Get(h.URL() + "/v2/shop/checkout/tags/list?n=1000")
	if err != nil {
		t.Fatal(err)
	}
	const want = 8 << 20
	got, err := io.ReadAll(io.LimitReader(resp.Body, want))
	resp.Body.Close()
	if err != nil || len(got) != want || resp.StatusCode != 200 {
		t.Fatalf("read %d bytes, status %d, err %v; want %d bytes of 200", len(got), resp.StatusCode, err, want)
	}
	if !bytes.HasPrefix(got, []byte(`{"name":"shop/checkout","tags":["1.0.0","1.0.1","1.0.2",`)) {
		t.Fatalf("body starts %q", got[:64])
	}
	// Decoding it as a tag list never finds the end.
	dec := json.NewDecoder(bytes.NewReader(got))
	var list struct{ Tags []string }
	if err := dec.Decode(&list); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("decode: %v, want an unfinished document", err)
	}

	// The stop for tests, and passing other paths.
	h.Set(HTTPFault{EndlessTags: true, EndlessMax: 1 << 20})
	resp, err = http.Get(h.URL() + "/v2/shop/checkout/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(got) > 1<<20 || len(got) < 1<<19 {
		t.Errorf("with EndlessMax 1 MiB the answer was %d bytes", len(got))
	}
	resp, err = http.Get(h.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/v2/ = %d, want the server's 404 passed through", resp.StatusCode)
	}
	if lists, sent := h.TagLists(); lists != 2 || sent < want {
		t.Errorf("TagLists() = %d, %d bytes; want 2 and at least %d", lists, sent, want)
	}
}

// TestSelfLink: the server's tag list comes back with a Link to the same
// request, which a client following Link would fetch again forever.
func TestSelfLink(t *testing.T) {
	h, err := StartHTTP(tagServer(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.Set(HTTPFault{SelfLink: true})
	for range 3 {
		resp, err := http.Get(h.URL() + "/v2/shop/checkout/tags/list?n=1000")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if link := resp.Header.Get("Link"); link != `</v2/shop/checkout/tags/list?n=1000>; rel="next"` {
			t.Fatalf("Link = %q", link)
		}
		if string(body) != `{"name":"shop/checkout","tags":["1.0.0"]}` {
			t.Fatalf("body %q, want the server's", body)
		}
	}
	if lists, _ := h.TagLists(); lists != 3 {
		t.Errorf("TagLists() = %d, want 3", lists)
	}
	// Repo limits the fault to one repository.
	h.Set(HTTPFault{SelfLink: true, Repo: "shop/cart"})
	for repo, want := range map[string]string{"shop/checkout": "", "shop/cart": `</v2/shop/cart/tags/list>; rel="next"`} {
		resp, err := http.Get(h.URL() + "/v2/" + repo + "/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Link"); got != want {
			t.Errorf("%s: Link = %q, want %q", repo, got, want)
		}
	}
	h.Clear()
	resp, err := http.Get(h.URL() + "/v2/shop/checkout/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Link") != "" {
		t.Error("Link still set after Clear")
	}
}
