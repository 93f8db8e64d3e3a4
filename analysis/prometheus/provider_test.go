package prometheus

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/config"

	"github.com/ferry-dev/ferry/analysis/prometheus/promtest"
)

func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	empty := filepath.Join(dir, "empty")
	twoLines := filepath.Join(dir, "two-lines")
	for file, content := range map[string]string{token: "s3cr3t-token\n", empty: " \n", twoLines: "s3cr3t-token\nmore"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, address string
		opts          Options
		wantErr       string
	}{
		{name: "plain", address: "http://127.0.0.1:9090"},
		{name: "path prefix", address: "https://mon.example/prometheus/"},
		{name: "token file", address: "https://mon.example", opts: Options{BearerTokenFile: token}},
		{name: "basic auth", address: "https://ferry:pa55w0rd@mon.example"},
		{name: "insecure", address: "https://mon.example", opts: Options{InsecureSkipVerify: true}},
		{name: "own transport", address: "https://mon.example", opts: Options{RoundTripper: http.DefaultTransport}},
		{name: "bad scheme", address: "ftp://mon.example", wantErr: "scheme must be http or https"},
		{name: "relative", address: "mon.example:9090", wantErr: "scheme must be http or https"},
		{name: "no host", address: "http:///x", wantErr: "has no host"},
		{name: "query", address: "http://mon.example/?a=b", wantErr: "must not have a query"},
		{name: "unparsable", address: "http://ferry:pa55w0rd%zz@mon.example", wantErr: "does not parse"},
		{name: "negative timeout", address: "http://ferry:pa55w0rd@mon.example", opts: Options{Timeout: -time.Second}, wantErr: "negative timeout"},
		{name: "two credentials", address: "http://ferry:pa55w0rd@mon.example", opts: Options{BearerTokenFile: token}, wantErr: "both credentials"},
		{name: "insecure with own transport", address: "https://mon.example", opts: Options{InsecureSkipVerify: true, RoundTripper: http.DefaultTransport}, wantErr: "default transport only"},
		{name: "missing token file", address: "https://mon.example", opts: Options{BearerTokenFile: filepath.Join(dir, "nope")}, wantErr: "read bearer token file"},
		{name: "empty token file", address: "https://mon.example", opts: Options{BearerTokenFile: empty}, wantErr: "is empty"},
		{name: "two-line token file", address: "https://mon.example", opts: Options{BearerTokenFile: twoLines}, wantErr: "more than one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.address, tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if strings.Contains(p.Address(), "pa55w0rd") || strings.Contains(p.Address(), "ferry@") {
					t.Errorf("Address() = %q shows credentials", p.Address())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error %v, want one containing %q", err, tt.wantErr)
			}
			for _, secret := range []string{"pa55w0rd", "s3cr3t-token"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks %q", err, secret)
				}
			}
		})
	}
}

// guard is a reverse proxy to a real Prometheus that lets a request through
// only with the expected credentials, as an authenticating gateway would.
type guard struct {
	mu     sync.Mutex
	bearer string // "Authorization: Bearer" value wanted, if set
	user   string // basic auth wanted, if set
	pass   string
	next   http.Handler
}

func (g *guard) want(bearer, user, pass string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.bearer, g.user, g.pass = bearer, user, pass
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	bearer, user, pass := g.bearer, g.user, g.pass
	g.mu.Unlock()
	u, p, _ := r.BasicAuth()
	if bearer != "" && r.Header.Get("Authorization") != "Bearer "+bearer || user != "" && (u != user || p != pass) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	g.next.ServeHTTP(w, r)
}

