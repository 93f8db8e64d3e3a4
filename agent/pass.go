package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/observe"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/promote"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/rollback"
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

// ungated is gate.Ungated for snap's policies. A one-shot run (ferry plan,
// run --once) waits for it; the agent's passes do not: with many apps or
// slow rules it takes a while, once per policy bundle, so a goroutine
// works it out and logs it, and the passes after it carry the answer. A
// bundle that does not compile is said by every step it stops.
func (a *Agent) ungated(ctx context.Context, snap *fleet.Snapshot, write, wait bool) []Ungated {
	if wait {
		u, err := a.gate.Ungated(ctx, snap)
		if write && err == nil {
			a.obs.Ungated(u)
		}
		return u
	}
	engine, err := a.gate.Policies(ctx, snap)
	if err != nil {
		return nil
	}
	if u, ok := a.gate.UngatedKnown(engine); ok {
		a.obs.Ungated(u)
		return u
	}
	if a.checkingGates.CompareAndSwap(false, true) {
		go func() {
			defer a.checkingGates.Store(false)
			if u, err := a.gate.Ungated(ctx, snap); err == nil {
				a.obs.Ungated(u)
			}
		}()
	}
	return nil
}

// size is the scope for a log line: "all", or how many apps (a full pass
// has no list: it read as apps=0 beside its promotions).
func (s Scope) size() string {
	if s.All {
		return "all"
	}
	return strconv.Itoa(len(s.Apps))
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
	// Ungated names the environments no policy rule can stop (gate.Ungated).
	Ungated []Ungated `json:"ungated,omitempty"`
	Steps   []Step    `json:"steps"`
	// Skipped lists, per app, the tags that look like versions but its tag
	// policy refuses, and why (plan.MaxSkipped newest-looking, and a count).
	Skipped []SkippedTags `json:"skipped,omitempty"`
	// Untrusted lists, per app with a verify: block, the newer tags passed
	// over because no signature of theirs verifies, and why.
	Untrusted []SkippedTags `json:"untrusted,omitempty"`
}

// SkippedTags are one app's refused version-like tags.
type SkippedTags struct {
	App  string             `json:"app"`
	Tags []registry.Skipped `json:"tags"`
	// More counts the skipped tags not listed.
	More int `json:"more,omitempty"`
}

