// Package plan decides, for one app in one environment, what a pass does:
// nothing, promote a candidate, wait for a person or a pull request, hold
// for a verification, or refuse it. It reads the fleet repo (agent/state),
// asks the gate, and writes nothing; `ferry plan` and `ferry run` share it,
// so what plan says is what run does.
package plan

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/state"
)

// Mode is how an environment receives versions.
type Mode string

// Modes of docs/design.md's environment contract.
const (
	ModeAuto        Mode = "auto"
	ModeMirror      Mode = "mirror"
	ModePullRequest Mode = "pullRequest"
	ModeManual      Mode = "manual"
)

// ModeOf is env's mode.
func ModeOf(env *config.Environment) Mode {
	switch {
	case env.Mirror != "":
		return ModeMirror
	case env.PullRequest:
		return ModePullRequest
	case env.Auto:
		return ModeAuto
	}
	return ModeManual
}

// Action is what a pass does for one app in one environment.
type Action string

// Actions a plan can hold.
const (
	ActionNone    Action = "none"    // up to date, or nothing to move
	ActionPromote Action = "promote" // ferry commits the candidate
	ActionWait    Action = "wait"    // a candidate exists but this mode does not write it now
	ActionHold    Action = "hold"    // the source environment has not verified the candidate (yet), or it awaits approval
	ActionError   Action = "error"   // the candidate could not be found or judged
	ActionDeny    Action = "deny"    // the policies refuse the candidate
)

// Step is the plan for one app in one environment.
type Step struct {
	App       string         `json:"app"`
	Env       string         `json:"env"`
	From      string         `json:"from"` // source env, or "registry"
	Mode      Mode           `json:"mode"`
	Current   ledger.Version `json:"current"`
	Candidate ledger.Version `json:"candidate"`
	Action    Action         `json:"action"`
	Reason    string         `json:"reason"`
	// Decision is the gate's verdict, for steps that would move a version.
	Decision *gate.Decision `json:"decision,omitempty"`
	// Unverified, under git.verifyCommits, says that the commit that set
	// the candidate in the source environment is not verified: under warn
	// the step goes on, under require it holds.
	Unverified string `json:"unverified,omitempty"`
	// UnverifiedTag is the version that commit set (under require the
	// step holds with no candidate), for the notification.
	UnverifiedTag string `json:"-"`
}

// FromRegistry names the source of a first environment.
const FromRegistry = "registry"

// Planner decides steps. Safe for concurrent use.
type Planner struct {
	cfg       *config.Pipeline
	log       state.Log
	gate      *gate.Gate
	history   *state.History
	selectors map[string]*registry.Selector
	// proposals says whether pull-request environments get pull requests
	// (a forge is configured); without, they wait for a person.
	proposals bool
	// Signatures checks the commits that set the source environments'
	// versions (git.verifyCommits); nil: off. Set before the first Decide.
	Signatures *state.Signatures
	gateFiles  gateFilesCheck
	memo       memo
}

// New makes a Planner; it compiles each app's tag policy.
func New(cfg *config.Pipeline, log state.Log, g *gate.Gate, h *state.History, proposals bool) (*Planner, error) {
	p := &Planner{cfg: cfg, log: log, gate: g, history: h, proposals: proposals, selectors: map[string]*registry.Selector{}}
	// Apps with one tag policy share its Selector, and so its memo of
	// parsed tags: 10,000 apps with semver ">=1.0.0" parse "1.4.2" once.
	shared := map[registry.TagPolicy]*registry.Selector{}
	for i := range cfg.Apps {
		app := &cfg.Apps[i]
		pol := registry.TagPolicy{Semver: app.Tags.Semver, Regex: app.Tags.Regex, Order: app.Tags.Order, Digest: app.Tags.Digest}
		sel, ok := shared[pol]
		if !ok {
			var err error
			if sel, err = registry.NewSelector(pol); err != nil {
				return nil, fmt.Errorf("app %s: %w", app.Name, err)
			}
			shared[pol] = sel
		}
		p.selectors[app.Name] = sel
	}
	return p, nil
}

