package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferry-dev/ferry/internal/text"
)

// Handler serves the webhook endpoints. A call is authenticated from its
// headers where it can (a bearer token), its body is read within a size
// limit and a deadline, a signed call is then checked against the body,
// and only then is it parsed; a call that fails any step gets a 4xx (or a
// 503 when too many unauthenticated calls are being read) and reaches no
// callback.
type Handler struct {
	verifier    *Verifier
	limit       int64
	bodyTimeout time.Duration
	unauth      chan struct{} // one token per unauthenticated body being read
	busy        atomic.Int64  // 503s since the last one logged
	busyLog     rate.Sometimes
	log         *slog.Logger
	onRegistry  func(context.Context, []RegistryEvent)
	onPush      func(context.Context, PushEvent)
	onAlerts    func(context.Context, []AlertEvent)
	router      atomic.Pointer[AlertRouter] // replaced when ferry.yaml changes
	dedupe      *Deduper
	mux         *http.ServeMux
}

// Defaults of HandlerOptions.
const (
	// DefaultBodyTimeout bounds reading one body, from its first byte.
	DefaultBodyTimeout = 10 * time.Second
	// DefaultMaxUnauthenticated bounds the bodies read at once before their
	// signature is checked; a bearer-token call never waits for a slot.
	DefaultMaxUnauthenticated = 32
)

// HandlerOptions configure New; an endpoint whose callback is nil is not
// served.
type HandlerOptions struct {
	Verifier *Verifier
	MaxBody  int64        // DefaultMaxBody when <= 0
	Log      *slog.Logger // nil logs nothing
	// BodyTimeout is the deadline to read a body (DefaultBodyTimeout when
	// <= 0): a client trickling its body is cut off with 408.
	BodyTimeout time.Duration
	// MaxUnauthenticated caps the calls whose body is being read before
	// their signature can be checked (DefaultMaxUnauthenticated when <= 0).
	// Past it a signed call gets 503 with Retry-After at once, never queued.
	MaxUnauthenticated int

	OnRegistry func(context.Context, []RegistryEvent) // POST /hooks/registry
	OnPush     func(context.Context, PushEvent)       // POST /hooks/git
	// OnAlerts gets the new alerts that map to an app and env, firing and
	// resolved (POST /hooks/alertmanager).
	OnAlerts    func(context.Context, []AlertEvent)
	AlertRouter *AlertRouter // nil: labels app and env, every alert
	Deduper     *Deduper     // nil: a Deduper with its defaults
}

// New serves POST /hooks/registry[/<vendor>] (registry notifications,
// see ParseRegistry), POST /hooks/registry/<secret path> (for senders that
// sign nothing), POST /hooks/git[/<forge>] (push events, see
// ParseGitPush) and POST /hooks/alertmanager, each only when its callback
// is set. Callbacks run before the answer is written, so they
// should hand the work on quickly; their context keeps the request's
// values but is not cancelled when the response is sent.
func New(o HandlerOptions) *Handler {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bodyTimeout := o.BodyTimeout
	if bodyTimeout <= 0 {
		bodyTimeout = DefaultBodyTimeout
	}
	maxUnauth := o.MaxUnauthenticated
	if maxUnauth <= 0 {
		maxUnauth = DefaultMaxUnauthenticated
	}
	h := &Handler{verifier: o.Verifier, limit: o.MaxBody, bodyTimeout: bodyTimeout, unauth: make(chan struct{}, maxUnauth),
		busyLog: rate.Sometimes{First: 1, Interval: 10 * time.Second}, log: log, onRegistry: o.OnRegistry, onPush: o.OnPush,
		onAlerts: o.OnAlerts, dedupe: o.Deduper, mux: http.NewServeMux()}
	h.router.Store(o.AlertRouter)
	if h.limit <= 0 {
		h.limit = DefaultMaxBody
	}
	// The method in each pattern makes ServeMux answer 405 (with Allow) to others.
	if h.onRegistry != nil {
		h.mux.HandleFunc("POST /hooks/registry", h.registry)
		// A vendor's name pins the parser; anything else must be the secret
		// path (senders that sign nothing: Docker Hub, Quay).
		h.mux.HandleFunc("POST /hooks/registry/{vendor}", h.registry)
	}
	if h.onPush != nil {
		h.mux.HandleFunc("POST /hooks/git", h.git)
		h.mux.HandleFunc("POST /hooks/git/{forge}", h.git)
	}
	if h.onAlerts != nil {
		if h.router.Load() == nil {
			r, _ := NewAlertRouter(AlertRouting{}) // the defaults always parse
			h.router.Store(r)
		}
		if h.dedupe == nil {
			h.dedupe = &Deduper{}
		}
		h.mux.HandleFunc("POST /hooks/alertmanager", h.alertmanager)
	}
	return h
}