// Result is what one pass saw and did.
type Result struct {
	Plan         Plan          `json:"plan"`
	Promotions   []Promotion   `json:"promotions"`
	PullRequests []PullRequest `json:"pullRequests,omitempty"`
	// Verifications are the analyses the pass found owed: the loop runs them.
	Verifications []Verification `json:"verifications,omitempty"`
	Errors        []string       `json:"errors,omitempty"`
	// ConfigMoved is the fleet commit whose ferry.yaml is not the running
	// one, when the pass stopped at it (Agent.WatchConfig).
	ConfigMoved string `json:"configMoved,omitempty"`
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
// write: a busy branch cannot hold a pass forever, and the next pass tries
// again on a fresh read.
const maxStale = 3

// pass is one reconcile pass: what it read, what it decided, what it did.
type pass struct {
	a     *Agent
	write bool // false: a dry run (ferry plan) assumes each move instead
	start time.Time
	st    *state.State
	cands plan.Candidates
	cache *gate.Cache
	res   *Result
	seen  map[string]bool // candidates judged, for the observer's bounded memory
	// After the pass's first push, its next promotions are committed into
	// chain and pushed together (flush): staged says what each one is.
	pushed bool
	chain  *publish.Chain
	staged []stagedMove
	// once: a one-shot pass (run --once, plan), with no next pass.
	once bool
	// watched is the last head whose ferry.yaml was compared with the
	// running configuration.
	watched string
}

// configMoved reports that the state the pass has advanced to holds
// another ferry.yaml than the running one (checked once per head).
func (p *pass) configMoved() bool {
	if p.a.configChanged == nil || p.st == nil || p.st.Snap == nil {
		return false
	}
	head := p.st.Snap.Hash()
	if head == p.watched {
		return false
	}
	p.watched = head
	return p.a.configChanged(p.st.Snap)
}

// stagedMove is a promotion committed into the pass's chain, not pushed.
type stagedMove struct {
	step  Step
	app   *config.App
	env   *config.Environment
	index int // in res.Plan.Steps
	moved promote.Staged
}

func (a *Agent) pass(ctx context.Context, scope Scope, write bool) (*Result, error) {
	p := &pass{a: a, write: write, start: a.now(), seen: map[string]bool{}, once: scope.Wait}
	patience := a.patience
	if scope.Wait {
		patience = 0
	}
	// The registries are asked while the fleet repo is read: the look-ups
	// wait on the network, the read on the CPU (parsing overlays). A failed
	// read leaves them to end on their own; the next pass asks again.
	looked := make(chan plan.Candidates, 1)
	apps := a.registryApps(scope)
	go func() { looked <- a.poller.Lookup(ctx, apps, a.planner.Selector, patience) }()
	var err error
	if p.st, err = a.read(ctx); err != nil {
		return nil, err
	}
	p.cands = <-looked
	a.obs.Polled(p.cands)
	a.obs.Metrics.RegistryPacing(a.poller.Registry)
	p.cache = a.gate.NewCache()
	p.res = &Result{Plan: Plan{Commit: p.st.Snap.Hash()}}
	p.res.Plan.Ungated = a.ungated(ctx, p.st.Snap, write, scope.Wait)
	for _, app := range a.cfg.Apps { // in config order, as the steps
		if c := p.cands[app.Name]; len(c.Skipped) > 0 {
			p.res.Plan.Skipped = append(p.res.Plan.Skipped, SkippedTags{App: app.Name, Tags: c.Skipped, More: c.SkippedMore})
		}
		if c := p.cands[app.Name]; len(c.Untrusted) > 0 {
			p.res.Plan.Untrusted = append(p.res.Plan.Untrusted, SkippedTags{App: app.Name, Tags: c.Untrusted})
		}
	}
	// Environments in order, each seeing the commits pushed for the ones
	// before it (p.st advances): a version can cross the chain in one pass.
steps:
	for _, env := range a.order {
		for i := range a.cfg.Apps {
			// A stopped pass (shutdown, a shard or the lease lost) stops
			// here, between steps: another replica may own these apps
			// once the Lease is gone.
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("pass stopped before %s in %s: %w", a.cfg.Apps[i].Name, env.Name, err)
			}
			// A ferry.yaml changed by a commit the pass has fetched (a
			// refused push reads the new head) ends the pass: the loop
			// loads it before anything more is decided.
			if p.configMoved() {
				p.res.ConfigMoved = p.st.Snap.Hash()
				a.obs.Log.Info("ferry.yaml changed during the pass; stopping it to load the new configuration", "commit", p.res.ConfigMoved)
				break steps
			}
			p.res.Plan.Steps = append(p.res.Plan.Steps, p.step(ctx, &a.cfg.Apps[i], env))
		}
	}
	p.flush(ctx)
	a.obs.Forget(p.seen)
	if !write {
		return p.res, nil
	}
	st := p.st
	delivering := func(app *config.App, env *config.Environment) bool {
		_, ok, _ := canary.InProgress(ctx, a.fleet, st, app, env)
		return ok
	}
	owed, err := a.verifier.Owed(ctx, st, delivering,
		func(app, tag string) bool { return a.planner.Selector(app).Allows(tag) })
	if err != nil {
		p.res.Errors = append(p.res.Errors, fmt.Sprintf("find analyses owed: %s", err))
	}
	p.res.Verifications = appendNew(p.res.Verifications, owed...)
	a.prepareRollbacks(ctx, p.res)
	a.last.Store(st)
	return p.res, nil
}