// Selector is app's tag policy.
func (p *Planner) Selector(app string) *registry.Selector { return p.selectors[app] }

// SourceOf is where env's versions come from: its mirror target or from.
func SourceOf(env *config.Environment) string {
	if env.Mirror != "" {
		return env.Mirror
	}
	return env.From
}

// Decide computes the step for app in env from the state and the registry
// candidates, without asking the gate.
func (p *Planner) Decide(ctx context.Context, st *state.State, cands Candidates, app *config.App, env *config.Environment) Step {
	s := Step{App: app.Name, Env: env.Name, Mode: ModeOf(env)}
	// Unreadable rejections or freezes fail closed: a rejected version or a
	// frozen environment must not look like an allowed move.
	if st.Err != nil {
		s.Action, s.Reason = ActionError, st.Err.Error()
		return s
	}
	if err := st.Envs[env.Name].Err; err != nil {
		s.Action, s.Reason = ActionError, err.Error()
		return s
	}
	s.Current = st.Envs[env.Name].Version(app)
	if reason, err := p.unsignedGateFiles(ctx, st); err != nil || reason != "" {
		s.Action, s.Reason = ActionError, reason
		if err != nil {
			s.Reason = err.Error()
		}
		return s
	}
	switch src := SourceOf(env); {
	case src != "":
		s.From = src
		// An error, not "runs nothing": a broken source overlay must not
		// read as an environment with no version to pass on.
		if st.Envs[src].Err != nil {
			s.Action, s.Reason = ActionError, fmt.Sprintf("source %s is unreadable", src)
			return s
		}
		s.Candidate = st.Envs[src].Version(app)
		if held, reason, err := p.unsigned(ctx, st, app, src, &s); err != nil {
			s.Action, s.Reason = ActionError, err.Error()
			return s
		} else if held {
			s.Candidate, s.Action, s.Reason = ledger.Version{}, ActionHold, reason
			return s
		}
	default:
		s.From = FromRegistry
		c, ok := cands[app.Name]
		switch {
		case !ok:
			s.Action, s.Reason = ActionNone, "registry not polled in this pass"
			return s
		case c.Pending:
			// Not an error: the look-up goes on and asks for a pass of its own.
			s.Action, s.Reason = ActionNone, c.Err.Error()
			return s
		case c.Err != nil:
			s.Action, s.Reason = ActionError, c.Err.Error()
			return s
		}
		s.Candidate = c.Version
	}
	s.Action, s.Reason = p.judge(st, s, app)
	// Only a move can be held, and finding the verdict walks history, so
	// the hold is asked after judge.
	if s.Action == ActionPromote {
		if held, reason, err := p.held(ctx, st, app, env, s.Candidate); err != nil {
			s.Action, s.Reason = ActionError, err.Error()
			return s
		} else if held {
			s.Action, s.Reason = ActionHold, reason
			return s
		}
	}
	if s.Action == ActionPromote && s.Mode != ModeAuto && s.Mode != ModeMirror {
		s.Action = ActionWait
		if s.Mode == ModePullRequest {
			s.Reason = "awaiting a pull request"
			if !p.proposals {
				s.Reason = "awaiting pull-request promotion (needs git.provider)"
			}
		} else {
			s.Reason = "manual environment: promote by commit"
		}
	}
	return s
}