// ServeHTTP routes to the endpoint.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) registry(w http.ResponseWriter, r *http.Request) {
	vendor, pathAuth := r.PathValue("vendor"), false
	if vendor != "" && !slices.Contains(RegistryVendors, vendor) {
		if !h.verifier.CheckPath(vendor) {
			closeUnread(w)
			h.reject(w, r, http.StatusUnauthorized, fmt.Errorf("not a registry vendor (%s) nor the secret path", strings.Join(RegistryVendors, ", ")))
			return
		}
		vendor, pathAuth = "", true
	}
	body, ok := h.accept(w, r, pathAuth)
	if !ok {
		return
	}
	events, err := ParseRegistry(vendor, r.Header, body)
	if errors.Is(err, ErrIgnored) {
		h.ignore(w, r, err)
		return
	}
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, err)
		return
	}
	for _, ev := range events {
		h.log.Debug("registry push", "host", clip(ev.Host), "repository", clip(ev.Repository), "tag", clip(ev.Tag), "digest", clip(ev.Digest))
	}
	if len(events) > 0 {
		h.onRegistry(context.WithoutCancel(r.Context()), events)
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) git(w http.ResponseWriter, r *http.Request) {
	forge := r.PathValue("forge")
	if forge != "" && !slices.Contains(Forges, forge) {
		closeUnread(w)
		// The segment is not echoed: it may be the secret path sent here by mistake.
		h.reject(w, r, http.StatusNotFound, fmt.Errorf("unknown forge: want one of %s", strings.Join(Forges, ", ")))
		return
	}
	body, ok := h.accept(w, r, false)
	if !ok {
		return
	}
	evs, err := ParseGitPush(forge, r.Header, body)
	if errors.Is(err, ErrIgnored) {
		h.ignore(w, r, err)
		return
	}
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, err)
		return
	}
	for _, ev := range evs {
		h.log.Info("git push", "repository", clip(ev.Repository), "ref", clip(ev.Ref), "after", clip(ev.After))
		h.onPush(context.WithoutCancel(r.Context()), ev)
	}
	w.WriteHeader(http.StatusAccepted)
}

// ignore answers 200 to an authenticated event that is not a push (a
// ping, a delete, a pull): the vendor shows the delivery as good.
func (h *Handler) ignore(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Debug("webhook ignored", "path", safePath(r), "reason", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintln(w, oneLine(err))
}

// safePath is the request's path for a log line: the secret path segment
// is a credential, so any segment after /hooks/registry/ or /hooks/git/
// that is not a vendor's name is left out.
func safePath(r *http.Request) string {
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/hooks/registry/"); ok && !slices.Contains(RegistryVendors, rest) {
		return "/hooks/registry/<secret path>"
	}
	if rest, ok := strings.CutPrefix(p, "/hooks/git/"); ok && !slices.Contains(Forges, rest) {
		return "/hooks/git/<unknown>"
	}
	return p
}

