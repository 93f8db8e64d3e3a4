package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferry-dev/ferry/internal/clock"
	"github.com/ferry-dev/ferry/internal/httpx"
)

// max429Retries is how often one request is retried after HTTP 429.
const max429Retries = 5

// defaultRetryAfter is the wait after a 429 without a usable Retry-After.
const defaultRetryAfter = time.Second

// throttle is the RoundTripper under go-containerregistry's own transports:
// it paces requests per registry host and retries HTTP 429 responses.
type throttle struct {
	base          http.RoundTripper
	limit         rate.Limit
	burst         int
	maxRetryAfter time.Duration
	log           *slog.Logger
	now           func() time.Time

	mu       sync.Mutex
	limiters map[string]*rate.Limiter

	waits   atomic.Uint64
	retries atomic.Uint64

	// insecure holds the hosts an app marked insecure: true. Any other
	// non-loopback host gets no plain HTTP, even where go-containerregistry
	// would fall back to it (it does for private RFC 1918 addresses).
	insecure sync.Map

	// Body caps: maxBlob for blobs, maxBody for everything else.
	maxBody, maxBlob int64

	pings pingCache
	etags etagCache
}

// ErrPlainHTTP refuses an unencrypted request to a registry that did not opt out of TLS.
var ErrPlainHTTP = errors.New("plain HTTP refused: the registry is not on loopback and its app does not set insecure: true")

func (t *throttle) limiter(host string) *rate.Limiter {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.limiters[host]
	if !ok {
		l = rate.NewLimiter(t.limit, t.burst)
		t.limiters[host] = l
	}
	return l
}

// wait blocks until host's limiter grants a request, counting the requests
// that had to wait.
func (t *throttle) wait(ctx context.Context, host string) error {
	r := t.limiter(host).Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	t.waits.Add(1)
	if dl, ok := ctx.Deadline(); ok && t.now().Add(d).After(dl) {
		r.Cancel()
		return fmt.Errorf("rate limit for %s needs a %s wait: %w", host, d, context.DeadlineExceeded)
	}
	t.log.DebugContext(ctx, "registry rate limit wait", "host", host, "delay", d)
	if err := clock.Sleep(ctx, d); err != nil {
		r.Cancel()
		return fmt.Errorf("rate limit wait for %s: %w", host, err)
	}
	return nil
}

func (t *throttle) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !isLoopback(req.URL.Host) {
		if _, ok := t.insecure.Load(req.URL.Host); !ok {
			return nil, fmt.Errorf("%s: %w", req.URL.Host, ErrPlainHTTP)
		}
	}
	ping := isPing(req)
	if ping {
		if resp, err, ok := t.pings.answer(req, t.now()); ok {
			return resp, err
		}
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		if err := t.wait(ctx, req.URL.Host); err != nil {
			return nil, err
		}
		r, err := rewind(req, attempt)
		if err != nil {
			return nil, err
		}
		r, kept := t.etags.conditional(r)
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		resp = t.etags.answer(req, kept, resp)
		if resp.StatusCode != http.StatusTooManyRequests || attempt == max429Retries || !replayable(req) {
			if ping {
				t.pings.store(req, resp, t.now())
			}
			t.capBody(req, resp)
			return resp, nil
		}
		d := retryAfter(resp.Header.Get("Retry-After"), t.now(), t.maxRetryAfter)
		// Drain a little so the connection can be reused; registries send
		// small error bodies.
		httpx.Drain(resp, 64<<10)
		t.retries.Add(1)
		t.log.InfoContext(ctx, "registry throttled request, retrying",
			"host", req.URL.Host, "path", req.URL.Path, "retry_after", d, "attempt", attempt+1)
		if err := clock.Sleep(ctx, d); err != nil {
			return nil, fmt.Errorf("wait to retry %s %s%s after 429: %w", req.Method, req.URL.Host, req.URL.Path, err)
		}
	}
}

