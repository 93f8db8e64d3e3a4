// Package prometheus is ferry's Prometheus metric provider: instant and
// range PromQL queries through client_golang's API client, reduced to plain
// samples and series for the analysis conditions.
//
// Values are returned as Prometheus computed them, NaN and ±Inf included;
// the caller decides. NaN is never success: every comparison with NaN is
// false, so a condition must pass only on a comparison that holds.
package prometheus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// DefaultTimeout bounds one query when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ErrNoData means an instant query returned no series: nothing to judge.
var ErrNoData = errors.New("query returned no data")

// Options configure a Provider. The zero value is valid.
type Options struct {
	// Timeout bounds each query, on the client and as Prometheus's own
	// evaluation timeout; zero means DefaultTimeout.
	Timeout time.Duration
	// BearerTokenFile names a file holding a bearer token, read again for
	// every query so a rotated token is picked up.
	BearerTokenFile string
	// InsecureSkipVerify turns off TLS certificate verification. TLS is
	// verified unless it is set. It applies to the default transport only.
	InsecureSkipVerify bool
	// RoundTripper replaces the default transport (for a proxy, mTLS...).
	RoundTripper http.RoundTripper
	// Logger receives Prometheus's query warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Provider queries one Prometheus server. It is safe for concurrent use.
type Provider struct {
	api     v1.API
	address string // as shown in errors and logs: never with credentials
	timeout time.Duration
	log     *slog.Logger
}

// New returns a Provider for the Prometheus at address (http or https, may
// carry a path prefix). Credentials in the address (user:password@) are
// sent as basic auth and never shown; they exclude BearerTokenFile.
func New(address string, opts Options) (*Provider, error) {
	u, err := url.Parse(address)
	if err != nil {
		// url.Error quotes the input, which may hold a password.
		return nil, errors.New("prometheus: address does not parse")
	}
	user := u.User
	u.User = nil
	shown := u.String()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("prometheus: address %s: scheme must be http or https", shown)
	case u.Host == "":
		return nil, fmt.Errorf("prometheus: address %s has no host", shown)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("prometheus: address %s must not have a query or fragment", shown)
	case opts.Timeout < 0:
		return nil, fmt.Errorf("prometheus %s: negative timeout %s", shown, opts.Timeout)
	case user != nil && opts.BearerTokenFile != "":
		return nil, fmt.Errorf("prometheus %s: both credentials in the address and a bearer token file", shown)
	case opts.RoundTripper != nil && opts.InsecureSkipVerify:
		return nil, fmt.Errorf("prometheus %s: InsecureSkipVerify applies to the default transport only; configure TLS in the RoundTripper", shown)
	}

	rt := opts.RoundTripper
	if rt == nil {
		rt = defaultTransport(opts.InsecureSkipVerify)
	}
	if opts.BearerTokenFile != "" {
		bt := &bearerFile{path: opts.BearerTokenFile, next: rt}
		if _, err := bt.token(); err != nil { // fail at start, not at the first analysis
			return nil, fmt.Errorf("prometheus %s: %w", shown, err)
		}
		rt = bt
	}
	if user != nil {
		pass, _ := user.Password()
		rt = &basicAuth{user: user.Username(), pass: pass, next: rt}
	}
	client, err := api.NewClient(api.Config{Address: shown, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", shown, err)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Provider{api: v1.NewAPI(client), address: shown, timeout: timeout, log: log}, nil
}

// Address is the server address, without credentials.
func (p *Provider) Address() string { return p.address }

// wrap names the server and the query in err, keeping errors.Is.
func (p *Provider) wrap(query string, err error) error {
	return fmt.Errorf("prometheus %s: query %q: %w", p.address, query, err)
}

// logNotes logs Prometheus's warnings and infos about a query.
func (p *Provider) logNotes(ctx context.Context, query string, warnings v1.Warnings, infos v1.Infos) {
	if len(warnings) > 0 {
		p.log.WarnContext(ctx, "prometheus query warnings",
			"address", p.address, "query", query, "warnings", []string(warnings))
	}
	if len(infos) > 0 {
		p.log.DebugContext(ctx, "prometheus query infos",
			"address", p.address, "query", query, "infos", []string(infos))
	}
}

func defaultTransport(insecure bool) http.RoundTripper {
	base, ok := api.DefaultRoundTripper.(*http.Transport)
	if !ok {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	return t
}

// bearerFile sends the token in path as "Authorization: Bearer".
type bearerFile struct {
	path string
	next http.RoundTripper
}

// token reads the file; errors name the path, never the content.
func (b *bearerFile) token() (string, error) {
	raw, err := os.ReadFile(b.path)
	if err != nil {
		return "", fmt.Errorf("read bearer token file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	switch {
	case tok == "":
		return "", fmt.Errorf("bearer token file %s is empty", b.path)
	case strings.ContainsFunc(tok, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", fmt.Errorf("bearer token file %s holds a control character or more than one line", b.path)
	}
	return tok, nil
}

func (b *bearerFile) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.token()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tok)
	return b.next.RoundTrip(req)
}

type basicAuth struct {
	user, pass string
	next       http.RoundTripper
}

func (b *basicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.SetBasicAuth(b.user, b.pass)
	return b.next.RoundTrip(req)
}

// closeBody honours the RoundTripper contract when a request is not sent.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
