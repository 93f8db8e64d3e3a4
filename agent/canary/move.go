package canary

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/promote"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/verify"
	"github.com/ferry-dev/ferry/overlays"
)

// Move is what a pass does next for an active delivery.
type Move struct {
	Step plan.Step
	// Edit is the commit to make; nil when the delivery waits.
	Edit *publish.Edit
	// Verify is the verification the step in place owes; nil when none.
	Verify *verify.Verification
	// Aborts reports an abort move.
	Aborts bool
	// Completes reports the last move: the version becomes the stable one
	// (the promotion a person and the metrics count).
	Completes bool
}

// Deliveries makes the moves of progressive deliveries.
type Deliveries struct {
	Config *config.Pipeline
	Log    state.Log
	Render promote.Renderer
	Now    func() time.Time
}

// Next decides the next move of an active delivery from Git alone: the
// route in place, and the verdict note on the commit that put it there.
func (d *Deliveries) Next(ctx context.Context, st *state.State, app *config.App, env *config.Environment, cs *State) (*Move, error) {
	p := cs.Plan
	n := p.Steps()
	s := plan.Step{App: app.Name, Env: env.Name, From: plan.SourceOf(env), Mode: plan.ModeOf(env), Current: cs.Stable, Candidate: cs.Canary}
	if _, rejected := st.Rejected(app, cs.Canary); rejected {
		// A person (or a rollback elsewhere) rejected it mid-delivery: end it,
		// rejecting nothing more.
		return d.abort(st, app, env, cs, s, fmt.Sprintf("%s %s is rejected", app.Name, cs.Canary.Tag), false, ledger.AlertRef{}, ledger.Actor{})
	}
	if env.Approval != nil {
		// A person's rejection cast (ferry reject, the dashboard) after the
		// delivery began ends it: the gate asked at step 0 only.
		if rej := st.Approvals.Rejections(app.Name, env.Name, cs.Canary.Tag, cs.Canary.Digest, d.Now()); len(rej) > 0 {
			r := rej[0]
			why := fmt.Sprintf("%s %s is rejected for %s by %s", app.Name, cs.Canary.Tag, env.Name, ledger.Actor{Name: r.By, Via: r.Via})
			if r.Reason != "" {
				why += ": " + r.Reason
			}
			return d.abort(st, app, env, cs, s, why, false, ledger.AlertRef{}, ledger.Actor{Name: r.By, Via: r.Via})
		}
	}
	if cs.Step < 0 {
		// A person edited the route: guessing the step could move traffic
		// nobody measured, so wait for them.
		s.Action = plan.ActionError
		s.Reason = fmt.Sprintf("the route in %s matches no step of the %s delivery of %s %s; put it back or reject the version to abort",
			p.RoutePath, p.Strategy, app.Name, cs.Canary.Tag)
		return &Move{Step: s}, nil
	}
	cur := p.steps[cs.Step]
	if owes(env, cs.Step, cur) {
		// The verdict must be the one on the commit that put this step in
		// place, for this step and version: a note on an older step (or
		// another app's commit) says nothing about the traffic now.
		commit, err := StepCommit(ctx, d.Log, st, app, env, cs)
		if err != nil {
			return nil, err
		}
		vd, ok := st.Note(commit.Hash).For(app.Name, env.Name, cs.StepLabel(), ledger.Version{Tag: cs.Canary.Tag})
		if !ok {
			s.Action, s.Reason = plan.ActionWait, fmt.Sprintf("step %s (%s): analysing", cs.StepLabel(), cur.label)
			return &Move{Step: s, Verify: verification(app, env, cs, cs.Step, commit.Hash)}, nil
		}
		switch vd.Verdict {
		case ledger.Failed:
			return d.abort(st, app, env, cs, s, fmt.Sprintf("analysis %s failed at step %s: %s", vd.Analysis, cs.StepLabel(), vd.Reason), true, ledger.AlertRef{}, ledger.Actor{})
		case ledger.Inconclusive:
			s.Action = plan.ActionHold
			s.Reason = fmt.Sprintf("step %s is held: analysis %s was inconclusive (%s); `ferry retry-analysis %s --env %s` analyses it again, or reject %s to abort",
				cs.StepLabel(), vd.Analysis, vd.Reason, app.Name, env.Name, cs.Canary.Tag)
			return &Move{Step: s}, nil
		}
	}
	files := map[string][]byte{}
	if cs.Step == n {
		// Done: the stable Deployment takes the version, the route goes back to rest.
		data, err := promote.Bump(st, d.Render, app, env, "", cs.Canary)
		if err != nil {
			return nil, err
		}
		files[st.Envs[env.Name].Path] = data
		if err := setRoute(files, cs, restRoute); err != nil {
			return nil, err
		}
		s.Action, s.Reason = plan.ActionPromote, fmt.Sprintf("the %s delivery passed all %d steps", p.Strategy, n)
		// No gate here: step 0 carried the decision, and each step since
		// carries its verdict; Completed lets the next environment's hold
		// read this commit as the delivery's verdict. The approvals of step
		// 0's decision are carried over: the promotion names who counted.
		start, err := StartGate(ctx, d.Log, st, app, env, cs)
		if err != nil {
			return nil, err
		}
		rec := &ledger.Promotion{App: app.Name, Env: env.Name, Version: cs.Canary, Gate: ledger.Gate{From: s.From, ApprovedBy: start.ApprovedBy}, Completed: p.Strategy}
		return &Move{Step: s, Edit: &publish.Edit{Files: files, Record: rec}, Completes: true}, nil
	}
	next := p.steps[cs.Step+1]
	if err := setRoute(files, cs, next.route); err != nil {
		return nil, err
	}
	s.Action, s.Reason = plan.ActionPromote, fmt.Sprintf("step %s: %s", ledger.StepLabel(cs.Step+1, n), next.label)
	rec := &ledger.CanaryStep{App: app.Name, Env: env.Name, Version: cs.Canary, Step: cs.Step + 1, Of: n,
		Weight: next.route.CanaryWeight, Label: next.label, Passed: cs.StepLabel()}
	return &Move{Step: s, Edit: &publish.Edit{Files: files, Record: rec}}, nil
}