// step decides (and, in a writing pass, carries out) app's move into env.
func (p *pass) step(ctx context.Context, app *config.App, env *config.Environment) Step {
	// A delivery in progress owns the environment: no new candidate until
	// it ends.
	if env.Canary != nil {
		cs, delivering, err := canary.InProgress(ctx, p.a.fleet, p.st, app, env)
		if err != nil && cs != nil { // the overlay read, its history did not
			p.fail(app, env, err)
			return Step{App: app.Name, Env: env.Name, Action: ActionError, Reason: err.Error()}
		}
		if delivering {
			return p.deliver(ctx, app, env)
		}
	}
	step := p.a.planner.Judge(ctx, p.cache, p.st, p.cands, app, env)
	if p.write {
		// A dry run (ferry plan) prints its decisions; logging them too
		// said every denial twice, and counted plans as passes.
		p.a.obs.Decided(step, p.start)
	}
	p.seen[observe.Key(step)] = true
	switch {
	case step.Action == ActionError:
		p.fail(app, env, errors.New(step.Reason))
	case step.Action == ActionWait && step.Mode == ModePullRequest && step.Decision != nil && p.a.proposals && p.write:
		return p.propose(ctx, step, app, env)
	case step.Mode == ModePullRequest && step.Decision != nil && step.Decision.AwaitingApproval && p.a.proposals && p.write:
		// The pull request is where reviewers approve: open it while the
		// move waits for them.
		step.Action = ActionWait
		return p.propose(ctx, step, app, env)
	case step.Action == ActionPromote && !p.write:
		p.st = p.st.Assume(env, app, step.Candidate) // later environments see the planned version
	case step.Action == ActionPromote:
		var commit *fleet.Snapshot
		if step, commit = p.promote(ctx, step, app, env); commit != nil {
			p.res.Promotions = append(p.res.Promotions, Promotion{Step: step, Commit: commit.Hash()})
			if env.Canary != nil {
				// Step 0 is in place: the next step may follow at once.
				if next := p.deliver(ctx, app, env); next.Action == ActionPromote {
					step = next
				}
			}
		}
	}
	return step
}

