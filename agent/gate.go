package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/policies"
)

// Decision is the gate's verdict on one step, with what it was based on.
type Decision struct {
	Allow  bool     `json:"allow"`
	Deny   []string `json:"deny,omitempty"`
	Warn   []string `json:"warn,omitempty"`
	Policy string   `json:"policy"` // the bundle hash, or "none"
	// Evidence lists each fact the decision saw, one line each, as the
	// Ferry-Evidence trailers record them.
	Evidence []string `json:"evidence,omitempty"`
	// Notes say which evidence is absent and why, for people reading a denial.
	Notes []string `json:"notes,omitempty"`
	// Input is the document the policies saw (for `ferry policy input`).
	Input map[string]any `json:"-"`
}

// noPolicy marks decisions made without any policy in the fleet repo.
const noPolicy = "none"

// policyCache keeps the compiled policies of the fleet repo's policy
// directory, recompiled only when that directory's tree changes.
type policyCache struct {
	treeID string
	engine *policies.Engine
	err    error
}

// policiesAt returns the compiled policies of snap. A directory that does
// not exist means no policies (every promotion is allowed); one that does
// not compile is an error, and every promotion stops until it is fixed.
func (a *Agent) policiesAt(ctx context.Context, snap *fleet.Snapshot) (*policies.Engine, error) {
	dir := path.Clean(a.cfg.Policies)
	if a.cfg.Policies == "" {
		dir = "policies"
	}
	id, err := snap.ObjectID(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if a.policy != nil && a.policy.treeID == id {
		return a.policy.engine, a.policy.err
	}
	engine, err := policies.Load(ctx, snap.FS(), dir)
	if err != nil {
		err = fmt.Errorf("policies at %s do not compile; no promotion until they do: %w", shortHash(snap.Hash()), err)
	}
	a.policy = &policyCache{treeID: id, engine: engine, err: err}
	return engine, err
}

// gate builds the input document for step and asks the policies.
func (a *Agent) gate(ctx context.Context, ev *evidenceCache, st *fleetState, app *config.App, env *config.Environment, step Step) (*Decision, error) {
	engine, err := a.policiesAt(ctx, st.snap)
	if err != nil {
		return nil, err
	}
	input, d, err := a.buildInput(ctx, ev, st, app, env, step)
	if err != nil {
		return nil, err
	}
	d.Input = input
	if engine == nil {
		d.Allow, d.Policy = true, noPolicy
		return d, nil
	}
	pd, err := engine.Decide(ctx, input)
	if err != nil {
		return nil, fmt.Errorf("policy decision for %s %s in %s: %w", app.Name, step.Candidate, env.Name, err)
	}
	d.Allow, d.Deny, d.Warn, d.Policy = pd.Allow, pd.Deny, pd.Warn, engine.Hash()
	return d, nil
}

// buildInput is DESIGN.md's policy input. Evidence that could not be found
// is absent, never a zero value, so a policy that needs it fails closed;
// evidence that could not be read is an error, and nothing is promoted.
func (a *Agent) buildInput(ctx context.Context, ev *evidenceCache, st *fleetState, app *config.App, env *config.Environment, step Step) (map[string]any, *Decision, error) {
	d := &Decision{}
	environment := map[string]any{"name": env.Name}
	if src := sourceOf(env); src != "" {
		environment["from"] = src
	}
	if env.Soak > 0 {
		environment["soak_seconds"] = int64(env.Soak.Std() / time.Second)
	}
	candidate := map[string]any{"version": step.Candidate.Tag, "tag": step.Candidate.Tag, "digest": step.Candidate.Digest}
	input := map[string]any{
		"app":         map[string]any{"name": app.Name, "image": app.Image},
		"environment": environment,
		"candidate":   candidate,
		"time":        a.now().UTC().Format(time.RFC3339),
	}
	if !step.Current.IsZero() {
		input["current"] = map[string]any{"version": step.Current.Tag, "digest": step.Current.Digest}
	}
	evidence := map[string]any{}
	info, err := ev.inspect(ctx, app, step.Candidate.Digest)
	if err != nil {
		return nil, nil, err
	}
	if !info.Created.IsZero() {
		candidate["created"] = info.Created.UTC().Format(time.RFC3339)
	}
	for _, gather := range []func(context.Context, *evidenceCache, *fleetState, *config.App, *config.Environment, Step, map[string]any, *Decision) error{
		a.trivyEvidence, a.sonarEvidence, a.metricEvidence, a.soakEvidence, a.analysisEvidence,
	} {
		if err := gather(ctx, ev, st, app, env, step, evidence, d); err != nil {
			return nil, nil, err
		}
	}
	if versions := st.rejections.Versions(app.Name); len(versions) > 0 {
		evidence["rejected"] = versions
	}
	var freezes []any
	for _, f := range st.freezes.Active(app.Name, env.Name, a.now()) {
		freezes = append(freezes, f.Evidence())
		d.Evidence = append(d.Evidence, fmt.Sprintf("freeze %s: %s", f.Name, f.Reason))
	}
	if len(freezes) > 0 {
		evidence["freeze"] = freezes
	}
	input["evidence"] = evidence
	return input, d, nil
}

// PolicyInput is the input document ferry would give the policies now for
// app's candidate in env, whether or not a promotion is due.
func (a *Agent) PolicyInput(ctx context.Context, appName, envName string) (map[string]any, Step, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	app, ok := a.cfg.App(appName)
	if !ok {
		return nil, Step{}, fmt.Errorf("no app %q in %s", appName, a.cfg.Source)
	}
	env, ok := a.cfg.Env(envName)
	if !ok {
		return nil, Step{}, fmt.Errorf("no environment %q in %s", envName, a.cfg.Source)
	}
	snap, err := a.fleet.Fetch(ctx)
	if err != nil {
		return nil, Step{}, err
	}
	st := a.readState(snap)
	if a.needsNotes() {
		if st.notes, err = a.fleet.FetchNotes(ctx); err != nil {
			return nil, Step{}, err
		}
	}
	cands := a.lookupCandidates(ctx, []*config.App{app})
	step := a.decide(st, cands, app, env)
	if step.Candidate.IsZero() {
		return nil, step, fmt.Errorf("%s has no candidate for %s: %s", envName, appName, step.Reason)
	}
	input, _, err := a.buildInput(ctx, newEvidenceCache(a.images), st, app, env, step)
	return input, step, err
}