// owes reports whether step i of a delivery in env needs a verdict.
func owes(env *config.Environment, i int, s step) bool {
	return s.analyze || (i == 0 && env.Verify != nil && env.Verify.Readiness != "")
}

func verification(app *config.App, env *config.Environment, cs *State, i int, commit string) *verify.Verification {
	v := &verify.Verification{App: app.Name, Env: env.Name, Commit: commit, Version: cs.Canary, Stable: cs.Stable, Canary: cs.Canary,
		Ready: i == 0 && env.Verify != nil && env.Verify.Readiness != "", Step: ledger.StepLabel(i, cs.Plan.Steps())}
	if cs.Plan.steps[i].analyze {
		v.Template = cs.Plan.Analysis
	}
	return v
}

// Owed is the verification the step a push just put in place owes, on
// that commit: the analysis starts as soon as the step is pushed.
func Owed(st *state.State, app *config.App, env *config.Environment, commit *fleet.Snapshot) *verify.Verification {
	cs, err := Read(st, app, env)
	if err != nil || !cs.Active(state.Moving(app)) || cs.Step < 0 || !owes(env, cs.Step, cs.Plan.steps[cs.Step]) {
		return nil
	}
	return verification(app, env, cs, cs.Step, commit.Hash())
}

// setRoute adds the route file to files only when it changes (it may be at
// rest already). An edit error is Terminal: the route's shape is a person's
// to fix.
func setRoute(files map[string][]byte, cs *State, want overlays.RouteState) error {
	data, changed, err := overlays.SetRoute(cs.RouteData, cs.Plan.Route, want)
	if err != nil {
		return publish.Terminal(fmt.Errorf("%s: %w", cs.Plan.RoutePath, err))
	}
	if changed {
		files[cs.Plan.RoutePath] = data
	}
	return nil
}

// Abort is the move that ends a delivery because an alert fired for its
// environment, or a person (by, `ferry abort`) asked: the canary's version
// is the suspect, so it is rejected and its traffic goes back to the
// stable version, which stays.
func (d *Deliveries) Abort(st *state.State, app *config.App, env *config.Environment, cs *State, reason string, alert ledger.AlertRef, by ledger.Actor) (*Move, error) {
	s := plan.Step{App: app.Name, Env: env.Name, Current: cs.Stable, Candidate: cs.Canary}
	return d.abort(st, app, env, cs, s, reason, true, alert, by)
}

// abort puts the route back to rest and the canary back on the stable
// version in one commit, and rejects the canary's version.
func (d *Deliveries) abort(st *state.State, app *config.App, env *config.Environment, cs *State, s plan.Step, reason string, reject bool, alert ledger.AlertRef, by ledger.Actor) (*Move, error) {
	es := st.Envs[env.Name]
	files := map[string][]byte{}
	// ferry edits images entries and the route only, never the workloads:
	// "no canary" is the canary Deployment running the stable version.
	data, _, err := overlays.SetImage(es.Data, overlays.Image{Name: cs.Entry.Name, NewTag: cs.Stable.Tag, Digest: cs.Stable.Digest})
	if err != nil {
		return nil, publish.Terminal(fmt.Errorf("abort the canary of %s in %s: %w", app.Name, env.Name, err))
	}
	files[es.Path] = data
	if err := setRoute(files, cs, restRoute); err != nil {
		return nil, err
	}
	if reject {
		who := "ferry"
		if !by.IsZero() {
			who = by.Name
		}
		rej, err := gitstate.AddRejection(st.RejectedData, gitstate.Rejection{
			App: app.Name, Version: cs.Canary.Tag, Digest: cs.Canary.Digest, Env: env.Name, Reason: reason, At: d.Now().UTC(), By: who,
		})
		if err != nil {
			return nil, publish.Terminal(fmt.Errorf("record %s %s as rejected: %w", app.Name, cs.Canary, err))
		}
		files[gitstate.RejectionsFile] = rej
	}
	s.Action, s.Reason = plan.ActionPromote, "abort: "+reason
	rec := &ledger.Abort{App: app.Name, Env: env.Name, Canary: cs.Canary, Stable: cs.Stable, Step: cs.StepLabel(),
		Reason: reason, Rejects: reject, Alert: alert, RequestedBy: by}
	return &Move{Step: s, Edit: &publish.Edit{Files: files, Record: rec}, Aborts: true}, nil
}

