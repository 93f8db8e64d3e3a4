package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/verify"
)

// Scope says which apps a pass asks the registry about; every app's later
// environments are reconciled from Git in every pass.
type Scope struct {
	All    bool
	Apps   []string
	Reason string // for logs: "interval", "registry push", "git push"
	// Wait makes the pass wait for every registry answer, however slow
	// (one-shot runs: `ferry run --once`, `ferry plan`).
	Wait bool
}

// Promotion is one commit a pass pushed.
type Promotion struct {
	Step
	Commit string `json:"commit"`
}

// PullRequest is a proposal a pass opened, updated or found.
type PullRequest struct {
	Step
	Number int    `json:"number"`
	URL    string `json:"url"`
	State  string `json:"state"`
}

// Plan is every step of one pass, in environment order.
type Plan struct {
	Commit string `json:"commit"`
	Steps  []Step `json:"steps"`
}

// Result is what one pass saw and did.
type Result struct {
	Plan         Plan          `json:"plan"`
	Promotions   []Promotion   `json:"promotions"`
	PullRequests []PullRequest `json:"pullRequests,omitempty"`
	// Verifications are the analyses the pass found owed: the loop runs them.
	Verifications []Verification `json:"verifications,omitempty"`
	Errors        []string       `json:"errors,omitempty"`
}

// Err joins the pass's errors, nil when there were none.
func (r *Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	errs := make([]error, len(r.Errors))
	for i, e := range r.Errors {
		errs[i] = errors.New(e)
	}
	return errors.Join(errs...)
}

// Head is the fleet repo's head after the pass: its last push, else what
// it read.
func (r *Result) Head() string {
	if n := len(r.Promotions); n > 0 && r.Promotions[n-1].Commit != "" {
		return r.Promotions[n-1].Commit
	}
	return r.Plan.Commit
}

// Reconcile runs one pass: it promotes every candidate that its
// environment takes automatically, one commit each, advances deliveries,
// proposes pull requests, and reports what it did.
func (a *Agent) Reconcile(ctx context.Context, scope Scope) (*Result, error) {
	return a.pass(ctx, scope, true)
}

// Plan computes every step of a full pass without writing anything: the
// same decisions as Reconcile, each later environment seeing what the
// earlier ones would be written to.
func (a *Agent) Plan(ctx context.Context) (*Plan, error) {
	res, err := a.pass(ctx, Scope{All: true, Wait: true, Reason: "plan"}, false)
	if err != nil {
		return nil, err
	}
	return &res.Plan, nil
}

// maxStale bounds the decisions taken again when the branch moved under a
// write: a busy branch cannot hold a pass forever.
const maxStale = 3

func (a *Agent) pass(ctx context.Context, scope Scope, write bool) (*Result, error) {
	start := a.now()
	st, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	patience := a.patience
	if scope.Wait {
		patience = 0
	}
	cands := a.poller.Lookup(ctx, a.registryApps(scope), a.planner.Selector, patience)
	a.obs.polled(cands)
	a.obs.metrics.registryPacing(a.poller.Registry)
	cache := a.gate.NewCache()
	res := &Result{Plan: Plan{Commit: st.Snap.Hash()}}
	fail := func(app *config.App, env *config.Environment, err error) {
		res.Errors = append(res.Errors, fmt.Sprintf("%s in %s: %s", app.Name, env.Name, err))
	}
	seen := map[string]bool{}
	for _, env := range a.order {
		for i := range a.cfg.Apps {
			app := &a.cfg.Apps[i]
			if env.Canary != nil && canary.Active(st, app, env) {
				var step Step
				step, st = a.deliver(ctx, st, app, env, write, res, fail)
				res.Plan.Steps = append(res.Plan.Steps, step)
				continue
			}
			step := a.planner.Judge(ctx, cache, st, cands, app, env)
			a.obs.decided(step, start)
			seen[seenKey(step)] = true
			switch {
			case step.Action == ActionError:
				fail(app, env, errors.New(step.Reason))
			case step.Action == ActionWait && step.Mode == ModePullRequest && step.Decision != nil && a.proposals && write:
				step = a.propose(ctx, st, step, app, env, res, fail)
			case step.Action == ActionPromote && !write:
				st = st.Assume(env, app, step.Candidate)
			case step.Action == ActionPromote:
				var commit *fleet.Snapshot
				st, step, commit = a.write(ctx, cache, st, cands, step, app, env, fail)
				if commit != nil {
					res.Promotions = append(res.Promotions, Promotion{Step: step, Commit: commit.Hash()})
					if env.Canary != nil {
						// Step 0 is in place: the next step may follow at once.
						var next Step
						if next, st = a.deliver(ctx, st, app, env, write, res, fail); next.Action == ActionPromote {
							step = next
						}
					}
				}
			}
			res.Plan.Steps = append(res.Plan.Steps, step)
		}
	}
	a.obs.forget(seen)
	if !write {
		return res, nil
	}
	owed, err := a.verifier.Owed(ctx, st, func(app *config.App, env *config.Environment) bool { return canary.Active(st, app, env) },
		func(app, tag string) bool { return a.planner.Selector(app).Allows(tag) })
	if err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("find analyses owed: %s", err))
	}
	res.Verifications = appendNew(res.Verifications, owed...)
	a.last.Store(st)
	return res, nil
}