func TestAuthAndTLS(t *testing.T) {
	t.Parallel()
	prom := promtest.Start(t, nil, "")
	target, err := url.Parse(prom.URL())
	if err != nil {
		t.Fatal(err)
	}
	g := &guard{next: httputil.NewSingleHostReverseProxy(target)}
	mux := http.NewServeMux()
	mux.Handle("/prom/", http.StripPrefix("/prom", g))
	plain := httptest.NewServer(mux)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(mux)
	t.Cleanup(tlsSrv.Close)

	query := func(p *Provider) error {
		s, err := p.Instant(t.Context(), "vector(7)", time.Time{})
		if err == nil && s.Value != 7 {
			t.Errorf("vector(7) = %v", s.Value)
		}
		return err
	}
	noLeak := func(err error, secrets ...string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q leaks %q", err, s)
			}
		}
	}

	t.Run("bearer token file, rotated", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "token")
		write := func(tok string) {
			if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("tok-one")
		g.want("tok-one", "", "")
		p := newProvider(t, plain.URL+"/prom", Options{BearerTokenFile: file})
		if err := query(p); err != nil {
			t.Fatalf("first token: %v", err)
		}
		write("tok-two")
		g.want("tok-two", "", "")
		if err := query(p); err != nil {
			t.Fatalf("rotated token: %v", err)
		}
		write("tok-stale")
		err := query(p)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("wrong token: %v, want a 401 error", err)
		}
		noLeak(err, "tok-stale", "tok-two")
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		err = query(p)
		if err == nil || !strings.Contains(err.Error(), "unable to read authorization credentials") {
			t.Fatalf("removed token file: %v", err)
		}
	})

	t.Run("basic auth from the address", func(t *testing.T) {
		g.want("", "ferry", "pa55w0rd")
		u, _ := url.Parse(plain.URL + "/prom")
		u.User = url.UserPassword("ferry", "pa55w0rd")
		if err := query(newProvider(t, u.String(), Options{})); err != nil {
			t.Fatalf("basic auth: %v", err)
		}
		u.User = url.UserPassword("ferry", "wr0ng-pass")
		err := query(newProvider(t, u.String(), Options{}))
		if err == nil {
			t.Fatal("wrong password succeeded")
		}
		noLeak(err, "wr0ng-pass", "pa55w0rd")
		if !strings.Contains(err.Error(), plain.URL+"/prom") {
			t.Errorf("error %q does not name the server", err)
		}
	})

	t.Run("TLS", func(t *testing.T) {
		g.want("", "", "")
		err := query(newProvider(t, tlsSrv.URL+"/prom", Options{}))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("self-signed certificate: %v, want a certificate error", err)
		}
		if err := query(newProvider(t, tlsSrv.URL+"/prom", Options{InsecureSkipVerify: true})); err != nil {
			t.Errorf("InsecureSkipVerify: %v", err)
		}
		if err := query(newProvider(t, tlsSrv.URL+"/prom", Options{RoundTripper: tlsSrv.Client().Transport})); err != nil {
			t.Errorf("RoundTripper trusting the test CA: %v", err)
		}
		// A CA file, through prometheus/common's configuration.
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := config.DefaultHTTPClientConfig
		cfg.TLSConfig.CAFile = ca
		if err := query(newProvider(t, tlsSrv.URL+"/prom", Options{HTTP: &cfg})); err != nil {
			t.Errorf("CA file: %v", err)
		}
	})
}

// TestTimeout: a server that never answers costs one Options.Timeout, and
// the caller's context still rules.
func TestTimeout(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sentTimeout string
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sentTimeout = r.FormValue("timeout")
		mu.Unlock()
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)

	p := newProvider(t, hang.URL, Options{Timeout: 50 * time.Millisecond})
	_, err := p.Instant(t.Context(), "up", time.Time{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Instant error %v, want DeadlineExceeded", err)
	}
	_, err = p.Range(t.Context(), "up", time.Now().Add(-time.Minute), time.Now(), time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Range error %v, want DeadlineExceeded", err)
	}
	mu.Lock()
	if sentTimeout != "50ms" {
		t.Errorf("evaluation timeout sent to the server = %q, want 50ms", sentTimeout)
	}
	mu.Unlock()

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = newProvider(t, hang.URL, Options{}).InstantVector(ctx, "up", time.Time{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("InstantVector with a cancelled context: %v, want Canceled", err)
	}
}

// TestWarningsLogged: Prometheus's warnings go to the logger, with the query
// and address, and never the token.
func TestWarningsLogged(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "query-warnings.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.FormValue("query") == "" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cr3t-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := newProvider(t, srv.URL, Options{Logger: log, BearerTokenFile: tokenFile})

	const query = `sum(rate(http_requests{app="checkout"}[1m]))`
	s, err := p.Instant(t.Context(), query, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Value != 0.0021 || s.Labels["app"] != "checkout" {
		t.Errorf("sample %+v, want 0.0021 for app=checkout", s)
	}
	out := logs.String()
	for _, want := range []string{
		"level=WARN msg=\"prometheus query warnings\"",
		"encountered a mix of histograms and floats",
		"level=DEBUG msg=\"prometheus query infos\"",
		"metric might not be a counter",
		"address=" + srv.URL,
		`app=\"checkout\"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not contain %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t-token") {
		t.Errorf("log leaks the token:\n%s", out)
	}
}