// unsigned checks the commit that set the candidate in the source
// environment (git.verifyCommits): under require an unverified one is not
// the source's version, so nothing moves on from it; under warn the step
// says so and goes on.
func (p *Planner) unsigned(ctx context.Context, st *state.State, app *config.App, src string, s *Step) (bool, string, error) {
	mode := p.Signatures.Mode()
	if mode == state.VerifyOff || s.Candidate.IsZero() {
		return false, "", nil
	}
	env, ok := p.cfg.Env(src)
	if !ok {
		return false, "", nil
	}
	if st.Assumed(app, src) {
		// This pass promotes it into src itself (a dry run does not write
		// it): ferry's commit, signed with its key, as the run's will be.
		return false, "", nil
	}
	sb, found, err := p.Signatures.CheckRun(ctx, st, app, env)
	switch {
	case err != nil:
		return false, "", fmt.Errorf("signature of the commit that set %s %s in %s: %w", app.Name, s.Candidate.Tag, src, err)
	case !found && mode == state.VerifyRequire:
		// Fail closed: no commit to check is no evidence of a signer.
		return true, fmt.Sprintf("%s's history does not show which commit set %s %s; unverified, not promoted on", src, app.Name, s.Candidate.Tag), nil
	case !found || sb.Verified:
		return false, "", nil
	}
	// Both modes report it (log, notification); only require holds.
	s.Unverified, s.UnverifiedTag = sb.Describe(), s.Candidate.Tag
	if mode == state.VerifyRequire {
		return true, fmt.Sprintf("%s %s in %s is not taken: %s", app.Name, s.Candidate.Tag, src, sb.Describe()), nil
	}
	return false, "", nil
}

// held is the structural hold: a version moves past an environment that
// verifies what it receives only once that environment's verdict on it is
// Successful, whatever the policies say (they may add holds, never remove
// this one).
func (p *Planner) held(ctx context.Context, st *state.State, app *config.App, env *config.Environment, v ledger.Version) (bool, string, error) {
	src, ok := p.cfg.Env(SourceOf(env))
	if !ok || !state.Verifies(src) {
		return false, "", nil
	}
	vd, c, found, err := state.Verdict(ctx, p.log, st, app, src, v)
	switch {
	case err != nil:
		return false, "", fmt.Errorf("verdict of %s %s in %s: %w", app.Name, v.Tag, src.Name, err)
	case !found && c.Hash == "":
		return true, fmt.Sprintf("%s's history does not show when %s arrived there; nothing moves past %s without its verdict", src.Name, v.Tag, src.Name), nil
	case !found:
		return true, fmt.Sprintf("waiting for %s to verify %s (commit %s)", src.Name, v.Tag, ledger.ShortHash(c.Hash)), nil
	case vd.Verdict == ledger.Successful:
		return false, "", nil
	case vd.Verdict == ledger.Inconclusive:
		return true, fmt.Sprintf("held: %s's verification of %s was inconclusive (%s); `ferry retry-analysis %s --env %s` or remove the note on %s to run it again",
			src.Name, v.Tag, vd.Reason, app.Name, src.Name, ledger.ShortHash(c.Hash)), nil
	}
	return true, fmt.Sprintf("held: %s's verification of %s failed (%s)", src.Name, v.Tag, vd.Reason), nil
}

// judge says whether the candidate should replace the current version.
func (p *Planner) judge(st *state.State, s Step, app *config.App) (Action, string) {
	moving := state.Moving(app)
	switch {
	case s.Candidate.IsZero():
		return ActionNone, fmt.Sprintf("%s runs no version of %s", s.From, app.Name)
	case s.Candidate.Same(s.Current, moving):
		return ActionNone, upToDate
	case s.Mode == ModeMirror:
		// A mirror copies its target, older versions included, so the
		// selector, history and downgrade checks below do not apply.
		if _, rejected := st.Rejected(app, s.Candidate); rejected {
			return ActionNone, fmt.Sprintf("%s %s is rejected; the mirror waits for %s to move", app.Name, s.Candidate.Tag, s.From)
		}
		return ActionPromote, "mirror " + s.From
	}
	if r, rejected := st.Rejected(app, s.Candidate); rejected {
		why := ""
		if r.Reason != "" {
			why = " (" + r.Reason + ")"
		}
		// The hint names the entry, which may be another spelling of the
		// tag (2.0.0 for v2.0.0) or another tag of the same build.
		return ActionNone, fmt.Sprintf("%s %s is rejected%s; `ferry unreject %s %s` allows it again", app.Name, s.Candidate.Tag, why, app.Name, r.Version)
	}
	sel := p.selectors[app.Name]
	if !sel.Allows(s.Candidate.Tag) {
		// A placeholder (0.0.0) or a tag a person pinned outside the policy.
		return ActionNone, fmt.Sprintf("%s runs %s %s, which the tag policy (%s) never picks; not moving it on", s.From, app.Name, s.Candidate.Tag, describeTags(app.Tags))
	}
	// ferry promoted it here once and something replaced it since (a
	// person's commit): promoting it again would undo that on every pass.
	if p.history.Promoted(app.Name, s.Env, s.Candidate) {
		return ActionNone, fmt.Sprintf("%s was promoted to %s before and later replaced; not promoting it again", s.Candidate, s.Env)
	}
	// Never a downgrade. A current tag outside the selector (a person's pin)
	// has no order, so any candidate may replace it.
	if s.Current.Tag != s.Candidate.Tag && sel.Allows(s.Current.Tag) &&
		sel.Less(s.Candidate.Tag, s.Current.Tag) {
		return ActionNone, fmt.Sprintf("runs %s, newer than candidate %s", s.Current.Tag, s.Candidate.Tag)
	}
	return ActionPromote, fmt.Sprintf("%s has %s", s.From, s.Candidate)
}

