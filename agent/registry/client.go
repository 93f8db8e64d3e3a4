package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/time/rate"

	"github.com/ferry-dev/ferry/internal/httpx"
)

// Defaults for Options.
const (
	DefaultRequestsPerSecond = 50
	DefaultMaxRetryAfter     = 30 * time.Second
	// DefaultMaxBodyBytes caps one tag-list page, manifest, index,
	// referrers list or token answer: the distribution spec's 4 MiB
	// manifest size that registries must accept.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultMaxBlobBytes caps a blob read (image config, attached
	// report); Referrers raises it for its own calls to its maxBytes.
	DefaultMaxBlobBytes = 16 << 20
	// DefaultMaxTagListBytes caps all pages of one tag listing together,
	// so a registry cannot grow memory by paging either.
	DefaultMaxTagListBytes = 16 << 20
	// DefaultMaxTagPages caps the pages of one tag listing.
	DefaultMaxTagPages = 1000
	// DefaultRequestTimeout bounds one HTTP request, body included.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultLookupTimeout bounds one call (Tags with all its pages,
	// Resolve, Inspect, Referrers, Attach), rate-limit and 429 waits
	// included, when the caller's context allows longer.
	DefaultLookupTimeout = 2 * time.Minute
)

// Options configure a Client. The zero value is usable.
type Options struct {
	// Keychain resolves credentials per registry; nil means anonymous.
	Keychain authn.Keychain
	// RequestsPerSecond paces requests per registry host (token servers
	// count as their own host). 0 means DefaultRequestsPerSecond; a negative
	// value turns pacing off. Bursts of one second's worth are allowed.
	RequestsPerSecond float64
	// MaxRetryAfter caps how long a 429 Retry-After is honoured; 0 or less
	// means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Transport is the base transport; nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent is prepended to go-containerregistry's user agent.
	UserAgent string
	// Logger receives retry and wait events; nil discards them.
	Logger *slog.Logger

	// Limits; 0 or less means the default above.
	MaxBodyBytes    int64         // DefaultMaxBodyBytes
	MaxBlobBytes    int64         // DefaultMaxBlobBytes
	MaxTagListBytes int64         // DefaultMaxTagListBytes
	MaxTagPages     int           // DefaultMaxTagPages
	RequestTimeout  time.Duration // DefaultRequestTimeout
	LookupTimeout   time.Duration // DefaultLookupTimeout
}

// Stats counts pacing events since the Client was made.
type Stats struct {
	// RateLimitWaits counts requests that waited for the per-host limiter.
	RateLimitWaits uint64
	// Retries429 counts requests repeated after an HTTP 429.
	Retries429 uint64
}

// Descriptor identifies the manifest a tag points at.
type Descriptor struct {
	Digest    string // e.g. "sha256:…"
	MediaType string
	// Size is the manifest's size in bytes; Resolve sets it from the
	// registry's answer, Describe from the bytes read.
	Size int64
}

// Client lists and resolves tags. It is safe for concurrent use; its limiters
// and counters are shared by all calls.
type Client struct {
	keychain  authn.Keychain
	userAgent string
	rt        *throttle
	puller    *remote.Puller

	maxTagListBytes int64
	maxTagPages     int
	lookupTimeout   time.Duration

	// warming holds, per registry host, the API check in flight (warm).
	warming sync.Map
}

// ForgetTags drops the tag-list pages kept for image's repository, so its
// next listing is asked in full, not with If-None-Match: a registry's
// push notification names a tag a kept list may lack (an ETag wrongly
// unchanged, a page whose next page is new).
func (c *Client) ForgetTags(image string) {
	ref, err := name.NewRepository(image, name.WeakValidation)
	if err != nil {
		return
	}
	c.rt.etags.dropRepository(ref.RegistryStr(), ref.RepositoryStr())
}

// retryCodes is go-containerregistry's default retry set without 429, which
// throttle handles with Retry-After; leaving it in would multiply attempts.
var retryCodes = []int{
	http.StatusRequestTimeout,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
	499, // nginx: client closed request
	522, // Cloudflare: connection timed out
}

