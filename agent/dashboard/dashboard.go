// Package dashboard serves ferry's read-only web pages: at / the matrix of
// apps by environments with versions, deliveries and verdicts, the pending
// candidates and their decisions, open pull requests and live analysis
// charts; at /apps/NAME (and /apps/NAME/ENV) an app's history from Git.
//
// Pages are html/template (every string from Git, the registry, policies or
// providers is escaped), charts are SVG drawn on the server, and there is no
// JavaScript: the Content-Security-Policy forbids scripts outright.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
)

//go:embed templates/*.html
var templateFS embed.FS

// CSP allows no script, no frame, no fetch; only the page's own inline styles
// and SVG/data images. Inline styles mean no stylesheet request and no CDN.
const CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// CSPSignIn is CSP with sign-in: the action forms post to the dashboard
// itself, and nowhere else.
const CSPSignIn = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Options configure a Handler.
type Options struct {
	// Token, when set, is required: as `Authorization: Bearer TOKEN`, or
	// once as ?token=TOKEN, which sets an HttpOnly SameSite=Strict cookie.
	Token string
	Log   *slog.Logger
	// HistoryLimit bounds the events on an app's page (default 100).
	HistoryLimit int
	// RecentLimit bounds the recent changes on / (default 15).
	RecentLimit int
	// Now is the clock pages show; nil means time.Now.
	Now func() time.Time
	// SignIn, when set, signs people in with OpenID Connect: pages need a
	// session with a role (or Token, for monitors), and the action
	// endpoints exist. Nil: read-only, no /login, no /actions.
	SignIn *SignIn
	// Actions are the agent's actions; required with SignIn.
	Actions Actions
}

// Handler serves the dashboard.
type Handler struct {
	src   Source
	opt   Options
	guard guard
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New returns the dashboard over src.
func New(src Source, o Options) *Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// The limits keep a page small however long the history grows.
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RecentLimit <= 0 {
		o.RecentLimit = 15
	}
	h := &Handler{src: src, opt: o, guard: newGuard(o.Token), mux: http.NewServeMux(), pages: parsePages(o.SignIn != nil)}
	h.mux.HandleFunc("GET /{$}", h.home)
	h.mux.HandleFunc("GET /pipeline", h.pipelinePage)
	if o.SignIn != nil {
		h.mux.HandleFunc("GET /login", h.login)
		h.mux.HandleFunc("GET /callback", h.callback)
		h.mux.HandleFunc("POST /logout", h.logout)
		// {action...}: a path of several segments is an unknown action,
		// audited as one, not the catch-all's 404.
		h.mux.HandleFunc("POST /actions/{action...}", h.act)
	}
	h.mux.HandleFunc("GET /apps/{app}", h.app)
	h.mux.HandleFunc("GET /apps/{app}/{env}", h.app)
	// Anything else is a 404 in the dashboard's own page, not the mux's
	// plain text.
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
	return h
}