// capBody caps resp's body by what req reads, so go-containerregistry's own
// readers (tag lists, config blobs) stop at the cap with an error naming the
// registry, the repository and the limit.
func (t *throttle) capBody(req *http.Request, resp *http.Response) {
	if resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	ctx := req.Context()
	src := describe(req)
	n := t.maxBody
	if src.blob {
		n = max(t.maxBlob, blobLimit(ctx))
	}
	resp.Body = httpx.LimitBody(resp.Body, src.name, n)
	if b := listBudgetOf(ctx); b != nil && src.list {
		resp.Body = b.wrap(resp.Body, src.name)
	}
}

// source says what a registry request reads.
type source struct {
	name string // "registry 127.0.0.1:5000 tag list for shop/checkout"
	blob bool
	list bool
}

// describe names req by the first request of its redirect chain (a blob
// redirected to storage is still that registry's blob).
func describe(req *http.Request) source {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	host, p := req.URL.Host, req.URL.Path
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return source{name: fmt.Sprintf("registry %s %s", host, p)}
	}
	if repo, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return source{name: fmt.Sprintf("registry %s tag list for %s", host, repo), list: true}
	}
	for _, k := range []struct{ sep, what string }{
		{"/manifests/", "manifest %[2]s of %[1]s"},
		{"/blobs/", "blob %[2]s of %[1]s"},
		{"/referrers/", "referrers of %[1]s@%[2]s"},
	} {
		if i := strings.LastIndex(rest, k.sep); i > 0 {
			return source{
				name: fmt.Sprintf("registry %s ", host) + fmt.Sprintf(k.what, rest[:i], rest[i+len(k.sep):]),
				blob: k.sep == "/blobs/",
			}
		}
	}
	if rest == "" {
		return source{name: fmt.Sprintf("registry %s API check", host)}
	}
	return source{name: fmt.Sprintf("registry %s %s", host, p)}
}

type ctxKey int

const (
	blobLimitKey ctxKey = iota
	listBudgetKey
)

// withBlobLimit lets one call read blobs up to n bytes.
func withBlobLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, blobLimitKey, n)
}

func blobLimit(ctx context.Context) int64 {
	n, _ := ctx.Value(blobLimitKey).(int64)
	return n
}

// listBudget is what is left of MaxTagListBytes for one tag listing, shared
// by its pages.
type listBudget struct {
	limit int64
	left  atomic.Int64
}

func withListBudget(ctx context.Context, limit int64) context.Context {
	b := &listBudget{limit: limit}
	b.left.Store(limit)
	return context.WithValue(ctx, listBudgetKey, b)
}

func listBudgetOf(ctx context.Context) *listBudget {
	b, _ := ctx.Value(listBudgetKey).(*listBudget)
	return b
}

func (b *listBudget) wrap(rc io.ReadCloser, name string) io.ReadCloser {
	return &budgetBody{ReadCloser: rc, b: b, name: name + " (all pages)"}
}

type budgetBody struct {
	io.ReadCloser
	b    *listBudget
	name string
}

func (r *budgetBody) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if left := r.b.left.Add(-int64(n)); left < 0 {
		// Hand over only what fits: a decoder given the rest of a page
		// with the error would finish that page and ignore the error.
		return max(n+int(left), 0), &httpx.TooLargeError{Source: r.name, Limit: r.b.limit}
	}
	return n, err
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewind returns req for the first attempt and a copy with a fresh body for
// later ones (a RoundTripper must not change the caller's request).
func rewind(req *http.Request, attempt int) (*http.Request, error) {
	if attempt == 0 || req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("rewind body of %s %s%s: %w", req.Method, req.URL.Host, req.URL.Path, err)
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r, nil
}

// retryAfter parses a Retry-After header (delta-seconds or HTTP-date)
// relative to now, falling back to defaultRetryAfter when it is absent or
// malformed, and caps the result at limit.
func retryAfter(h string, now time.Time, limit time.Duration) time.Duration {
	d := defaultRetryAfter
	h = strings.TrimSpace(h)
	secs, err := strconv.ParseUint(h, 10, 64)
	switch {
	case err == nil && secs <= uint64(math.MaxInt64/time.Second):
		d = time.Duration(secs) * time.Second
	case err == nil || errors.Is(err, strconv.ErrRange):
		d = limit // more seconds than a Duration holds
	default:
		if at, err := http.ParseTime(h); err == nil {
			d = max(at.Sub(now), 0)
		}
	}
	return max(min(d, limit), 0)
}