// NewClient builds a Client from opts, filling in defaults.
func NewClient(opts Options) *Client {
	kc := opts.Keychain
	if kc == nil {
		kc = authn.NewMultiKeychain() // resolves to Anonymous
	}
	base := opts.Transport
	if base == nil {
		tr := httpx.NewTransport(httpx.Timeouts{})
		// Look-ups run in parallel against one host (the agent's
		// registry.concurrency): with net/http's 2 idle connections per
		// host, most requests of a pass dialled a new one.
		tr.MaxIdleConnsPerHost = maxIdlePerHost
		base = tr
	}
	reqTimeout := positive(opts.RequestTimeout, DefaultRequestTimeout)
	// Innermost first: credentials go nowhere but their origin, whatever
	// go-containerregistry's auth transports added above; each attempt has
	// its deadline, body read included.
	base = httpx.WithDeadline(httpx.StripCredentials(base), reqTimeout)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxRA := opts.MaxRetryAfter
	if maxRA <= 0 {
		maxRA = DefaultMaxRetryAfter
	}
	rps := opts.RequestsPerSecond
	if rps == 0 {
		rps = DefaultRequestsPerSecond
	}
	limit, burst := rate.Inf, 1
	if rps > 0 {
		limit = rate.Limit(rps)
		burst = int(min(math.Ceil(rps), math.MaxInt32))
	}
	c := &Client{
		keychain:  kc,
		userAgent: opts.UserAgent,
		rt: &throttle{
			base:          base,
			limit:         limit,
			burst:         burst,
			maxRetryAfter: maxRA,
			log:           log,
			now:           time.Now,
			limiters:      map[string]*rate.Limiter{},
			maxBody:       positive(opts.MaxBodyBytes, DefaultMaxBodyBytes),
			maxBlob:       positive(opts.MaxBlobBytes, DefaultMaxBlobBytes),
		},
		maxTagListBytes: positive(opts.MaxTagListBytes, DefaultMaxTagListBytes),
		maxTagPages:     positive(opts.MaxTagPages, DefaultMaxTagPages),
		lookupTimeout:   positive(opts.LookupTimeout, DefaultLookupTimeout),
	}
	// One puller for every call keeps each repository's authenticated
	// transport: a registry is pinged and a token fetched once, not per call.
	if p, err := remote.NewPuller(c.baseOptions()...); err == nil {
		c.puller = p
	}
	return c
}

// positive is v, or def when v is not positive.
func positive[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{RateLimitWaits: c.rt.waits.Load(), Retries429: c.rt.retries.Load()}
}

func (c *Client) options(ctx context.Context) []remote.Option {
	o := append(c.baseOptions(), remote.WithContext(ctx))
	if c.puller != nil {
		o = append(o, remote.Reuse(c.puller))
	}
	return o
}

func (c *Client) baseOptions() []remote.Option {
	o := []remote.Option{
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(c.rt),
		remote.WithRetryStatusCodes(retryCodes...),
		remote.WithPageSize(tagPageSize),
	}
	if c.userAgent != "" {
		o = append(o, remote.WithUserAgent(c.userAgent))
	}
	return o
}

// Tags lists every tag of repo (host/path), following pagination.
// Loopback registries are reached over plain HTTP; others over verified TLS
// unless insecure is set. A listing stops with an error after
// MaxTagPages pages, when a Link header leads to a page already read
// (ErrPagingLoop), or when its pages together pass MaxTagListBytes.
func (c *Client) Tags(ctx context.Context, repo string, insecure bool) ([]string, error) {
	r, err := c.parseRepo(repo, insecure)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	ctx, cancel := c.lookup(ctx)
	defer cancel()
	if err := c.warm(ctx, r.Registry); err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, withCtxErr(ctx, err))
	}
	tags, err := c.listTags(withListBudget(ctx, c.maxTagListBytes), r)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, withCtxErr(ctx, err))
	}
	return validTags(tags), nil
}

// validTags drops what a registry lists that cannot be a tag (a hostile or
// broken one: control characters, newlines, 5,000 bytes): no such string
// can be pulled, and none must reach a selector, a commit or a terminal.
func validTags(tags []string) []string {
	out := tags[:0]
	for _, t := range tags {
		if validTag(t) {
			out = append(out, t)
		}
	}
	return out
}

// validTag is the OCI distribution spec's tag grammar,
// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, by hand: a regular expression per
// tag was a tenth of a no-op pass over 10,000 repositories.
func validTag(t string) bool {
	if len(t) == 0 || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// maxIdlePerHost is the idle connections kept per registry host.
const maxIdlePerHost = 64

// tagPageSize is the n= of the first tag-list request (go-containerregistry's
// default, made explicit so the first page's URL is known).
const tagPageSize = 1000

// Paging errors.
var (
	// ErrPagingLoop is a Link header that leads to a page already read.
	ErrPagingLoop = errors.New("the registry's Link header leads back to a page already read")
	// ErrTooManyPages is a tag listing longer than MaxTagPages.
	ErrTooManyPages = errors.New("too many tag-list pages")
)

// listTags pages through the tag list itself, rather than with
// remote.List, to count pages and remember each page's URL.
func (c *Client) listTags(ctx context.Context, r name.Repository) ([]string, error) {
	p := c.puller
	if p == nil {
		var err error
		if p, err = remote.NewPuller(c.options(ctx)...); err != nil {
			return nil, err
		}
	}
	source := fmt.Sprintf("registry %s tag list for %s", r.RegistryStr(), r.RepositoryStr())
	first := (&url.URL{Scheme: r.Scheme(), Host: r.RegistryStr(), Path: "/v2/" + r.RepositoryStr() + "/tags/list",
		RawQuery: "n=" + strconv.Itoa(tagPageSize)}).String()
	seen := map[string]int{first: 1}
	l, err := p.Lister(ctx, r)
	if err != nil {
		return nil, err
	}
	tags := []string{}
	for pages := 0; l.HasNext(); {
		if pages == c.maxTagPages {
			return nil, fmt.Errorf("%s: %w: stopped after %d pages", source, ErrTooManyPages, pages)
		}
		page, err := l.Next(ctx)
		if err != nil {
			return nil, err
		}
		pages++
		tags = append(tags, page.Tags...)
		if page.Next == "" {
			continue
		}
		if n, ok := seen[page.Next]; ok {
			return nil, fmt.Errorf("%s: page %d links to page %d (%s): %w", source, pages, n, httpx.RedactURL(page.Next), ErrPagingLoop)
		}
		seen[page.Next] = pages + 1
	}
	return tags, nil
}

// lookup bounds one call by LookupTimeout unless ctx ends sooner.
func (c *Client) lookup(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= c.lookupTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.lookupTimeout)
}

