package registry

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"
)

func TestTagsAndResolve(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/checkout"
	imgs := map[string]string{}
	for _, tag := range []string{"1.0.0", "1.1.0", "1.2.0-rc.1", "latest"} {
		imgs[tag] = digestOf(t, push(t, repo+":"+tag))
	}
	c := NewClient(Options{UserAgent: "ferry-test"})
	ctx := t.Context()

	tags, err := c.Tags(ctx, repo, false)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	if want := []string{"1.0.0", "1.1.0", "1.2.0-rc.1", "latest"}; !slices.Equal(tags, want) {
		t.Fatalf("Tags = %v, want %v", tags, want)
	}
	for tag, digest := range imgs {
		d, err := c.Resolve(ctx, repo, tag, false)
		if err != nil {
			t.Fatal(err)
		}
		if d.Digest != digest {
			t.Errorf("Resolve(%s) = %s, want %s", tag, d.Digest, digest)
		}
		if d.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
			t.Errorf("Resolve(%s) media type = %q", tag, d.MediaType)
		}
	}
}

func TestTagsAllPages(t *testing.T) {
	p := &paginate{next: newRegistry(), size: 2}
	host := serve(t, p)
	repo := host + "/shop/cart"
	want := []string{"1.0.0", "1.0.1", "1.0.2", "1.1.0", "2.0.0"}
	for _, tag := range want {
		push(t, repo+":"+tag)
	}
	p.pages.Store(0)
	tags, err := NewClient(Options{}).Tags(t.Context(), repo, false)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	if !slices.Equal(tags, want) {
		t.Fatalf("Tags = %v, want %v", tags, want)
	}
	if got := p.pages.Load(); got != 3 {
		t.Errorf("fetched %d pages, want 3", got)
	}
}

