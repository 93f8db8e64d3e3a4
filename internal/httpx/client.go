package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Default deadlines of an outbound request.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultRequestTimeout        = 30 * time.Second
	// MaxRedirects is net/http's own default, made explicit.
	MaxRedirects = 10
)

// Timeouts bound one request; a zero field takes its default, a negative
// one turns that bound off (for callers that bound with their context).
type Timeouts struct {
	Dial           time.Duration // TCP connect
	TLSHandshake   time.Duration
	ResponseHeader time.Duration // from the request written to the status line
	Request        time.Duration // the whole request, redirects and body included
}

func (t Timeouts) withDefaults() Timeouts {
	pick := func(v, def time.Duration) time.Duration {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	return Timeouts{
		Dial:           pick(t.Dial, DefaultDialTimeout),
		TLSHandshake:   pick(t.TLSHandshake, DefaultTLSHandshakeTimeout),
		ResponseHeader: pick(t.ResponseHeader, DefaultResponseHeaderTimeout),
		Request:        pick(t.Request, DefaultRequestTimeout),
	}
}

// NewTransport is http.DefaultTransport (proxy from the environment,
// HTTP/2, keep-alives) with t's dial, handshake and header deadlines, so a
// server that accepts and never answers cannot hold a caller whose context
// has no deadline.
func NewTransport(t Timeouts) *http.Transport {
	t = t.withDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = t.TLSHandshake
	tr.ResponseHeaderTimeout = t.ResponseHeader
	return tr
}

// NewClient returns a client over rt (nil: NewTransport(t)) whose requests
// end after t.Request, whose redirects follow CheckRedirect, and whose
// transport strips credentials from cross-origin redirect hops even when a
// layer wrapped around it (an SDK's token transport) added them.
func NewClient(rt http.RoundTripper, t Timeouts) *http.Client {
	t = t.withDefaults()
	if rt == nil {
		rt = NewTransport(t)
	}
	return &http.Client{
		Transport:     StripCredentials(rt),
		CheckRedirect: CheckRedirect,
		Timeout:       t.Request,
	}
}

// Harden returns a copy of c (nil: NewClient with t) whose transport caps
// answers as limit says and strips credentials from cross-origin redirect
// hops, and whose redirect policy is CheckRedirect unless c set its own.
// For callers that accept a client from outside (tests, proxies, TLS).
// Credentials that c's own transport adds are beyond its reach: layers
// that add them must wrap the hardened client's transport.
func Harden(c *http.Client, t Timeouts, limit BodyLimit) *http.Client {
	var hc http.Client
	if c != nil {
		hc = *c
	} else {
		hc = *NewClient(nil, t)
	}
	rt := hc.Transport
	if rt == nil {
		rt = NewTransport(t)
	}
	if limit != nil {
		rt = LimitResponses(rt, limit)
	}
	hc.Transport = StripCredentials(rt)
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = CheckRedirect
	}
	return &hc
}

// ErrRedirect marks a redirect ferry refused to follow.
var ErrRedirect = errors.New("redirect refused")

// CheckRedirect is the redirect policy of every ferry client: at most
// MaxRedirects hops, never from https to http, and a hop to another origin
// (scheme, host or port differ from the first request's) goes without any
// header that could carry a credential. net/http's own policy compares host
// names only, so it would send Authorization to another port of the same
// host, and it copies custom headers such as GitLab's Private-Token to any
// host.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= MaxRedirects {
		return fmt.Errorf("%w: stopped after %d redirects", ErrRedirect, MaxRedirects)
	}
	if len(via) > 0 {
		prev := via[len(via)-1].URL
		if prev.Scheme == "https" && req.URL.Scheme == "http" {
			return fmt.Errorf("%w: %s redirected to plain http (%s)", ErrRedirect, originOf(prev), originOf(req.URL))
		}
	}
	if crossOriginChain(req.URL, via) {
		keepSafeHeaders(req.Header)
	}
	return nil
}

// CrossOrigin reports whether req is a redirect hop (net/http links it to
// the previous response) on a chain that has left the first request's
// origin. Once left, the chain counts as cross-origin even if it comes back,
// as in net/http.
func CrossOrigin(req *http.Request) bool {
	var chain []*http.Request
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		chain = append(chain, r.Response.Request)
	}
	if len(chain) == 0 {
		return false
	}
	// chain runs from the previous hop back to the first request.
	via := make([]*http.Request, len(chain))
	for i, r := range chain {
		via[len(chain)-1-i] = r
	}
	return crossOriginChain(req.URL, via)
}

