// Package prometheus is ferry's Prometheus metric provider: instant and
// range PromQL queries through client_golang's API client, reduced to plain
// samples and series for the analysis conditions.
//
// Values are returned as Prometheus computed them, NaN and ±Inf included;
// the caller decides. NaN is never success: every comparison with NaN is
// false, so a condition must pass only on a comparison that holds.
package prometheus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"

	"github.com/ferry-dev/ferry/internal/httpx"
)

// DefaultTimeout bounds one query when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultMaxBodyBytes caps one API answer when Options.MaxBodyBytes is
// zero: a range query at Prometheus's 11,000 points is about 300 KiB per
// series, and analysis queries return a few series.
const DefaultMaxBodyBytes = 16 << 20

// dialTimeout bounds a TCP connect; prometheus/common's transport sets none.
const dialTimeout = 10 * time.Second

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
	// verified unless it is set.
	InsecureSkipVerify bool
	// HTTP is prometheus/common's client configuration (CA, client
	// certificate, proxy, OAuth2, headers), as in prometheus.yml; nil means
	// its defaults. BearerTokenFile, InsecureSkipVerify and credentials in
	// the address are merged into a copy of it.
	HTTP *config.HTTPClientConfig
	// MaxBodyBytes caps each API answer; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RoundTripper replaces the transport prometheus/common would build
	// (tests, canned answers); credentials are still added by
	// prometheus/common's round trippers over it. TLS settings do not apply.
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
//
// The HTTP client is prometheus/common's (config.NewRoundTripperFromConfig),
// so bearer token files, CA files, mTLS and proxies work as in Prometheus
// itself. Redirects follow httpx.CheckRedirect; prometheus/common drops
// credentials when a redirect changes the host name, and a redirect that
// would keep them on another origin (another port or scheme, a sub-domain)
// is refused.
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
	if opts.BearerTokenFile != "" {
		// Fail at start, not at the first analysis.
		if err := checkTokenFile(opts.BearerTokenFile); err != nil {
			return nil, fmt.Errorf("prometheus %s: %w", shown, err)
		}
	}
	cfg, err := httpConfig(opts, user)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", shown, err)
	}
	rt, err := roundTripper(cfg, opts.RoundTripper)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", shown, err)
	}
	maxBody := cmp.Or(opts.MaxBodyBytes, DefaultMaxBodyBytes)
	rt = httpx.LimitResponses(rt, func(r *http.Request) (string, int64) {
		return fmt.Sprintf("prometheus %s %s", r.URL.Host, r.URL.Path), maxBody
	})
	// Each query's context carries its deadline (Timeout); the client's
	// own is off so a timeout stays a context.DeadlineExceeded.
	client := httpx.NewClient(rt, httpx.Timeouts{Request: -1})
	client.CheckRedirect = checkRedirect(hasCredentials(cfg))
	api, err := api.NewClient(api.Config{Address: shown, Client: client})
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
	return &Provider{api: v1.NewAPI(api), address: shown, timeout: timeout, log: log}, nil
}

// httpConfig merges ferry's options into prometheus/common's configuration.
func httpConfig(opts Options, user *url.Userinfo) (config.HTTPClientConfig, error) {
	cfg := config.DefaultHTTPClientConfig
	if opts.HTTP != nil {
		cfg = *opts.HTTP
	}
	if opts.InsecureSkipVerify {
		cfg.TLSConfig.InsecureSkipVerify = true
	}
	if opts.BearerTokenFile != "" {
		cfg.Authorization = &config.Authorization{Type: "Bearer", CredentialsFile: opts.BearerTokenFile}
	}
	if user != nil {
		pass, _ := user.Password()
		cfg.BasicAuth = &config.BasicAuth{Username: user.Username(), Password: config.Secret(pass)}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("HTTP client configuration: %w", err)
	}
	return cfg, nil
}

// roundTripper builds prometheus/common's transport for cfg, or puts its
// credential round trippers over base when a caller supplies one.
func roundTripper(cfg config.HTTPClientConfig, base http.RoundTripper) (http.RoundTripper, error) {
	if base == nil {
		return config.NewRoundTripperFromConfig(cfg, "ferry_prometheus",
			config.WithDialContextFunc((&net.Dialer{Timeout: dialTimeout}).DialContext))
	}
	rt := base
	if a := cfg.Authorization; a != nil {
		rt = config.NewAuthorizationCredentialsRoundTripper(a.Type, config.NewFileSecret(a.CredentialsFile), rt)
	}
	if b := cfg.BasicAuth; b != nil {
		rt = config.NewBasicAuthRoundTripper(config.NewInlineSecret(b.Username), config.NewInlineSecret(string(b.Password)), rt)
	}
	return rt, nil
}

func hasCredentials(cfg config.HTTPClientConfig) bool {
	return cfg.Authorization != nil || cfg.BasicAuth != nil || cfg.OAuth2 != nil ||
		cfg.BearerToken != "" || cfg.BearerTokenFile != "" || cfg.HTTPHeaders != nil
}

// checkRedirect is httpx's policy, plus: with credentials, a hop to another
// origin on the same host name or a sub-domain of it is refused, because
// prometheus/common adds the credentials again whenever the host name
// stays (it compares names, not ports or schemes).
func checkRedirect(credentials bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if err := httpx.CheckRedirect(req, via); err != nil {
			return err
		}
		if !credentials || len(via) == 0 {
			return nil
		}
		first := via[0].URL
		if httpx.SameOrigin(first, req.URL) || !sameDomain(req.URL.Hostname(), first.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %s://%s sent ferry to %s://%s, another origin that would get the credentials",
			httpx.ErrRedirect, first.Scheme, first.Host, req.URL.Scheme, req.URL.Host)
	}
}

// sameDomain is prometheus/common's test for keeping credentials: the same
// host name, or a sub-domain of it.
func sameDomain(host, parent string) bool {
	host, parent = strings.ToLower(host), strings.ToLower(parent)
	if host == parent {
		return true
	}
	if net.ParseIP(host) != nil || net.ParseIP(parent) != nil {
		return false
	}
	return strings.HasSuffix(host, "."+parent)
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

// checkTokenFile reads the token file once; errors name the path, never
// the content.
func checkTokenFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read bearer token file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	switch {
	case tok == "":
		return fmt.Errorf("bearer token file %s is empty", path)
	case strings.ContainsFunc(tok, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("bearer token file %s holds a control character or more than one line", path)
	}
	return nil
}
