package trivy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/httpx"
	"github.com/ferry-dev/ferry/internal/httpx/httpxtest"
)

func TestFetch(t *testing.T) {
	report := readFixture(t, "image-alpine.json")
	big := bytes.Repeat([]byte("x"), 4096)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /scans/ok.json", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(report)
	})
	mux.HandleFunc("GET /scans/missing.json", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such scan", http.StatusNotFound)
	})
	mux.HandleFunc("GET /scans/gone.json", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "scan expired", http.StatusGone)
	})
	mux.HandleFunc("GET /scans/broken.json", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "scanner down", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /scans/big.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		_, _ = w.Write(big)
	})
	mux.HandleFunc("GET /scans/chunked.json", func(w http.ResponseWriter, r *http.Request) {
		for range 4 { // no Content-Length: the cap must hold while reading
			_, _ = w.Write(big[:1024])
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /scans/redirect.json", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/scans/ok.json", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name     string
		url      string
		maxBytes int64
		want     []byte
		errs     []string
		tooLarge bool
		notFound bool
	}{
		{name: "ok", url: srv.URL + "/scans/ok.json", maxBytes: 1 << 20, want: report},
		{name: "exactly at cap", url: srv.URL + "/scans/big.json", maxBytes: 4096, want: big},
		{name: "redirect followed", url: srv.URL + "/scans/redirect.json", maxBytes: 1 << 20, want: report},
		{name: "404", url: srv.URL + "/scans/missing.json", maxBytes: 1 << 20, errs: []string{"/scans/missing.json", "status 404 Not Found"}, notFound: true},
		{name: "410", url: srv.URL + "/scans/gone.json", maxBytes: 1 << 20, errs: []string{"status 410 Gone"}, notFound: true},
		{name: "500 is an error, not absence", url: srv.URL + "/scans/broken.json", maxBytes: 1 << 20, errs: []string{"status 500"}},
		{name: "content-length over cap", url: srv.URL + "/scans/big.json", maxBytes: 4095, errs: []string{"trivy report " + srv.URL + "/scans/big.json: body exceeds 4095 bytes"}, tooLarge: true},
		{name: "chunked over cap", url: srv.URL + "/scans/chunked.json", maxBytes: 2000, errs: []string{"body exceeds 2000 bytes"}, tooLarge: true},
		{name: "no cap", url: srv.URL + "/scans/ok.json", maxBytes: 0, errs: []string{"size cap 0 is not positive"}},
		{name: "secrets redacted", url: "http://ferry:hunter2@" + srv.Listener.Addr().String() + "/scans/missing.json?token=s3cr3t",
			maxBytes: 10, errs: []string{"status 404", "http://REDACTED@"}, notFound: true},
		{name: "bad URL", url: "http://[::1", maxBytes: 10, errs: []string{"bad URL"}},
		{name: "connection refused", url: "http://127.0.0.1:1/x?token=s3cr3t", maxBytes: 10, errs: []string{"http://127.0.0.1:1/x?token=REDACTED", "refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Fetch(t.Context(), srv.Client(), tt.url, tt.maxBytes)
			if tt.errs == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tt.want) {
					t.Errorf("body %d bytes, want %d", len(got), len(tt.want))
				}
				return
			}
			if err == nil {
				t.Fatalf("Fetch succeeded with %d bytes", len(got))
			}
			for _, w := range tt.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, secret := range []string{"hunter2", "s3cr3t"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks %q", err, secret)
				}
			}
			if errors.Is(err, ErrTooLarge) != tt.tooLarge {
				t.Errorf("errors.Is(err, ErrTooLarge) = %v, want %v", !tt.tooLarge, tt.tooLarge)
			}
			if errors.Is(err, ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", !tt.notFound, tt.notFound)
			}
		})
	}
}

// TestFetchRedirectCredentials: a report URL with user info, on a server
// that redirects to another origin, does not send the credentials there;
// with http.DefaultClient given (as the agent does) ferry's client is used.
func TestFetchRedirectCredentials(t *testing.T) {
	for _, trapHost := range []string{"localhost", "127.0.0.1"} {
		t.Run(trapHost, func(t *testing.T) {
			trap := httpxtest.NewTrap(t, trapHost)
			srv := httptest.NewServer(httpxtest.Redirect(trap.URL(), http.StatusFound))
			t.Cleanup(srv.Close)
			u := "http://ferry:hunter2@" + srv.Listener.Addr().String() + "/scans/r.json"
			for _, c := range []*http.Client{nil, http.DefaultClient} {
				if _, err := Fetch(t.Context(), c, u, 1<<10); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(trap.Requests()); n != 2 {
				t.Fatalf("%d requests reached the trap, want 2", n)
			}
			if leaks := trap.Leaks("hunter2"); len(leaks) > 0 {
				t.Errorf("credentials reached %s: %v", trap.URL(), leaks)
			}
		})
	}
}

// TestFetchDeadline: a report server that sends headers and then stalls
// is an error (not a hang) even when the caller's context has no deadline.
func TestFetchDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("{"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := httpx.NewClient(nil, httpx.Timeouts{Request: 200 * time.Millisecond})
	_, err := Fetch(context.Background(), c, srv.URL+"/r.json", 1<<10)
	if !errors.Is(err, context.DeadlineExceeded) && (err == nil || !strings.Contains(err.Error(), "Client.Timeout")) {
		t.Fatalf("err = %v, want the client's timeout", err)
	}
}

func TestFetchCanceled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := Fetch(ctx, srv.Client(), srv.URL, 10)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestExpandURL(t *testing.T) {
	vars := URLVars{
		App:     "checkout",
		Image:   "registry.example:5000/shop/checkout",
		Tag:     "1.4.2",
		Digest:  "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Version: "1.4.2+build.7",
	}
	tests := []struct {
		name, tmpl string
		vars       URLVars
		want       string
		err        string
	}{
		{name: "path", tmpl: "https://scans.example/{{.Image}}/{{.Digest}}.json", vars: vars,
			want: "https://scans.example/registry.example:5000/shop/checkout/sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.json"},
		{name: "query", tmpl: "http://127.0.0.1:8080/report?app={{.App}}&version={{.Version}}", vars: vars,
			want: "http://127.0.0.1:8080/report?app=checkout&version=1.4.2%2Bbuild.7"},
		{name: "hostile value", tmpl: "https://scans.example/{{.Tag}}", vars: URLVars{Tag: "../x?y=1#frag &z"},
			want: "https://scans.example/../x%3Fy%3D1%23frag%20%26z"},
		{name: "unknown field", tmpl: "https://scans.example/{{.Branch}}", vars: vars, err: "can't evaluate field Branch"},
		{name: "bad template", tmpl: "https://scans.example/{{.App", vars: vars, err: "report URL template"},
		{name: "not absolute", tmpl: "/scans/{{.App}}.json", vars: vars, err: "not an absolute http(s) URL"},
		{name: "other scheme", tmpl: "file:///scans/{{.App}}.json", vars: vars, err: "not an absolute http(s) URL"},
		{name: "unparsable", tmpl: "http://[::1{{.App}}/x?token=s3cr3t", vars: vars, err: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandURL(tt.tmpl, tt.vars)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error %q leaks the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ExpandURL = %s\nwant        %s", got, tt.want)
			}
		})
	}
}

// A report URL for one app version.
func ExampleExpandURL() {
	u, err := ExpandURL("https://scans.example/{{.App}}/{{.Version}}.json", URLVars{App: "checkout", Version: "1.4.2"})
	fmt.Println(u, err)
	// Output: https://scans.example/checkout/1.4.2.json <nil>
}
