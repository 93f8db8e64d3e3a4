package dashboard

import (
	"net/http"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
)

// Approvals are the votes that counted for an environment's candidate, as
// the gate weighed them, against what its approval: config requires.
type Approvals struct {
	Required   int
	Count      int
	ApprovedBy []string // "bob (review, team:product-owners)"
	RejectedBy []string
	Missing    []string // the approval.from entries one more vote must come from
}

type pipelineView struct {
	Title    string
	Now      time.Time
	User     string
	Groups   []string
	SignIn   bool // sign-in is configured
	CSRF     string
	Apps     []pipelineApp
	PassNote string
}

type pipelineApp struct {
	App    string
	Stages []stage
}

// stage is one environment of an app's chain.
type stage struct {
	Env       string
	From      string
	Cell      Cell
	Pending   *Pending
	Approvals *Approvals
	Buttons   []button
}

// button is an action form the signed-in person may submit.
type button struct {
	Action  string
	Label   string
	Version string
	// NeedReason: the form's reason field is required (as act requires it).
	NeedReason bool
}

func newButton(name, label, version string) button {
	return button{Action: name, Label: label, Version: version, NeedReason: actions[name].needReason}
}

// pipelineView shows each app's environments as a chain: what each runs,
// its gate state, approvals and canary step, and the buttons s may use.
func (h *Handler) pipelineView(p *config.Pipeline, st []Cell, s *session) pipelineView {
	v := pipelineView{Title: "pipeline · ferry", Now: h.opt.Now().UTC(), SignIn: h.opt.SignIn != nil}
	if s != nil {
		v.User, v.Groups, v.CSRF = s.User, s.Groups, h.opt.SignIn.seal.csrf(s.ID)
	}
	cells := map[string]Cell{}
	for _, c := range st {
		cells[c.App+"\x00"+c.Env] = c
	}
	pending := map[string]Pending{}
	pass := h.src.LastPass()
	if pass == nil {
		v.PassNote = "No pass has finished yet: gate states appear after the first."
	} else {
		for _, pd := range pass.Pending {
			pending[pd.App+"\x00"+pd.Env] = pd
		}
	}
	for _, app := range p.Apps {
		pa := pipelineApp{App: app.Name}
		for _, env := range p.Order() {
			e, _ := p.Env(env)
			sg := stage{Env: env, From: e.From, Cell: cells[app.Name+"\x00"+env]}
			sg.Cell.App, sg.Cell.Env = app.Name, env
			if pd, ok := pending[app.Name+"\x00"+env]; ok {
				sg.Pending = &pd
				sg.Approvals = pd.Approvals
			}
			if s != nil {
				sg.Buttons = h.buttons(s, sg)
			}
			pa.Stages = append(pa.Stages, sg)
		}
		v.Apps = append(v.Apps, pa)
	}
	return v
}

// buttons are the actions s holds the role for and that make sense here:
// approve, reject and promote a waiting candidate (promote not while a
// delivery is in progress there: the agent would refuse it); roll back
// what runs; abort a canary; retry an analysis with a verdict.
func (h *Handler) buttons(s *session, sg stage) []button {
	si := h.opt.SignIn
	var out []button
	if sg.Pending != nil && sg.Pending.Candidate.Tag != "" {
		cand := sg.Pending.Candidate.Tag
		if si.may(s, config.RoleApprover, sg.Env) {
			out = append(out, newButton("approve", "Approve "+cand, cand), newButton("reject", "Reject "+cand, cand))
		}
		if si.may(s, config.RolePromoter, sg.Env) && sg.Cell.Delivery == nil {
			out = append(out, newButton("promote", "Promote "+cand, cand))
		}
	}
	if !si.may(s, config.RolePromoter, sg.Env) {
		return out
	}
	if sg.Cell.Version.Tag != "" {
		out = append(out, newButton("rollback", "Roll back", ""))
	}
	if sg.Cell.Delivery != nil {
		out = append(out, newButton("abort", "Abort canary", ""))
	}
	if sg.Cell.Verdict != nil {
		out = append(out, newButton("retry-analysis", "Retry analysis", ""))
	}
	return out
}

func (h *Handler) pipelinePage(w http.ResponseWriter, r *http.Request) {
	p, ok := h.pipeline(w)
	if !ok {
		return
	}
	st, err := h.src.Status(r.Context())
	if err != nil {
		h.sourceError(w, err)
		return
	}
	var s *session
	if h.opt.SignIn != nil {
		s = h.opt.SignIn.session(r)
	}
	h.render(w, http.StatusOK, "pipeline", h.pipelineView(p, st, s))
}