func crossOriginChain(next *url.URL, via []*http.Request) bool {
	if len(via) == 0 {
		return false
	}
	first := via[0].URL
	if !SameOrigin(first, next) {
		return true
	}
	for _, r := range via[1:] {
		if !SameOrigin(first, r.URL) {
			return true
		}
	}
	return false
}

// SameOrigin compares scheme, host and port (the scheme's default port
// when none is written), as browsers do.
func SameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

func originOf(u *url.URL) string { return u.Scheme + "://" + u.Host }

// safeHeaders may follow a redirect to another origin: content negotiation
// and caching, nothing that identifies or authorises the caller. Anything
// else (Authorization, Cookie, Private-Token, X-Api-Key, signatures, a
// Referer that may hold a query token) is dropped.
var safeHeaders = map[string]bool{
	"Accept":              true,
	"Accept-Charset":      true,
	"Accept-Encoding":     true,
	"Accept-Language":     true,
	"Cache-Control":       true,
	"Content-Language":    true,
	"Content-Type":        true,
	"If-Match":            true,
	"If-Modified-Since":   true,
	"If-None-Match":       true,
	"If-Unmodified-Since": true,
	"Pragma":              true,
	"Range":               true,
	"User-Agent":          true,
}

func keepSafeHeaders(h http.Header) {
	for k := range h {
		if !safeHeaders[http.CanonicalHeaderKey(k)] {
			delete(h, k)
		}
	}
}

// StripCredentials returns a RoundTripper that removes every header but
// the safe ones from a cross-origin redirect hop before next sends it. Put
// it under any layer that adds credentials per request.
func StripCredentials(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if s, ok := next.(*stripper); ok {
		return s
	}
	return &stripper{next: next}
}

type stripper struct{ next http.RoundTripper }

func (s *stripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if CrossOrigin(req) {
		req = req.Clone(req.Context())
		keepSafeHeaders(req.Header)
	}
	return s.next.RoundTrip(req)
}

func (s *stripper) CloseIdleConnections() { closeIdle(s.next) }

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// BodyLimit names the source of req's answer and caps its body; a limit of
// 0 or less leaves that body unbounded.
type BodyLimit func(req *http.Request) (source string, limit int64)

// LimitResponses caps every response body next returns as limit says, so
// readers inside libraries (client_golang, SDKs) meet the limit too.
func LimitResponses(next http.RoundTripper, limit BodyLimit) http.RoundTripper {
	return &limiter{next: next, limit: limit}
}

type limiter struct {
	next  http.RoundTripper
	limit BodyLimit
}

func (l *limiter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if source, n := l.limit(req); n > 0 {
		resp.Body = LimitBody(resp.Body, source, n)
	}
	return resp, nil
}

func (l *limiter) CloseIdleConnections() { closeIdle(l.next) }

// WithDeadline bounds each request next sends, body read included, by d;
// for libraries that build their own http.Client without a timeout
// (go-containerregistry). d <= 0 returns next.
func WithDeadline(next http.RoundTripper, d time.Duration) http.RoundTripper {
	if d <= 0 {
		return next
	}
	return &deadline{next: next, d: d}
}

type deadline struct {
	next http.RoundTripper
	d    time.Duration
}

func (t *deadline) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.d)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil && req.Context().Err() == nil {
			return nil, fmt.Errorf("%s %s: no answer within %s: %w", req.Method, originOf(req.URL), t.d, err)
		}
		return nil, err
	}
	// The deadline holds until the body is read and closed.
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel, ctx: ctx, parent: req.Context(), d: t.d}
	return resp, nil
}

func (t *deadline) CloseIdleConnections() { closeIdle(t.next) }

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	ctx    context.Context
	parent context.Context
	d      time.Duration
	once   sync.Once
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil && b.parent.Err() == nil {
		// Say which bound ended the read: the transport reports only
		// "context deadline exceeded".
		err = fmt.Errorf("body not read within %s: %w", b.d, context.DeadlineExceeded)
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.cancel)
	return err
}