// Resolve returns the digest and media type that repo:tag points at, with a
// HEAD request, or a GET when the registry does not allow HEAD.
func (c *Client) Resolve(ctx context.Context, repo, tag string, insecure bool) (Descriptor, error) {
	r, err := c.parseRepo(repo, insecure)
	if err != nil {
		return Descriptor{}, fmt.Errorf("resolve %s:%s: %w", repo, tag, err)
	}
	ref, err := name.NewTag(r.Name()+":"+tag, nameOptions(r, insecure)...)
	if err != nil {
		return Descriptor{}, fmt.Errorf("resolve %s:%s: %w", repo, tag, err)
	}
	ctx, cancel := c.lookup(ctx)
	defer cancel()
	if err := c.warm(ctx, r.Registry); err != nil {
		return Descriptor{}, fmt.Errorf("resolve %s:%s: %w", repo, tag, withCtxErr(ctx, err))
	}
	d, err := remote.Head(ref, c.options(ctx)...)
	if err == nil {
		return Descriptor{Digest: d.Digest.String(), MediaType: string(d.MediaType), Size: d.Size}, nil
	}
	if !headRefused(err) {
		return Descriptor{}, fmt.Errorf("resolve %s:%s: %w", repo, tag, withCtxErr(ctx, err))
	}
	g, err := remote.Get(ref, c.options(ctx)...)
	if err != nil {
		return Descriptor{}, fmt.Errorf("resolve %s:%s: %w", repo, tag, withCtxErr(ctx, err))
	}
	return Descriptor{Digest: g.Digest.String(), MediaType: string(g.MediaType), Size: g.Size}, nil
}

// Describe returns the descriptor of the manifest repo@digest: its media
// type and size, as a signature that names it must (Notation signs the
// whole descriptor). It reads the manifest (capped by MaxBodyBytes) rather
// than trusting a HEAD's headers, so the size is that of bytes whose digest
// was checked.
func (c *Client) Describe(ctx context.Context, repo, digest string, insecure bool) (Descriptor, error) {
	ref, err := c.parseDigest(repo, digest, insecure)
	if err != nil {
		return Descriptor{}, fmt.Errorf("describe %s@%s: %w", repo, digest, err)
	}
	ctx, cancel := c.lookup(ctx)
	defer cancel()
	g, err := remote.Get(ref, c.options(ctx)...)
	if err != nil {
		return Descriptor{}, fmt.Errorf("describe %s@%s: %w", repo, digest, withCtxErr(ctx, err))
	}
	// go-containerregistry checks a digest reference's bytes; this holds
	// whatever it does.
	if g.Digest.String() != digest || g.Size != int64(len(g.Manifest)) {
		return Descriptor{}, fmt.Errorf("describe %s@%s: the registry answered with %s (%d bytes)", repo, digest, g.Digest, len(g.Manifest))
	}
	return Descriptor{Digest: digest, MediaType: string(g.MediaType), Size: g.Size}, nil
}

// headRefused reports whether the registry rejected the HEAD method itself.
func headRefused(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) &&
		(te.StatusCode == http.StatusMethodNotAllowed || te.StatusCode == http.StatusNotImplemented)
}

// withCtxErr keeps errors.Is(err, ctx.Err()) true when go-containerregistry
// loses the chain (its parallel ping joins errors without Unwrap).
func withCtxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

func (c *Client) parseRepo(repo string, insecure bool) (name.Repository, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return name.Repository{}, err
	}
	if insecure {
		c.rt.insecure.Store(r.RegistryStr(), true)
	}
	if o := nameOptions(r, insecure); len(o) > 0 {
		return name.NewRepository(repo, o...)
	}
	return r, nil
}

// nameOptions marks loopback registries (all of 127.0.0.0/8, ::1,
// localhost and *.localhost) and explicitly insecure ones as plain-HTTP
// capable. go-containerregistry alone covers only 127.0.0.1, ::1 and
// localhost. Such registries are still tried over HTTPS first, falling back to
// HTTP (go-containerregistry's ping).
func nameOptions(r name.Repository, insecure bool) []name.Option {
	if insecure || isLoopback(r.RegistryStr()) {
		return []name.Option{name.Insecure}
	}
	return nil
}

func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsNotFound reports the registry's answer that a tag or manifest does not
// exist (404, MANIFEST_UNKNOWN, NAME_UNKNOWN), as opposed to a failure to
// ask: absent is an answer, a timeout is not.
func IsNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return false
}