func appendNew(vs []Verification, more ...Verification) []Verification {
	for _, v := range more {
		dup := false
		for _, w := range vs {
			dup = dup || w.Key() == v.Key()
		}
		if !dup {
			vs = append(vs, v)
		}
	}
	return vs
}

// read fetches the branch (and the verdict notes) and brings the history
// cache up to date.
func (a *Agent) read(ctx context.Context) (*state.State, error) {
	var snap *fleet.Snapshot
	var notes *fleet.Notes
	err := a.pub.Exclusive(func() error {
		var err error
		if snap, err = a.fleet.Fetch(ctx); err != nil {
			return err
		}
		if a.needsNotes() {
			notes, err = a.fleet.FetchNotes(ctx, ledger.NotesRef)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := a.history.Update(ctx, a.fleet, snap); err != nil {
		return nil, err
	}
	st := state.Read(a.full, snap, notes)
	a.last.Store(st)
	return st, nil
}

// notes fetches the verdict notes (for a delivery's decision).
func (a *Agent) notes(ctx context.Context) (*fleet.Notes, error) {
	var notes *fleet.Notes
	err := a.pub.Exclusive(func() error {
		var err error
		notes, err = a.fleet.FetchNotes(ctx, ledger.NotesRef)
		return err
	})
	return notes, err
}

// needsNotes reports whether any environment is verified, so verdict notes matter.
func (a *Agent) needsNotes() bool {
	for _, env := range a.order {
		if state.Verifies(env) {
			return true
		}
	}
	return false
}

// registryApps lists the apps whose registry is asked in this pass; only
// apps with a first environment fed by the registry need it.
func (a *Agent) registryApps(scope Scope) []*config.App {
	hasRoot := false
	for _, env := range a.order {
		hasRoot = hasRoot || (env.From == "" && env.Mirror == "")
	}
	if !hasRoot {
		return nil
	}
	want := map[string]bool{}
	for _, n := range scope.Apps {
		want[n] = true
	}
	var apps []*config.App
	for i := range a.cfg.Apps {
		if scope.All || want[a.cfg.Apps[i].Name] {
			apps = append(apps, &a.cfg.Apps[i])
		}
	}
	return apps
}

// write commits a promotion, deciding again on the new head when its
// inputs moved: a person's commit racing ferry's push is never
// overwritten. It returns the state to go on from.
func (a *Agent) write(ctx context.Context, cache *gate.Cache, st *state.State, cands plan.Candidates, step Step, app *config.App, env *config.Environment, fail func(*config.App, *config.Environment, error)) (*state.State, Step, *fleet.Snapshot) {
	for attempt := 0; ; attempt++ {
		build := a.promoter.Promotion(step, app, env)
		if env.Canary != nil {
			build = a.deliveries.Start(step, app, env)
		}
		w, err := a.promoter.Write(ctx, st, env, fmt.Sprintf("promote %s %s to %s", app.Name, step.Candidate.Tag, env.Name), build)
		if err != nil {
			step.Action, step.Reason = ActionError, err.Error()
			fail(app, env, err)
			a.obs.promotionFailed(step, err)
			return st, step, nil
		}
		if !w.Stale {
			if w.Commit == nil {
				return st, step, nil
			}
			next := st.Advance(w.Commit, env)
			a.history.Record(app.Name, env.Name, step.Candidate) // before the next read of the log sees it
			a.obs.promoted(step, w.Commit)
			a.emit(a.owedAfter(next, app, env, w.Commit, step.Candidate)...)
			return next, step, w.Commit
		}
		if attempt+1 >= maxStale {
			step.Action, step.Reason = ActionError, fmt.Sprintf("the branch kept moving under the promotion (%d decisions); the next pass tries again", maxStale)
			fail(app, env, errors.New(step.Reason))
			return st, step, nil
		}
		a.obs.log.Info("the branch moved under the promotion; deciding again", "app", app.Name, "env", env.Name, "head", ledger.ShortHash(w.Head.Hash()))
		fresh, err := a.read(ctx)
		if err != nil {
			step.Action, step.Reason = ActionError, err.Error()
			fail(app, env, err)
			return st, step, nil
		}
		st = fresh
		if step = a.planner.Judge(ctx, cache, st, cands, app, env); step.Action != ActionPromote {
			return st, step, nil
		}
	}
}

// owedAfter is the verification a commit that brought v into env owes: a
// promotion's, or the first step's of a delivery.
func (a *Agent) owedAfter(st *state.State, app *config.App, env *config.Environment, commit *fleet.Snapshot, v ledger.Version) []verify.Verification {
	if env.Canary != nil {
		if ver := canary.Owed(st, app, env, commit); ver != nil {
			return []verify.Verification{*ver}
		}
		return nil
	}
	if !state.VerifiesPromotions(env) {
		return nil
	}
	return []verify.Verification{{App: app.Name, Env: env.Name, Commit: commit.Hash(), Version: v, Stable: v, Template: env.Analysis,
		Ready: env.Verify != nil && env.Verify.Readiness != "", Cluster: env.Cluster != nil}}
}

// emit starts verifications at once when the loop listens.
func (a *Agent) emit(vs ...verify.Verification) {
	if fn := a.onVerify.Load(); fn != nil {
		for _, v := range vs {
			(*fn)(v)
		}
	}
}

// deliver makes the next move of app's delivery in env (or, dry, says
// what it would be).
func (a *Agent) deliver(ctx context.Context, st *state.State, app *config.App, env *config.Environment, write bool, res *Result, fail func(*config.App, *config.Environment, error)) (Step, *state.State) {
	if !write {
		cs, err := canary.Read(st, app, env)
		if err != nil {
			return Step{App: app.Name, Env: env.Name, Action: ActionError, Reason: err.Error()}, st
		}
		mv, err := a.deliveries.Next(ctx, st, app, env, cs)
		if err != nil {
			return Step{App: app.Name, Env: env.Name, Action: ActionError, Reason: err.Error()}, st
		}
		return mv.Step, st
	}
	adv, err := a.deliveries.Advance(ctx, a.pub, a.notes, app, env)
	if err != nil {
		fail(app, env, err)
		a.obs.log.Error("canary", "app", app.Name, "env", env.Name, "err", err)
		step := adv.Step
		step.App, step.Env, step.Action, step.Reason = app.Name, env.Name, ActionError, err.Error()
		return step, st
	}
	if adv.Commit != nil {
		a.obs.delivered(adv, app, env)
	}
	if adv.Verify != nil {
		if adv.Commit != nil {
			a.emit(*adv.Verify) // the step's analysis starts now, not at the next pass
		}
		res.Verifications = appendNew(res.Verifications, *adv.Verify)
	}
	if adv.Commit == nil {
		return adv.Step, st
	}
	res.Promotions = append(res.Promotions, Promotion{Step: adv.Step, Commit: adv.Commit.Hash()})
	return adv.Step, state.Read(a.full, adv.Commit, st.Notes)
}

// propose opens or updates the pull request of a pull-request environment.
func (a *Agent) propose(ctx context.Context, st *state.State, step Step, app *config.App, env *config.Environment, res *Result, fail func(*config.App, *config.Environment, error)) Step {
	build := a.promoter.Promotion(step, app, env)
	if env.Canary != nil {
		build = a.deliveries.Start(step, app, env)
	}
	p, err := a.promoter.Propose(ctx, st, step, app, env, build)
	if err != nil {
		p.Step.Action, p.Step.Reason = ActionError, err.Error()
		fail(app, env, err)
		a.obs.log.Error("pull request", "app", app.Name, "env", env.Name, "err", err)
	}
	if p.PR != nil {
		res.PullRequests = append(res.PullRequests, PullRequest{Step: p.Step, Number: p.PR.Number, URL: p.PR.URL, State: p.PR.State})
		if p.Opened {
			a.obs.proposed(p.Step, p.PR.URL)
		}
	}
	return p.Step
}
