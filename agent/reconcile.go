package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/notify"
)

// Scope says which apps a pass asks the registry about; every app's later
// environments are reconciled from Git in every pass.
type Scope struct {
	All    bool
	Apps   []string
	Reason string // for logs: "interval", "registry push", "git push"
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

// Plan computes every step of a full pass without writing anything.
func (a *Agent) Plan(ctx context.Context) (*Plan, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.fetchState(ctx)
	if err != nil {
		return nil, err
	}
	cands := a.lookupCandidates(ctx, a.registryApps(Scope{All: true}))
	ev := newEvidenceCache(a.images)
	plan := &Plan{Commit: st.snap.Hash()}
	for _, env := range a.order {
		for i := range a.cfg.Apps {
			app := &a.cfg.Apps[i]
			if env.Canary != nil && a.canaryActive(st, app, env) {
				step, _, _, _, _ := a.advanceCanary(ctx, st, app, env, false)
				plan.Steps = append(plan.Steps, step)
				continue
			}
			step := a.judgeStep(ctx, ev, st, cands, app, env)
			plan.Steps = append(plan.Steps, step)
			if step.Action == ActionPromote || step.Action == ActionWait {
				// Later environments see the planned version, as the pass would write it.
				st.envs[env.Name].assume(app, step.Candidate)
			}
		}
	}
	return plan, nil
}

// Reconcile runs one pass: it promotes every candidate that its environment
// takes automatically, one commit each, and reports what it did.
func (a *Agent) Reconcile(ctx context.Context, scope Scope) (*Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	start := a.now()
	st, err := a.fetchState(ctx)
	if err != nil {
		return nil, err
	}
	cands := a.lookupCandidates(ctx, a.registryApps(scope))
	ev := newEvidenceCache(a.images)
	res := &Result{Plan: Plan{Commit: st.snap.Hash()}}
	for _, env := range a.order {
		for i := range a.cfg.Apps {
			app := &a.cfg.Apps[i]
			if env.Canary != nil && a.canaryActive(st, app, env) {
				step, next, commit, v, err := a.advanceCanary(ctx, st, app, env, true)
				if err != nil {
					res.Errors = append(res.Errors, fmt.Sprintf("%s in %s: %s", app.Name, env.Name, err))
					a.log.Error("canary", "app", app.Name, "env", env.Name, "err", err)
				}
				res.Plan.Steps = append(res.Plan.Steps, step)
				if commit != "" {
					res.Promotions = append(res.Promotions, Promotion{Step: step, Commit: commit})
				}
				if v != nil {
					res.Verifications = append(res.Verifications, *v)
				}
				st = next
				continue
			}
			step := a.judgeStep(ctx, ev, st, cands, app, env)
			a.noteCandidate(step, start)
			if step.Action == ActionError {
				res.Errors = append(res.Errors, fmt.Sprintf("%s in %s: %s", app.Name, env.Name, step.Reason))
				a.log.Warn("no candidate", "app", app.Name, "env", env.Name, "reason", step.Reason)
			}
			if step.Action == ActionWait && step.Mode == ModePullRequest && step.Decision != nil && a.prs != nil {
				proposed, pr, err := a.propose(ctx, st, app, env, step)
				if err != nil {
					proposed.Action, proposed.Reason = ActionError, err.Error()
					res.Errors = append(res.Errors, fmt.Sprintf("%s in %s: %s", app.Name, env.Name, err))
					a.log.Error("pull request", "app", app.Name, "env", env.Name, "err", err)
				}
				if pr != nil {
					res.PullRequests = append(res.PullRequests, PullRequest{Step: proposed, Number: pr.Number, URL: pr.URL, State: pr.State})
				}
				step = proposed
			}
			if step.Action != ActionPromote {
				res.Plan.Steps = append(res.Plan.Steps, step)
				continue
			}
			next, commit, err := a.promote(ctx, ev, st, cands, app, env)
			if err != nil {
				step.Action, step.Reason = ActionError, err.Error()
				res.Errors = append(res.Errors, err.Error())
				a.metrics.promotion(app.Name, env.Name, "error")
				a.log.Error("promotion failed", "app", app.Name, "env", env.Name, "candidate", step.Candidate.String(), "err", err)
			}
			res.Plan.Steps = append(res.Plan.Steps, step)
			st = next
			if commit != "" {
				res.Promotions = append(res.Promotions, Promotion{Step: step, Commit: commit})
			}
		}
	}
	owed, err := a.pendingVerifications(ctx, st)
	if err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("find analyses owed: %s", err))
	}
	res.Verifications = append(res.Verifications, owed...)
	return res, nil
}