func (p *pass) fail(app *config.App, env *config.Environment, err error) {
	p.res.Errors = append(p.res.Errors, fmt.Sprintf("%s in %s: %s", app.Name, env.Name, err))
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
	// The fetch shares the clone with the writers: it takes a writer's turn.
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

// promote commits a promotion, deciding again on the new head when its
// inputs moved: a person's commit racing ferry's push is never
// overwritten.
func (p *pass) promote(ctx context.Context, step Step, app *config.App, env *config.Environment) (Step, *fleet.Snapshot) {
	a := p.a
	if p.pushed && env.Canary == nil {
		return p.stage(ctx, step, app, env), nil
	}
	p.flush(ctx) // a delivery's moves go through the publisher: after the chain
	for attempt := 0; ; attempt++ {
		build := a.promoter.Promotion(step, app, env)
		if env.Canary != nil {
			build = a.deliveries.Start(step, app, env)
		}
		w, err := a.promoter.Write(ctx, p.st, env, fmt.Sprintf("promote %s %s to %s", app.Name, step.Candidate.Tag, env.Name), build)
		if err != nil {
			step.Action, step.Reason = ActionError, err.Error()
			p.fail(app, env, err)
			a.obs.PromotionFailed(step, err)
			return step, nil
		}
		if !w.Stale {
			if w.Commit == nil {
				return step, nil
			}
			// Advance, not a fetch: only env's overlay changed, and a read
			// per promotion would cost a round trip to the remote.
			p.st = p.st.Advance(w.Commit, env)
			p.pushed = true
			a.history.Record(app.Name, env.Name, step.Candidate) // before the next read of the log sees it
			if env.Canary != nil {
				// Step 0 of a delivery: the promotion is its last move.
				a.obs.DeliveryStarted(step, w.Commit)
			} else {
				a.obs.Promoted(step, w.Commit)
			}
			a.emit(owedAfter(p.st, app, env, w.Commit, step.Candidate)...)
			return step, w.Commit
		}
		if attempt+1 >= maxStale {
			step.Action, step.Reason = ActionError, fmt.Sprintf("the branch kept moving under the promotion (%d decisions); the next pass tries again", maxStale)
			p.fail(app, env, errors.New(step.Reason))
			return step, nil
		}
		a.obs.Log.Info("the branch moved under the promotion; deciding again", "app", app.Name, "env", env.Name, "head", ledger.ShortHash(w.Head.Hash()))
		fresh, err := a.read(ctx)
		if err != nil {
			step.Action, step.Reason = ActionError, err.Error()
			p.fail(app, env, err)
			return step, nil
		}
		p.st = fresh
		if step = a.planner.Judge(ctx, p.cache, p.st, p.cands, app, env); step.Action != ActionPromote {
			return step, nil
		}
	}
}

// stage commits a promotion into the pass's chain, after its first push:
// one push (flush) carries the chain, each environment's commit its own.
// Nothing is recorded, announced or verified until that push lands.
func (p *pass) stage(ctx context.Context, step Step, app *config.App, env *config.Environment) Step {
	a := p.a
	if p.chain == nil {
		p.chain = a.pub.Chain(p.st.Snap)
	}
	what := fmt.Sprintf("promote %s %s to %s", app.Name, step.Candidate.Tag, env.Name)
	moved, err := a.promoter.Stage(ctx, p.chain, p.st, env, what, a.promoter.Promotion(step, app, env))
	if err != nil {
		step.Action, step.Reason = ActionError, err.Error()
		p.fail(app, env, err)
		a.obs.PromotionFailed(step, err)
		return step
	}
	if moved.Commit != nil {
		// Later environments decide on the state after this commit.
		p.st = p.st.Advance(moved.Commit, env)
		p.staged = append(p.staged, stagedMove{step: step, app: app, env: env, index: len(p.res.Plan.Steps), moved: moved})
	}
	return step
}

// flush pushes the pass's chain in one push. A move that landed is a
// promotion (recorded, announced, its verification started); one the
// push dropped (the branch moved under it and its inputs with it, or the
// push failed) is an error of its step, and the next pass tries again.
func (p *pass) flush(ctx context.Context) {
	chain, staged := p.chain, p.staged
	p.chain, p.staged = nil, nil
	if chain == nil || len(staged) == 0 {
		return
	}
	a := p.a
	res, err := chain.Push(ctx)
	if err != nil || res.Attempts > 1 {
		// The state the later steps and the analyses owed see is the
		// branch as it is, not the chain as it was staged.
		p.st = state.Read(a.full, res.Head, p.st.Notes)
	}
	for i, m := range staged {
		var commits []*fleet.Snapshot
		if err == nil {
			commits = res.Links[i]
		}
		if len(commits) == 0 {
			why, dropped := err, false
			switch {
			case why != nil:
			case res.Errs[i] != nil:
				why = res.Errs[i]
			case *m.moved.Stale:
				why = fmt.Errorf("the branch moved under the promotion and its inputs with it; the next pass tries again")
				dropped = true
			default:
				continue // already there on the new head: nothing to do
			}
			step := m.step
			step.Action, step.Reason = ActionError, why.Error() // retried soon (Loop.retryFailed)
			p.res.Plan.Steps[m.index] = step
			if dropped && !p.once {
				// A person changed what the move was decided on: the
				// documented way, not a failure (a warning, not an error
				// of the pass). A one-shot run has no next pass: there it
				// is one, and the exit status says so.
				a.obs.PromotionDropped(step, why)
				continue
			}
			p.fail(m.app, m.env, why)
			a.obs.PromotionFailed(step, why)
			continue
		}
		commit := commits[len(commits)-1]
		a.history.Record(m.app.Name, m.env.Name, m.step.Candidate)
		a.obs.Promoted(m.step, commit)
		a.emit(owedAfter(p.st, m.app, m.env, commit, m.step.Candidate)...)
		p.res.Promotions = append(p.res.Promotions, Promotion{Step: m.step, Commit: commit.Hash()})
	}
}

// owedAfter is the verification a commit that brought v into env owes: a
// promotion's, or the first step's of a delivery.
func owedAfter(st *state.State, app *config.App, env *config.Environment, commit *fleet.Snapshot, v ledger.Version) []verify.Verification {
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
func (p *pass) deliver(ctx context.Context, app *config.App, env *config.Environment) Step {
	a := p.a
	if !p.write {
		cs, err := canary.Read(p.st, app, env)
		if err != nil {
			return Step{App: app.Name, Env: env.Name, Action: ActionError, Reason: err.Error()}
		}
		mv, err := a.deliveries.Next(ctx, p.st, app, env, cs)
		if err != nil {
			return Step{App: app.Name, Env: env.Name, Action: ActionError, Reason: err.Error()}
		}
		return mv.Step
	}
	p.flush(ctx) // the delivery's move goes through the publisher, on the pushed head
	adv, err := a.deliveries.Advance(ctx, a.pub, a.notes, app, env)
	if err != nil {
		p.fail(app, env, err)
		a.obs.Log.Error("canary", "app", app.Name, "env", env.Name, "err", err)
		step := adv.Step
		step.App, step.Env, step.Action, step.Reason = app.Name, env.Name, ActionError, err.Error()
		return step
	}
	if adv.Commit != nil {
		a.obs.Delivered(adv, app, env)
	}
	if adv.Verify != nil {
		if adv.Commit != nil {
			a.emit(*adv.Verify) // the step's analysis starts now, not at the next pass
		}
		p.res.Verifications = appendNew(p.res.Verifications, *adv.Verify)
	}
	if adv.Commit != nil {
		p.res.Promotions = append(p.res.Promotions, Promotion{Step: adv.Step, Commit: adv.Commit.Hash()})
		p.st = state.Read(a.full, adv.Commit, p.st.Notes)
	}
	return adv.Step
}

// propose opens or updates the pull request of a pull-request environment.
func (p *pass) propose(ctx context.Context, step Step, app *config.App, env *config.Environment) Step {
	a := p.a
	p.flush(ctx) // the proposal is based on the pushed head
	build := a.promoter.Promotion(step, app, env)
	if env.Canary != nil {
		build = a.deliveries.Start(step, app, env)
	}
	pr, err := a.promoter.Propose(ctx, p.st, step, app, env, build)
	// With approval: the gate allowed with the approvals in, so ferry
	// merges the proposal itself.
	if err == nil && env.Approval != nil && step.Decision.Allow {
		pr, err = a.promoter.MergeProposal(ctx, pr)
	}
	if err != nil {
		pr.Step.Action, pr.Step.Reason = ActionError, err.Error()
		p.fail(app, env, err)
		a.obs.Log.Error("pull request", "app", app.Name, "env", env.Name, "err", err)
	}
	if pr.PR != nil {
		p.res.PullRequests = append(p.res.PullRequests, PullRequest{Step: pr.Step, Number: pr.PR.Number, URL: pr.PR.URL, State: pr.PR.State})
		if pr.Opened {
			a.obs.Proposed(pr.Step, pr.PR.URL)
		}
	}
	return pr.Step
}

// prepareRollbacks has the rollbacks of a pass's promotions built ahead,
// on the head the pass left (rollback.PrepareAhead): an alert that follows
// a promotion is the one that must be fast.
func (a *Agent) prepareRollbacks(ctx context.Context, res *Result) {
	if len(res.Promotions) == 0 {
		return
	}
	head, err := a.fleet.Snapshot(res.Head())
	if err != nil {
		return
	}
	moves := make([]rollback.Move, 0, len(res.Promotions))
	for _, p := range res.Promotions {
		moves = append(moves, rollback.Move{App: p.App, Env: p.Env})
	}
	a.rollbacks.PrepareAhead(ctx, head, moves)
}