func TestResolveMovingTag(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/web"
	c := NewClient(Options{})
	sel, err := NewSelector(TagPolicy{Digest: "latest"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for range 2 {
		want := digestOf(t, push(t, repo+":latest"))
		tags, err := c.Tags(t.Context(), repo, false)
		if err != nil {
			t.Fatal(err)
		}
		tag, ok := sel.Select(tags)
		if !ok || tag != "latest" {
			t.Fatalf("Select(%v) = %q, %v", tags, tag, ok)
		}
		d, err := c.Resolve(t.Context(), repo, tag, false)
		if err != nil {
			t.Fatal(err)
		}
		if d.Digest != want {
			t.Fatalf("latest resolves to %s, want freshly pushed %s", d.Digest, want)
		}
		seen = append(seen, d.Digest)
	}
	if seen[0] == seen[1] {
		t.Fatalf("digest did not change after re-push: %s", seen[0])
	}
}

func TestResolveFallsBackToGet(t *testing.T) {
	h := &noHead{next: newRegistry()}
	host := serve(t, h)
	repo := host + "/shop/search"
	want := digestOf(t, push(t, repo+":1.0.0"))
	h.on.Store(true)
	d, err := NewClient(Options{}).Resolve(t.Context(), repo, "1.0.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != want {
		t.Errorf("Resolve = %s, want %s", d.Digest, want)
	}
	if h.refused.Load() == 0 || h.gets.Load() == 0 {
		t.Errorf("HEAD refused %d times, GET served %d times; want both > 0", h.refused.Load(), h.gets.Load())
	}
}

func TestClientErrors(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/checkout"
	push(t, repo+":1.0.0")
	c := NewClient(Options{})
	tests := []struct {
		name, repo, tag string
		want            []string // substrings of the error
	}{
		{"bad repo", "Shop/UPPER", "", []string{"Shop/UPPER"}},
		{"unknown repo", host + "/nope", "", []string{host + "/nope", "NAME_UNKNOWN"}},
		{"bad tag", repo, "no spaces", []string{repo + ":no spaces"}},
		{"unknown tag", repo, "9.9.9", []string{repo + ":9.9.9", "404 Not Found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.tag == "" {
				_, err = c.Tags(t.Context(), tt.repo, false)
			} else {
				_, err = c.Resolve(t.Context(), tt.repo, tt.tag, false)
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestConcurrentUse shares one Client (limiters, counters) between
// goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/checkout"
	want := digestOf(t, push(t, repo+":1.0.0"))
	c := NewClient(Options{RequestsPerSecond: 1000})
	var g errgroup.Group
	for range 8 {
		g.Go(func() error {
			if _, err := c.Tags(t.Context(), repo, false); err != nil {
				return err
			}
			d, err := c.Resolve(t.Context(), repo, "1.0.0", false)
			if err == nil && d.Digest != want {
				err = fmt.Errorf("Resolve = %s, want %s", d.Digest, want)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestLoopbackIsPlainHTTP(t *testing.T) {
	tests := []struct {
		name   string
		listen string
		host   func(addr string) string
	}{
		{"127.0.0.1", "127.0.0.1:0", func(a string) string { return a }},
		{"localhost", "127.0.0.1:0", func(a string) string { return "localhost" + a[strings.LastIndex(a, ":"):] }},
		{"127.0.0.2, beyond go-containerregistry's own rule", "127.0.0.2:0", func(a string) string { return a }},
		{"::1", "[::1]:0", func(a string) string { return a }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := tt.host(serveOn(t, tt.listen, newRegistry()))
			repo := host + "/shop/checkout"
			want := digestOf(t, push(t, repo+":1.0.0"))
			c := NewClient(Options{})
			tags, err := c.Tags(t.Context(), repo, false)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tags, []string{"1.0.0"}) {
				t.Errorf("Tags = %v", tags)
			}
			d, err := c.Resolve(t.Context(), repo, "1.0.0", false)
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest != want {
				t.Errorf("Resolve = %s, want %s", d.Digest, want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:5000":       true,
		"127.1.2.3":            true,
		"localhost":            true,
		"localhost:5000":       true,
		"reg.localhost:5000":   true,
		"[::1]:5000":           true,
		"::1":                  true,
		"10.0.0.1:5000":        false,
		"128.0.0.1":            false,
		"registry.example":     false,
		"localhost.example":    false,
		"[2001:db8::1]:5000":   false,
		"index.docker.io":      false,
		"notlocalhost:5000":    false,
		"127.0.0.1.nip.io:443": false,
	}
	for host, want := range tests {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestRemoteRegistryTLS serves one registry both on plain loopback (to push)
// and behind a name that is not loopback, example.com, so the client must
// pick TLS, verify it, and use plain HTTP only when told insecure.
func TestRemoteRegistryTLS(t *testing.T) {
	reg := newRegistry()
	local := serve(t, reg)
	want := digestOf(t, push(t, local+"/shop/checkout:1.0.0"))
	tlsSrv := httptest.NewUnstartedServer(reg)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(reg)
	t.Cleanup(plainSrv.Close)

	tests := []struct {
		name      string
		transport http.RoundTripper
		insecure  bool
		check     func(t *testing.T, err error)
	}{
		{"trusted TLS", dialAll(tlsSrv.Listener.Addr().String(), tlsSrv), false, nil},
		{"untrusted TLS is refused", dialAll(tlsSrv.Listener.Addr().String(), nil), false,
			func(t *testing.T, err error) {
				var cv *tls.CertificateVerificationError
				if !errors.As(err, &cv) {
					t.Errorf("want a certificate verification error, got %v", err)
				}
			}},
		{"plain HTTP needs insecure", dialAll(plainSrv.Listener.Addr().String(), nil), false,
			func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), "https://example.com/v2/") {
					t.Errorf("want a failed HTTPS attempt, got %v", err)
				}
			}},
		{"plain HTTP with insecure", dialAll(plainSrv.Listener.Addr().String(), nil), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(Options{Transport: tt.transport})
			d, err := c.Resolve(t.Context(), "example.com/shop/checkout", "1.0.0", tt.insecure)
			if tt.check != nil {
				if err == nil {
					t.Fatal("want an error")
				}
				tt.check(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest != want {
				t.Errorf("Resolve = %s, want %s", d.Digest, want)
			}
		})
	}
}

// TestNoPlainHTTPToPrivateAddresses: go-containerregistry falls back to
// plain HTTP for RFC 1918 hosts; ferry refuses unless the app opted out of
// TLS. No request leaves the process: the base transport only records.
func TestNoPlainHTTPToPrivateAddresses(t *testing.T) {
	var sent []string
	record := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.String())
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	})
	c := NewClient(Options{Transport: record, RequestsPerSecond: -1})
	req, _ := http.NewRequest(http.MethodGet, "http://10.0.0.1:5000/v2/", nil)
	if _, err := c.rt.RoundTrip(req); !errors.Is(err, ErrPlainHTTP) {
		t.Fatalf("plain HTTP to a private address: err = %v, want ErrPlainHTTP", err)
	}
	if len(sent) != 0 {
		t.Fatalf("a refused request was sent: %v", sent)
	}
	if _, err := c.parseRepo("10.0.0.1:5000/shop/checkout", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.rt.RoundTrip(req); err != nil || len(sent) != 1 {
		t.Fatalf("an app with insecure: true was refused plain HTTP: %v (sent %v)", err, sent)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestTagsDropsWhatCannotBeATag: a registry listing strings outside the
// OCI tag grammar (an escape sequence, a newline that would forge a line
// of ferry plan's output, 5,000 bytes) has them dropped: none can be
// pulled, and none reaches a selector, a commit or a terminal.
func TestTagsDropsWhatCannotBeATag(t *testing.T) {
	hostile := []string{"1.0.0_\x1b[31mRED\x1b[0m", "1.0.0\nskipped: 9.9.9: forged line", strings.Repeat("9", 5000), "-1.0.0", ".hidden"}
	good := []string{"1.0.0", "v1.2.3", "build_7", strings.Repeat("a", 128)}
	host := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"name": "shop/cart", "tags": append(slices.Clone(hostile), good...)})
			return
		}
		w.WriteHeader(http.StatusOK) // the /v2/ ping
	}))
	tags, err := NewClient(Options{}).Tags(t.Context(), host+"/shop/cart", false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tags, good) {
		t.Fatalf("Tags = %q, want %q", tags, good)
	}
}