// accept authenticates the call (unless pathAuth: the secret path already
// did) and reads its body, answering the
// refusal itself: 401 (bad or missing credentials), 415 (a form-encoded
// body: ferry reads JSON), 409 (a replayed
// signature), 413 (too large), 408 (body too slow) or 503 (too many
// unauthenticated bodies being read).
func (h *Handler) accept(w http.ResponseWriter, r *http.Request, pathAuth bool) ([]byte, bool) {
	bearer, err := true, error(nil) // the secret path was checked by the caller
	if !pathAuth {
		bearer, err = h.verifier.CheckHeaders(r)
	}
	if err != nil {
		closeUnread(w)
		h.reject(w, r, http.StatusUnauthorized, err)
		return nil, false
	}
	if err := jsonContent(r.Header); err != nil {
		closeUnread(w)
		h.reject(w, r, http.StatusUnsupportedMediaType, err)
		return nil, false
	}
	if r.ContentLength > h.limit { // refused before a byte of it is read
		closeUnread(w)
		h.reject(w, r, http.StatusRequestEntityTooLarge, &TooLargeError{Limit: h.limit})
		return nil, false
	}
	if !bearer {
		// Only a signature can authenticate this call, and only once the
		// whole body is here: bound how many such bodies are read at once,
		// so slow or fake signed calls cannot hold every connection.
		select {
		case h.unauth <- struct{}{}:
			defer func() { <-h.unauth }()
		default:
			h.refuseBusy(w, r)
			return nil, false
		}
	}
	// A deadline from now on: the header timeout has already passed.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.bodyTimeout)) // unsupported in tests' recorders
	body, err := ReadBody(w, r, h.limit)
	if err != nil {
		status := http.StatusBadRequest
		var tl *TooLargeError
		switch {
		case errors.As(err, &tl):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(err, os.ErrDeadlineExceeded):
			status = http.StatusRequestTimeout
			err = fmt.Errorf("body not received within %s", h.bodyTimeout)
			closeUnread(w)
		}
		h.reject(w, r, status, err)
		return nil, false
	}
	if !bearer {
		if err := h.verifier.VerifyBody(r, body); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, ErrReplay) {
				status = http.StatusConflict
			}
			h.reject(w, r, status, err)
			return nil, false
		}
	}
	return body, true
}

// jsonContent refuses a form-encoded body (GitHub's and Gitea's
// "application/x-www-form-urlencoded" content type, payload=<JSON>):
// GitHub signs the form, Gitea the JSON inside it, and every parser reads
// JSON, so the sender is told what to set rather than given a misleading
// signature or JSON error.
func jsonContent(h http.Header) error {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" {
		return fmt.Errorf("form-encoded body (%s): set the webhook's content type to application/json", mt)
	}
	return nil
}

// closeUnread marks an answer given without reading the whole body: the
// connection closes after it. Otherwise net/http reads up to 256 KiB of
// the unread body before it writes the answer, so a refusal would wait for
// the very trickle it refuses.
func closeUnread(w http.ResponseWriter) { w.Header().Set("Connection", "close") }

// refuseBusy answers 503 at once when every unauthenticated slot is
// taken; it logs at most once every 10 s, with the count, so a flood of
// calls does not become a flood of log lines.
func (h *Handler) refuseBusy(w http.ResponseWriter, r *http.Request) {
	h.busy.Add(1)
	h.busyLog.Do(func() {
		h.log.Warn("webhook refused: too many unauthenticated calls being read", "path", safePath(r), "remote", r.RemoteAddr,
			"status", http.StatusServiceUnavailable, "max", cap(h.unauth), "refused", h.busy.Swap(0))
	})
	closeUnread(w)
	// A slot frees within one body timeout.
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(h.bodyTimeout.Round(time.Second).Seconds()))))
	http.Error(w, fmt.Sprintf("503 %s: %d unauthenticated calls are being read; retry later or authenticate with a bearer token",
		http.StatusText(http.StatusServiceUnavailable), cap(h.unauth)), http.StatusServiceUnavailable)
}

// reject answers with status and a one-line reason; the reasons come from
// this package and never hold the secret.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.log.Warn("webhook refused", "path", safePath(r), "remote", r.RemoteAddr, "status", status, "err", err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ferry"`)
	}
	http.Error(w, fmt.Sprintf("%d %s: %v", status, http.StatusText(status), oneLine(err)), status)
}

// oneLine flattens errors.Join output for a plain-text response.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// clip bounds a value from a request body before it reaches a log line: an
// authenticated sender can still send a 200,000-character repository name.
func clip(s string) string { return text.Truncate(s, 100) }

// SetAlertRouter replaces how alerts map to apps and environments: a
// commit changing rollback.labels or rollback.match applies to the next
// alert, as every other setting of ferry.yaml does.
func (h *Handler) SetAlertRouter(r *AlertRouter) {
	if r != nil {
		h.router.Store(r)
	}
}