// Start is the builder of step 0: the canary Deployment takes the planned
// version, the route stays at rest.
func (d *Deliveries) Start(step plan.Step, app *config.App, env *config.Environment) promote.Builder {
	return func(st *state.State) (publish.Edit, error) {
		p, err := PlanFor(app, env)
		if err != nil {
			return publish.Edit{}, publish.Terminal(err)
		}
		es := st.Envs[env.Name]
		name := p.Entry
		if name == "" {
			// From the stable entry as written, which may not be app.Image.
			if im, ok := es.Entry(app); ok {
				name = im.Name + overlays.CanarySuffix
			}
		}
		data, err := promote.Bump(st, d.Render, app, env, name, step.Candidate)
		if err != nil {
			return publish.Edit{}, err
		}
		g := ledger.Gate{From: step.From}
		if step.Decision != nil {
			g = step.Decision.Record(step.From)
		}
		rec := &ledger.CanaryStep{App: app.Name, Env: env.Name, Version: step.Candidate, Step: 0, Of: p.Steps(), Label: p.Label(0), Gate: &g}
		return publish.Edit{Files: map[string][]byte{es.Path: data}, Record: rec}, nil
	}
}

// Rest adds to files (which may already hold env's kustomization) the
// canary entry set to v and the route at rest: a rollback ends a delivery.
func Rest(st *state.State, app *config.App, env *config.Environment, v ledger.Version, files map[string][]byte) error {
	cs, err := Read(st, app, env)
	if err != nil {
		return err
	}
	es := st.Envs[env.Name]
	// Edit the rollback's copy of the kustomization when it has one, or
	// its stable bump would be lost.
	data := es.Data
	if f, ok := files[es.Path]; ok {
		data = f
	}
	data, _, err = overlays.SetImage(data, overlays.Image{Name: cs.Entry.Name, NewTag: v.Tag, Digest: v.Digest})
	if err != nil {
		return publish.Terminal(fmt.Errorf("reset the canary of %s in %s: %w", app.Name, env.Name, err))
	}
	files[es.Path] = data
	return setRoute(files, cs, restRoute)
}

// Advanced is what Advance did.
type Advanced struct {
	Step   plan.Step
	Commit *fleet.Snapshot // pushed; nil when none
	Head   *fleet.Snapshot
	// Verify is owed now: by the step in place when nothing was pushed, or
	// by the step just pushed (its analysis starts at once).
	Verify    *verify.Verification
	Aborts    bool
	Completes bool // the delivery's last move: the version is now stable
}

// Advance makes the next move of app's delivery in env, deciding it on the
// branch head inside the write transaction (so a moved branch is decided
// again, never overwritten). notes are the verdicts to decide on.
func (d *Deliveries) Advance(ctx context.Context, pub *publish.Publisher, notes func(context.Context) (*fleet.Notes, error), app *config.App, env *config.Environment) (Advanced, error) {
	var out Advanced
	// Fetched once, outside the writer's turn; a verdict written after it
	// is read by the next Advance.
	nt, err := notes(ctx)
	if err != nil {
		return out, err
	}
	res, err := pub.Publish(ctx, fmt.Sprintf("advance the delivery of %s in %s", app.Name, env.Name), false, func(ctx context.Context, head *fleet.Snapshot) ([]publish.Edit, error) {
		// Each round reports on its own head only.
		out = Advanced{}
		st := state.Read(d.Config, head, nt)
		cs, delivering, err := InProgress(ctx, d.Log, st, app, env)
		if err != nil {
			out.Step = plan.Step{App: app.Name, Env: env.Name, Action: plan.ActionError, Reason: err.Error()}
			return nil, err
		}
		if !delivering {
			out.Step = plan.Step{App: app.Name, Env: env.Name, Action: plan.ActionNone, Reason: "the delivery already ended"}
			return nil, nil
		}
		mv, err := d.Next(ctx, st, app, env, cs)
		if err != nil {
			return nil, err
		}
		out.Step, out.Verify, out.Aborts, out.Completes = mv.Step, mv.Verify, mv.Aborts, mv.Completes
		if mv.Edit == nil {
			return nil, nil
		}
		return []publish.Edit{*mv.Edit}, nil
	})
	out.Head = res.Head
	if err != nil {
		return out, err
	}
	if n := len(res.Commits); n > 0 {
		out.Commit = res.Commits[n-1]
		// Owed now, on the pushed commit: the step's analysis starts at
		// once instead of at the next pass.
		out.Verify = Owed(state.Read(d.Config, out.Commit, nt), app, env, out.Commit)
	}
	return out, nil
}