// parsePages parses the embedded templates once, at New: a parse error is
// a build mistake, so Must panics at start, never on a page view.
func parsePages(signIn bool) map[string]*template.Template {
	// Same-origin referrers with sign-in: a browser sends "Origin: null"
	// under no-referrer, and the action check needs the real one.
	referrer, mode := "no-referrer", "read-only"
	if signIn {
		referrer, mode = "same-origin", "sign-in"
	}
	fs := template.FuncMap{"referrer": func() string { return referrer }, "mode": func() string { return mode }}
	pages := map[string]*template.Template{}
	for _, name := range []string{"home", "app", "error", "pipeline", "result", "signedout"} {
		t := template.New(name).Funcs(funcs).Funcs(fs)
		pages[name] = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

// ServeHTTP sets the security headers, checks the token and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Set before anything else, so every answer (401s and 404s included)
	// carries them. no-store: decisions and reasons behind a token must not
	// stay in a shared cache.
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	if si := h.opt.SignIn; si != nil {
		hd.Set("Content-Security-Policy", CSPSignIn)
		hd.Set("Referrer-Policy", "same-origin")
		switch h.signInRoute(w, r) {
		case answered:
			return
		case signedIn:
			h.mux.ServeHTTP(w, r)
			return
		}
	}
	// The dashboard changes nothing: any other method is a mistake, or an
	// attempt at one.
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		h.fail(w, http.StatusMethodNotAllowed, "The dashboard is read-only.")
		return
	}
	switch h.guard.check(r) {
	case denied:
		hd.Set("WWW-Authenticate", `Bearer realm="ferry dashboard"`)
		h.fail(w, http.StatusUnauthorized, "This dashboard needs its token: send it as a bearer token, or open the page once with ?token=.")
		return
	case grantCookie:
		h.guard.grant(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

type route int

const (
	answered route = iota // signInRoute wrote the answer
	signedIn              // a session with a role: serve the page
	byToken               // no session: the token guard decides
)

// signInRoute serves what sign-in adds, and answers for a page whose
// visitor is neither signed in with a role nor holding the token.
func (h *Handler) signInRoute(w http.ResponseWriter, r *http.Request) route {
	switch {
	case r.URL.Path == "/login" || r.URL.Path == "/callback" || r.URL.Path == "/logout" && r.Method == http.MethodPost:
		h.mux.ServeHTTP(w, r)
		return answered
	case strings.HasPrefix(r.URL.Path, "/actions/"):
		// The session, CSRF token and origin are checked by act.
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			h.fail(w, http.StatusMethodNotAllowed, "Actions are forms posted from the dashboard.")
			return answered
		}
		h.mux.ServeHTTP(w, r)
		return answered
	}
	si := h.opt.SignIn
	if s := si.session(r); s != nil {
		if !si.mayView(s) {
			h.fail(w, http.StatusForbidden, "Signed in as "+s.User+", but no entry of dashboard.roles names you or your groups ("+orNone(s.Groups)+").")
			return answered
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return byToken // the read-only answer to other methods
		}
		return signedIn
	}
	// Without a session: the token, when one is set, still reads (a
	// wall screen, a monitor); anyone else is sent to sign in.
	if h.opt.Token != "" && (r.Header.Get("Authorization") != "" || r.URL.Query().Has("token") || h.guard.check(r) == allowed) {
		return byToken
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		http.Redirect(w, r, "/login", http.StatusFound)
		return answered
	}
	return byToken
}

// pipeline reads the configuration, answering 503 itself while ferry starts.
func (h *Handler) pipeline(w http.ResponseWriter) (*config.Pipeline, bool) {
	p, err := h.src.Pipeline()
	if err != nil {
		h.sourceError(w, err)
		return nil, false
	}
	return p, true
}

func (h *Handler) sourceError(w http.ResponseWriter, err error) {
	// Retry-After lets a browser or a monitor come back later instead of
	// hammering a starting agent.
	if errors.Is(err, ErrStarting) {
		w.Header().Set("Retry-After", "5")
		h.fail(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	// The client went away: there is nobody to answer.
	if errors.Is(err, context.Canceled) {
		return
	}
	h.opt.Log.Error("dashboard", "err", err)
	h.fail(w, http.StatusInternalServerError, "ferry could not read its state: "+err.Error())
}

type errorView struct {
	Title  string
	Status int
	Text   string
	Now    time.Time
}

func (h *Handler) fail(w http.ResponseWriter, status int, text string) {
	h.render(w, status, "error", errorView{Title: http.StatusText(status), Status: status, Text: text, Now: h.opt.Now().UTC()})
}

// render executes into a buffer first, so a template error is a clean 500.
func (h *Handler) render(w http.ResponseWriter, status int, page string, data any) {
	var b bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&b, "layout", data); err != nil {
		h.opt.Log.Error("dashboard: render", "page", page, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	p, ok := h.pipeline(w)
	if !ok {
		return
	}
	st, err := h.src.Status(r.Context())
	if err != nil {
		h.sourceError(w, err)
		return
	}
	v := h.homeView(r.Context(), p, st)
	h.render(w, http.StatusOK, "home", v)
}

func (h *Handler) app(w http.ResponseWriter, r *http.Request) {
	p, ok := h.pipeline(w)
	if !ok {
		return
	}
	// Unknown names are 404s: a typo must not look like an empty history.
	app, env := r.PathValue("app"), r.PathValue("env")
	if _, known := p.App(app); !known {
		h.fail(w, http.StatusNotFound, "ferry has no app named "+app+".")
		return
	}
	if _, known := p.Env(env); env != "" && !known {
		h.fail(w, http.StatusNotFound, "ferry has no environment named "+env+".")
		return
	}
	st, err := h.src.Status(r.Context())
	if err != nil {
		h.sourceError(w, err)
		return
	}
	// No history yet is not an error: the page still shows the cells.
	events, err := h.src.Timeline(r.Context(), app, env, h.opt.HistoryLimit)
	if err != nil && !errors.Is(err, ErrStarting) {
		h.sourceError(w, err)
		return
	}
	h.render(w, http.StatusOK, "app", h.appView(p, st, app, env, events))
}
