package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// Actions are the agent's actions a signed-in person may take (*agent.Agent
// in ferry run). Each writes one commit through the gate, or refuses with
// an error that says why, writing nothing.
type Actions interface {
	Approve(ctx context.Context, app, version, env string, by ledger.Actor, groups []string, reason string) (commit string, err error)
	Reject(ctx context.Context, app, version, env string, by ledger.Actor, groups []string, reason string) (commit string, err error)
	Promote(ctx context.Context, app, version, env string, by ledger.Actor, reason string) (commit string, err error)
	Rollback(ctx context.Context, app, env, to string, by ledger.Actor, reason string) (commit string, err error)
	Abort(ctx context.Context, app, env string, by ledger.Actor, reason string) (commit string, err error)
	RetryAnalysis(ctx context.Context, app, env string) (commit string, err error)
}

// action is one button: the role it needs and whether it names a version.
type action struct {
	role        string
	needVersion bool
	label       string
}

var actions = map[string]action{
	"approve":        {config.RoleApprover, true, "approved"},
	"reject":         {config.RoleApprover, true, "rejected"},
	"promote":        {config.RolePromoter, true, "promoted"},
	"rollback":       {config.RolePromoter, false, "rolled back"},
	"abort":          {config.RolePromoter, false, "aborted"},
	"retry-analysis": {config.RolePromoter, false, "asked for a new analysis of"},
}

// maxForm bounds an action's form: a few short fields.
const maxForm = 16 << 10

type resultView struct {
	Title  string
	Now    time.Time
	Status int
	Text   string
	Commit string
	User   string
}

// act handles POST /actions/{action}: same origin, a session, its CSRF
// token, the role for the environment, then the agent. Every attempt by a
// signed-in person is one audit line.
func (h *Handler) act(w http.ResponseWriter, r *http.Request) {
	si := h.opt.SignIn
	name := r.PathValue("action")
	a, ok := actions[name]
	if !ok {
		h.fail(w, http.StatusNotFound, "There is no action "+name+".")
		return
	}
	if !si.sameOrigin(r) {
		h.opt.Log.Warn("dashboard action refused", "action", name, "result", "forbidden: not from the dashboard's origin",
			"origin", r.Header.Get("Origin"))
		h.fail(w, http.StatusForbidden, "The request did not come from this dashboard (Origin/Referer is not "+si.origin+").")
		return
	}
	s := si.session(r)
	if s == nil {
		h.fail(w, http.StatusForbidden, "Sign in first: /login.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.fail(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f := r.PostForm
	app, env, version, to, reason := f.Get("app"), f.Get("env"), f.Get("version"), f.Get("to"), strings.TrimSpace(f.Get("reason"))
	audit := func(result string, args ...any) {
		h.opt.Log.Info("dashboard action", append([]any{"user", s.User, "groups", s.Groups, "action", name,
			"app", app, "env", env, "version", version, "result", result}, args...)...)
	}
	if !si.seal.checkCSRF(s.ID, f.Get("csrf")) {
		audit("forbidden: missing or wrong CSRF token")
		h.fail(w, http.StatusForbidden, "The form's CSRF token is missing or not this session's: reload the page and try again.")
		return
	}
	p, ok := h.pipeline(w)
	if !ok {
		return
	}
	if _, known := p.App(app); !known {
		audit("refused: unknown app")
		h.fail(w, http.StatusBadRequest, "ferry has no app named "+app+".")
		return
	}
	if _, known := p.Env(env); !known {
		audit("refused: unknown environment")
		h.fail(w, http.StatusBadRequest, "ferry has no environment named "+env+".")
		return
	}
	if a.needVersion && version == "" {
		audit("refused: no version")
		h.fail(w, http.StatusBadRequest, name+" needs a version.")
		return
	}
	if !si.may(s, a.role, env) {
		has := si.rolesIn(s, env)
		msg := fmt.Sprintf("%s needs the %s role in %s; %s has %s there (dashboard.roles, by user or group %s).",
			name, a.role, env, s.User, orNone(has), orNone(s.Groups))
		audit("forbidden: not " + a.role + " in " + env)
		h.fail(w, http.StatusForbidden, msg)
		return
	}
	commit, err := h.call(r.Context(), name, s, app, env, version, to, reason)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		if errors.Is(err, ErrStarting) {
			audit("refused: starting")
			h.sourceError(w, err)
			return
		}
		audit("refused: " + err.Error())
		h.fail(w, http.StatusConflict, "ferry refused: "+err.Error())
		return
	}
	result, text := "commit "+commit, s.User+" "+actions[name].label+" "
	if commit == "" {
		// The agent writes nothing when the same vote is there already.
		result, text = "unchanged", s.User+" had already "+actions[name].label+" "
	}
	audit(result)
	what := app + " in " + env
	if version != "" {
		what = app + " " + version + " in " + env
	}
	h.render(w, http.StatusOK, "result", resultView{Title: "done · ferry", Now: h.opt.Now().UTC(), Status: http.StatusOK,
		Text: text + what + ".", Commit: commit, User: s.User})
}

func (h *Handler) call(ctx context.Context, name string, s *session, app, env, version, to, reason string) (string, error) {
	by := ledger.Actor{Name: s.User, Via: ledger.ViaDashboard}
	ac := h.opt.Actions
	switch name {
	case "approve":
		return ac.Approve(ctx, app, version, env, by, s.Groups, reason)
	case "reject":
		return ac.Reject(ctx, app, version, env, by, s.Groups, reason)
	case "promote":
		return ac.Promote(ctx, app, version, env, by, reason)
	case "rollback":
		return ac.Rollback(ctx, app, env, to, by, reason)
	case "abort":
		return ac.Abort(ctx, app, env, by, reason)
	default: // retry-analysis
		return ac.RetryAnalysis(ctx, app, env)
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
