package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// newRegistry is go-containerregistry's in-process registry, quiet.
func newRegistry() http.Handler {
	return ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
}

// serve starts h on 127.0.0.1 and returns its host:port.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// serveOn starts h on a listener for addr ("127.0.0.2:0"), skipping the test
// when the address cannot be bound here.
func serveOn(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().String()
}

// push writes a random image to ref directly (not through Client) and
// returns the pushed image.
func push(t *testing.T, ref string) v1.Image {
	t.Helper()
	tag, err := name.NewTag(ref, name.Insecure) // any loopback address, over HTTP
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// tooMany answers the first limit requests with 429 and passes the rest on.
type tooMany struct {
	next       http.Handler
	limit      atomic.Int64
	retryAfter string
	onLimit    func() // called before each 429 is written
	hits       atomic.Int64
}

func (h *tooMany) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.hits.Add(1) <= h.limit.Load() {
		if h.onLimit != nil {
			h.onLimit()
		}
		if h.retryAfter != "" {
			w.Header().Set("Retry-After", h.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
		return
	}
	h.next.ServeHTTP(w, r)
}

// basicAuth demands HTTP basic credentials, as a registry behind a proxy does.
func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="ferry-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// paginate serves tag lists in pages of size with Link headers (the
// in-process registry honours n and last but sends no Link).
type paginate struct {
	next  http.Handler
	size  int
	pages atomic.Int64
}

func (p *paginate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/tags/list") {
		p.next.ServeHTTP(w, r)
		return
	}
	p.pages.Add(1)
	q := r.URL.Query()
	q.Set("n", fmt.Sprint(p.size))
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r2)
	var list struct {
		Tags []string `json:"tags"`
	}
	if rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &list) == nil && len(list.Tags) == p.size {
		w.Header().Set("Link", fmt.Sprintf(`<%s?n=%d&last=%s>; rel="next"`, r.URL.Path, p.size, list.Tags[len(list.Tags)-1]))
	}
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = io.Copy(w, bytes.NewReader(rec.Body.Bytes()))
}

// noHead refuses HEAD on manifests once on is set, like some registries and
// proxies do.
type noHead struct {
	next    http.Handler
	on      atomic.Bool
	refused atomic.Int64
	gets    atomic.Int64
}

func (h *noHead) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.on.Load() && strings.Contains(r.URL.Path, "/manifests/") {
		switch r.Method {
		case http.MethodHead:
			h.refused.Add(1)
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		case http.MethodGet:
			h.gets.Add(1)
		}
	}
	h.next.ServeHTTP(w, r)
}

// dialAll is a transport that sends every connection to addr, so a test can
// use a non-loopback registry name (example.com, which httptest's
// certificate covers) against a local server. tlsSrv, when set, supplies the
// trusted roots.
func dialAll(addr string, tlsSrv *httptest.Server) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig = &tls.Config{}
	if tlsSrv != nil {
		tr.TLSClientConfig.RootCAs = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	}
	return tr
}
