package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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

// action is one button: the role it needs, whether it names a version and
// whether it needs a reason (as the CLI's --reason is required but for
// approve and retry-analysis).
type action struct {
	role        string
	needVersion bool
	needReason  bool
	label       string
}

var actions = map[string]action{
	"approve":        {config.RoleApprover, true, false, "approved"},
	"reject":         {config.RoleApprover, true, true, "rejected"},
	"promote":        {config.RolePromoter, true, true, "promoted"},
	"rollback":       {config.RolePromoter, false, true, "rolled back"},
	"abort":          {config.RolePromoter, false, true, "aborted"},
	"retry-analysis": {config.RolePromoter, false, false, "asked for a new analysis of"},
}

// vote: the agent writes nothing for a vote already recorded, and that is
// no refusal.
func vote(name string) bool { return name == "approve" || name == "reject" }

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
// token, the role for the environment, then the agent. Every attempt is
// one audit line, naming the person when a valid session cookie came with
// it (user "" otherwise).
func (h *Handler) act(w http.ResponseWriter, r *http.Request) {
	si := h.opt.SignIn
	name := r.PathValue("action")
	// Read only to say who tried: the origin is still checked before the
	// session, the form or anything else is relied on.
	s := si.session(r)
	var app, env, version, to, reason string
	audit := func(result string) {
		user, groups := "", []string(nil)
		if s != nil {
			user, groups = s.User, s.Groups
		}
		args := []any{"user", user, "groups", groups, "action", truncate(name, 64), "app", app, "env", env, "version", version}
		if name == "rollback" {
			args = append(args, "to", to)
		}
		args = append(args, "result", result)
		if reason != "" {
			args = append(args, "reason", reason)
		}
		h.opt.Log.Info("dashboard action", args...)
	}
	a, ok := actions[name]
	if !ok {
		audit("refused: no such action")
		h.fail(w, http.StatusNotFound, "There is no action "+name+".")
		return
	}
	if !si.sameOrigin(r) {
		audit("forbidden: not from the dashboard's origin (Origin " + strconv.Quote(truncate(r.Header.Get("Origin"), 100)) +
			", Referer " + strconv.Quote(truncate(r.Header.Get("Referer"), 100)) + ")")
		h.fail(w, http.StatusForbidden, "The request did not come from this dashboard (Origin/Referer is not "+si.origin+").")
		return
	}
	if s == nil {
		audit("forbidden: not signed in")
		h.fail(w, http.StatusForbidden, "Sign in first: /login.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		if _, over := errors.AsType[*http.MaxBytesError](err); over {
			audit(fmt.Sprintf("refused: the form is over %d bytes", maxForm))
			h.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is over %d bytes.", maxForm))
			return
		}
		audit("refused: unreadable form")
		h.fail(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f := r.PostForm
	app, env, version, to, reason = f.Get("app"), f.Get("env"), f.Get("version"), f.Get("to"), strings.TrimSpace(f.Get("reason"))
	if !si.seal.checkCSRF(s.ID, f.Get("csrf")) {
		audit("forbidden: missing or wrong CSRF token")
		h.fail(w, http.StatusForbidden, "The form's CSRF token is missing or not this session's: reload the page and try again.")
		return
	}
	p, ok := h.pipeline(w)
	if !ok {
		audit("refused: starting")
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
	if a.needReason && reason == "" {
		audit("refused: no reason")
		h.fail(w, http.StatusBadRequest, name+" needs a reason (the form's reason field): it is recorded with the action. Nothing was written.")
		return
	}
	// The agent refuses these too; retry-analysis's reason reaches only
	// this log line, so it is checked here for every action alike.
	if err := ledger.CheckReason(reason); err != nil {
		audit("refused: reason: " + err.Error())
		h.fail(w, http.StatusBadRequest, "reason: "+err.Error()+". Nothing was written.")
		return
	}
	commit, err := h.call(r.Context(), name, s, app, env, version, to, reason)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			audit("refused: the request was cancelled")
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
	what := app + " in " + env
	if version != "" {
		what = app + " " + version + " in " + env
	}
	result, text := "commit "+commit, s.User+" "+actions[name].label+" "
	if commit == "" {
		if !vote(name) {
			// Only a vote may change nothing and succeed.
			audit("refused: nothing changed")
			h.fail(w, http.StatusConflict, "ferry refused: "+name+" changed nothing for "+what+".")
			return
		}
		// The agent writes nothing when the same vote is there already.
		result, text = "unchanged", s.User+" had already "+actions[name].label+" "
	}
	audit(result)
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