// Request is the gate's request for step, as Judge asks it and `ferry
// policy input` prints it.
func (p *Planner) Request(ctx context.Context, cache *gate.Cache, st *state.State, step Step, app *config.App, env *config.Environment) (*gate.Request, error) {
	req := &gate.Request{App: app, Env: env, From: step.From, Candidate: step.Candidate, Current: step.Current, State: st, Cache: cache}
	// input.current.signed_by: who signed the commit that set the current
	// version (absent when git.verifyCommits is off or history shows none).
	if p.Signatures.Mode() != state.VerifyOff && !step.Current.IsZero() {
		sb, found, err := p.Signatures.CheckRun(ctx, st, app, env)
		if err != nil {
			return nil, err
		}
		if found {
			req.SignedBy = sb.Input()
		}
	}
	return req, nil
}

// Judge decides a step and, when it would move a version, asks the gate.
func (p *Planner) Judge(ctx context.Context, cache *gate.Cache, st *state.State, cands Candidates, app *config.App, env *config.Environment) Step {
	key, keep := p.memoKey(st, cands, app, env)
	if keep {
		if step, ok := p.recall(app, env, key); ok {
			return step
		}
	}
	step := p.decideAndAsk(ctx, cache, st, cands, app, env)
	p.remember(app, env, key, keep, step)
	return step
}

// decideAndAsk is Judge without the memo.
func (p *Planner) decideAndAsk(ctx context.Context, cache *gate.Cache, st *state.State, cands Candidates, app *config.App, env *config.Environment) Step {
	p.memo.decided.Add(1)
	step := p.Decide(ctx, st, cands, app, env)
	// A pull-request step is judged too: its body is the gate report, and a
	// denied version gets no pull request.
	if step.Action != ActionPromote && (step.Action != ActionWait || step.Mode != ModePullRequest) {
		return step
	}
	req, err := p.Request(ctx, cache, st, step, app, env)
	if err != nil {
		step.Action, step.Reason = ActionError, err.Error()
		return step
	}
	d, err := p.gate.Decide(ctx, req)
	switch {
	case err != nil:
		step.Action, step.Reason = ActionError, err.Error()
	case !d.Allow && d.AwaitingApproval && step.Mode != ModePullRequest:
		// Not a denial: the move waits for people's sign-off, and goes on
		// in the pass after the quorum is met. (A pull-request environment
		// opens its pull request for the reviews instead.)
		step.Decision = d
		step.Action, step.Reason = ActionHold, d.Approval.String()
	case !d.Allow:
		step.Decision = d
		step.Action, step.Reason = ActionDeny, "denied: "+strings.Join(d.Deny, "; ")
	default:
		step.Decision = d
	}
	return step
}
