package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Handler serves the webhook endpoints. Every call is size-limited, then
// authenticated, then parsed; a call that fails any step gets a 4xx and
// reaches no callback.
type Handler struct {
	verifier   *Verifier
	limit      int64
	log        *slog.Logger
	onRegistry func(context.Context, []RegistryEvent)
	onPush     func(context.Context, PushEvent)
	onAlerts   func(context.Context, []AlertEvent)
	router     *AlertRouter
	dedupe     *Deduper
	mux        *http.ServeMux
}

// NewHandler serves POST /hooks/registry (distribution notifications) and
// POST /hooks/git (push events). limit caps a body (DefaultMaxBody when
// <= 0); a nil log logs nothing; an endpoint whose callback is nil is not
// served. Callbacks run before the 202 is written, so they should hand the
// work on quickly; their context keeps the request's values but is not
// cancelled when the response is sent.
func NewHandler(v *Verifier, limit int64, log *slog.Logger, onRegistry func(context.Context, []RegistryEvent), onPush func(context.Context, PushEvent)) http.Handler {
	return NewHandlerWith(HandlerOptions{Verifier: v, MaxBody: limit, Log: log, OnRegistry: onRegistry, OnPush: onPush})
}

// HandlerOptions configure NewHandlerWith; an endpoint whose callback is
// nil is not served.
type HandlerOptions struct {
	Verifier *Verifier
	MaxBody  int64        // DefaultMaxBody when <= 0
	Log      *slog.Logger // nil logs nothing

	OnRegistry func(context.Context, []RegistryEvent) // POST /hooks/registry
	OnPush     func(context.Context, PushEvent)       // POST /hooks/git
	// OnAlerts gets the new alerts that map to an app and env, firing and
	// resolved (POST /hooks/alertmanager).
	OnAlerts    func(context.Context, []AlertEvent)
	AlertRouter *AlertRouter // nil: labels app and env, every alert
	Deduper     *Deduper     // nil: a Deduper with its defaults
}

// NewHandlerWith is NewHandler with every endpoint, Alertmanager's included.
func NewHandlerWith(o HandlerOptions) http.Handler {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{verifier: o.Verifier, limit: o.MaxBody, log: log, onRegistry: o.OnRegistry, onPush: o.OnPush,
		onAlerts: o.OnAlerts, router: o.AlertRouter, dedupe: o.Deduper, mux: http.NewServeMux()}
	// The method in each pattern makes ServeMux answer 405 (with Allow) to others.
	if h.onRegistry != nil {
		h.mux.HandleFunc("POST /hooks/registry", h.registry)
	}
	if h.onPush != nil {
		h.mux.HandleFunc("POST /hooks/git", h.git)
	}
	if h.onAlerts != nil {
		if h.router == nil {
			h.router, _ = NewAlertRouter(AlertRouting{}) // the defaults always parse
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
	body, ok := h.accept(w, r)
	if !ok {
		return
	}
	events, err := ParseRegistryNotification(body)
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, err)
		return
	}
	for _, ev := range events {
		h.log.Info("registry push", "host", ev.Host, "repository", ev.Repository, "tag", ev.Tag, "digest", ev.Digest)
	}
	if len(events) > 0 {
		h.onRegistry(context.WithoutCancel(r.Context()), events)
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) git(w http.ResponseWriter, r *http.Request) {
	body, ok := h.accept(w, r)
	if !ok {
		return
	}
	ev, err := ParsePush(body)
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, err)
		return
	}
	h.log.Info("git push", "repository", ev.Repository, "ref", ev.Ref, "after", ev.After)
	h.onPush(context.WithoutCancel(r.Context()), ev)
	w.WriteHeader(http.StatusAccepted)
}

// accept reads the body within the limit and authenticates the call,
// answering 413 or 401 itself when it fails.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := ReadBody(w, r, h.limit)
	if err != nil {
		status := http.StatusBadRequest
		var tl *TooLargeError
		if errors.As(err, &tl) {
			status = http.StatusRequestEntityTooLarge
		}
		h.reject(w, r, status, err)
		return nil, false
	}
	if err := h.verifier.Verify(r, body); err != nil {
		h.reject(w, r, http.StatusUnauthorized, err)
		return nil, false
	}
	return body, true
}

// reject answers with status and a one-line reason; the reasons come from
// this package and never hold the secret.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, status int, err error) {
	h.log.Warn("webhook refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "err", err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ferry"`)
	}
	http.Error(w, fmt.Sprintf("%d %s: %v", status, http.StatusText(status), oneLine(err)), status)
}

// oneLine flattens errors.Join output for a plain-text response.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