// fetchState reads the fleet repo's head: its overlays and ferry's history.
func (a *Agent) fetchState(ctx context.Context) (*fleetState, error) {
	snap, err := a.fleet.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.history.update(ctx, a.fleet, snap); err != nil {
		return nil, err
	}
	st := a.readState(snap)
	if a.needsNotes() {
		if st.notes, err = a.fleet.FetchNotes(ctx); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// needsNotes reports whether any environment is analysed, so verdict notes matter.
func (a *Agent) needsNotes() bool {
	for _, env := range a.order {
		if env.Analysis != "" || env.Canary != nil || env.Verify != nil || env.Cluster != nil {
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
		if env.From == "" && env.Mirror == "" {
			hasRoot = true
		}
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

// promote writes one promotion, re-deciding on a newer head whenever the
// remote moved: a human commit racing ferry's push is never overwritten.
// It returns the state to continue from (the pushed head on success).
func (a *Agent) promote(ctx context.Context, ev *evidenceCache, st *fleetState, cands candidates, app *config.App, env *config.Environment) (*fleetState, string, error) {
	for attempt := 1; ; attempt++ {
		step := a.judgeStep(ctx, ev, st, cands, app, env)
		if step.Action != ActionPromote {
			a.log.Info("promotion no longer needed", "app", app.Name, "env", env.Name, "reason", step.Reason)
			return st, "", nil
		}
		es := st.envs[env.Name]
		data, err := bumpEntry(st.snap, es, app, env, promotionEntry(es, app, env), step.Candidate)
		if err != nil {
			return st, "", err
		}
		msg := promotionMessage(step)
		if env.Canary != nil {
			msg = canaryStartMessage(msg, app, env, step)
		}
		next, err := a.fleet.Commit(st.snap, map[string][]byte{es.path: data}, msg, a.now())
		if err != nil {
			return st, "", fmt.Errorf("commit %s %s to %s: %w", app.Name, step.Candidate, env.Name, err)
		}
		err = a.fleet.Push(ctx, next)
		if err == nil {
			return a.afterPush(st, next, env, step)
		}
		if !errors.Is(err, fleet.ErrNonFastForward) || attempt >= a.attempts {
			return st, "", fmt.Errorf("push %s %s to %s: %w", app.Name, step.Candidate, env.Name, err)
		}
		a.metrics.pushRetry()
		a.log.Info("remote moved; re-applying on the new head", "app", app.Name, "env", env.Name, "attempt", attempt)
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return st, "", err
		}
		fresh, err := a.fetchState(ctx)
		if err != nil {
			return st, "", err
		}
		st = fresh
	}
}

func (a *Agent) afterPush(st *fleetState, next *fleet.Snapshot, env *config.Environment, step Step) (*fleetState, string, error) {
	if a.history.head == st.snap.Hash() {
		a.history.head = next.Hash()
	}
	a.history.record(step.App, step.Env, step.Candidate)
	a.metrics.promotion(step.App, step.Env, "pushed")
	if seen, ok := a.seen[seenKey(step)]; ok {
		a.metrics.promotionDuration(a.now().Sub(seen))
		delete(a.seen, seenKey(step))
	}
	a.notify(notify.Event{Kind: notify.Promotion, App: step.App, Env: step.Env, Version: step.Candidate.Tag, From: step.From,
		Commit: next.Hash(), Reason: step.Reason})
	a.log.Info("promoted", "app", step.App, "env", step.Env, "version", step.Candidate.Tag,
		"digest", step.Candidate.Digest, "from", step.From, "commit", shortHash(next.Hash()))
	// Rejections, freezes and notes stay as they were: a promotion changes none of them.
	out := *st
	out.snap, out.envs = next, make(map[string]*envState, len(st.envs))
	for k, v := range st.envs {
		out.envs[k] = v
	}
	out.envs[env.Name] = readEnv(next, env)
	return &out, next.Hash(), nil
}

// noteCandidate remembers when a candidate was first seen, for the
// candidate-seen-to-pushed histogram.
func (a *Agent) noteCandidate(step Step, now time.Time) {
	if step.Action != ActionPromote {
		return
	}
	if _, ok := a.seen[seenKey(step)]; !ok {
		a.seen[seenKey(step)] = now
	}
}

func seenKey(s Step) string { return promotionKey(s.App, s.Env, s.Candidate) }

func promotionMessage(s Step) fleet.Message {
	m := fleet.Message{
		Subject: fmt.Sprintf("promote %s %s to %s", s.App, s.Candidate.Tag, s.Env),
		Trailers: []fleet.Trailer{
			{Key: TrailerApp, Value: s.App},
			{Key: TrailerEnv, Value: s.Env},
			{Key: TrailerFrom, Value: s.From},
			{Key: TrailerVersion, Value: s.Candidate.Tag},
			{Key: TrailerDigest, Value: s.Candidate.Digest},
			{Key: TrailerDecision, Value: "allow"},
		},
	}
	if d := s.Decision; d != nil {
		// The image's creation time: DORA's lead time starts there.
		if c, ok := d.Input["candidate"].(map[string]any); ok {
			if created, ok := c["created"].(string); ok && created != "" {
				m.Trailers = append(m.Trailers, fleet.Trailer{Key: TrailerCreated, Value: created})
			}
		}
		m.Trailers = append(m.Trailers, fleet.Trailer{Key: TrailerPolicy, Value: d.Policy})
		for _, e := range d.Evidence {
			m.Trailers = append(m.Trailers, fleet.Trailer{Key: TrailerEvidence, Value: e})
		}
		if len(d.Warn) > 0 {
			m.Body = "Warnings:\n- " + strings.Join(d.Warn, "\n- ")
		}
	}
	return m
}

func backoff(attempt int) time.Duration {
	d := 50 * time.Millisecond << (attempt - 1)
	if d > 2*time.Second {
		d = 2 * time.Second
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
