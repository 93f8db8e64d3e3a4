// People's actions: a manual promotion, a rollback and an abort asked for
// by a person (`ferry promote|rollback|abort`, the dashboard's buttons),
// each one commit naming them (Ferry-Requested-By) and their reason.
//
// Concurrency: the actions run beside the loop's passes and alert worker
// (`ferry run --listen`: the dashboard calls them). They meet where every
// writer meets: the publisher, which gives one writer at a time its turn
// on the clone, fetches the branch head inside that turn and pushes
// without force. Each action decides on that head (a rollback and an abort
// inside the transaction; a promotion through promote.Write, which finds
// the move stale when env's overlay, the rejections, the freezes, the
// policies or ferry.yaml moved, and then decides again): an action and a
// pass never overwrite each other's move of an environment, the later one
// is decided again on what the earlier wrote. Rollbacks and aborts take the
// urgent turn, as an alert's rollback does.

package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/rollback"
	"github.com/ferry-dev/ferry/agent/state"
)

// FromManual is the Ferry-From of a person's promotion: the version came
// from no environment of the chain.
const FromManual = "manual"

// target checks what every person's action needs before anything is
// read: the app and environment it names exist, someone is named for it
// (the commit must say who), and the reason is one line.
func (a *Agent) target(appName, envName string, by ledger.Actor, reason string) (*config.App, *config.Environment, error) {
	app, env, err := a.appEnv(appName, envName)
	if err != nil {
		return nil, nil, err
	}
	if err := actor(by); err != nil {
		return nil, nil, err
	}
	if err := checkReason(reason); err != nil {
		return nil, nil, err
	}
	return app, env, nil
}

// actor refuses an action nobody is named for: the commit must say who.
func actor(by ledger.Actor) error {
	if by.IsZero() || strings.TrimSpace(by.Name) == "" {
		return errors.New("who is acting is not known (the CLI's --as, $FERRY_USER or the OS user; the dashboard's sign-in): nothing written")
	}
	if msg := gitstate.PersonProblem(by.Name); msg != "" {
		return fmt.Errorf("who is acting: %s; nothing written", msg)
	}
	return nil
}

// checkReason refuses a reason that cannot be one line of a trailer or a
// log line as given (a newline could forge a trailer). Whitespace around
// it (a heredoc's last newline) is dropped anyway.
func checkReason(reason string) error {
	if err := ledger.CheckReason(strings.TrimSpace(reason)); err != nil {
		return fmt.Errorf("%w; nothing written", err)
	}
	return nil
}

// reasonOr is a person's reason, or who asked when they gave none.
func reasonOr(by ledger.Actor, reason string) string {
	if r := ledger.OneLine(reason); r != "" {
		return r
	}
	return "requested by " + by.String()
}

// resolveTag asks app's registry for tag's digest, bounded by the
// registry look-up timeout: the version a person names must exist.
func (a *Agent) resolveTag(ctx context.Context, app *config.App, tag string) (ledger.Version, error) {
	if strings.TrimSpace(tag) == "" {
		return ledger.Version{}, errors.New("no version given")
	}
	timeout := a.poller.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	desc, err := a.poller.Registry.Resolve(ctx, app.Image, tag, app.Insecure)
	if registry.IsNotFound(err) {
		return ledger.Version{}, fmt.Errorf("%s has no tag %s in %s: name a version the registry has", app.Name, tag, app.Image)
	}
	if err != nil {
		return ledger.Version{}, fmt.Errorf("look up %s %s in the registry: %w", app.Name, tag, err)
	}
	return ledger.Version{Tag: tag, Digest: desc.Digest}, nil
}

// Promote moves version of app into env now, a person's manual promotion
// (a hotfix that skips the chain): the gate decides it with
// input.request.kind "manual", so only a policy that allows manual
// promotions lets it through. It refuses a mirror, a version the registry
// does not have, a rejected one, one env runs already, one outside the
// tag policy and an environment with a delivery in progress; a denial
// lists the policies' reasons. Nothing is written then. A canary
// environment starts a delivery (step 0); mirrors follow at the next pass.
func (a *Agent) Promote(ctx context.Context, appName, version, envName string, by ledger.Actor, reason string) (string, error) {
	app, env, err := a.target(appName, envName, by, reason)
	if err != nil {
		return "", err
	}
	if env.Mirror != "" {
		return "", fmt.Errorf("%s mirrors %s and runs its version: promote into %s instead (%s follows it)", env.Name, env.Mirror, env.Mirror, env.Name)
	}
	if !a.planner.Selector(app.Name).Allows(version) {
		return "", fmt.Errorf("%s %s is outside the tag policy of %s in %s: ferry would never move it on; nothing written",
			app.Name, version, app.Name, a.full.Source)
	}
	v, err := a.resolveTag(ctx, app, version)
	if err != nil {
		return "", err
	}
	what := fmt.Sprintf("promote %s %s to %s", app.Name, v.Tag, env.Name)
	for attempt := 0; ; attempt++ {
		st, err := a.read(ctx)
		if err != nil {
			return "", err
		}
		step, err := a.manualStep(ctx, st, app, env, v, by, reason)
		if err != nil {
			return "", err
		}
		build := a.promoter.Promotion(step, app, env)
		if env.Canary != nil {
			build = a.deliveries.Start(step, app, env)
		}
		w, err := a.promoter.Write(ctx, st, env, what, requested(build, by, reason))
		if err != nil {
			a.obs.PromotionFailed(step, err)
			return "", err
		}
		if !w.Stale {
			if w.Commit == nil {
				return "", fmt.Errorf("%s: nothing was written", what)
			}
			a.history.Record(app.Name, env.Name, v)
			if env.Canary != nil {
				a.obs.DeliveryStarted(step, w.Commit)
			} else {
				a.obs.Promoted(step, w.Commit)
			}
			a.emit(owedAfter(st.Advance(w.Commit, env), app, env, w.Commit, v)...)
			a.acted()
			return w.Commit.Hash(), nil
		}
		if attempt+1 >= maxStale {
			return "", fmt.Errorf("%s: the branch kept moving under it (%d decisions); try again", what, maxStale)
		}
		a.obs.Log.Info("the branch moved under the manual promotion; deciding again", "app", app.Name, "env", env.Name)
	}
}

// manualStep checks a manual promotion of v on st and asks the gate.
func (a *Agent) manualStep(ctx context.Context, st *state.State, app *config.App, env *config.Environment, v ledger.Version, by ledger.Actor, reason string) (Step, error) {
	if st.Err != nil {
		return Step{}, st.Err
	}
	if err := st.Envs[env.Name].Err; err != nil {
		return Step{}, err
	}
	if r, rejected := st.Rejected(app, v); rejected {
		why := ""
		if r.Reason != "" {
			why = " (" + r.Reason + ")"
		}
		return Step{}, fmt.Errorf("%s %s is rejected%s: `ferry unreject %s %s` first if it is good after all; nothing written", app.Name, v.Tag, why, app.Name, r.Version)
	}
	cur := st.Version(app, env.Name)
	if cur.Same(v, state.Moving(app)) {
		return Step{}, fmt.Errorf("%s runs %s %s already: nothing to promote", env.Name, app.Name, cur)
	}
	if env.Canary != nil {
		cs, delivering, err := canary.InProgress(ctx, a.fleet, st, app, env)
		if err != nil && cs != nil {
			return Step{}, err
		}
		if delivering {
			return Step{}, fmt.Errorf("a %s delivery of %s %s is in progress in %s: abort it first (ferry abort %s --env %s)",
				cs.Plan.Strategy, app.Name, cs.Canary.Tag, env.Name, app.Name, env.Name)
		}
	}
	step := Step{App: app.Name, Env: env.Name, From: FromManual, Mode: plan.ModeOf(env), Current: cur, Candidate: v,
		Action: ActionPromote, Reason: fmt.Sprintf("manual promotion requested by %s: %s", by, reasonOr(by, reason))}
	req, err := a.planner.Request(ctx, nil, st, step, app, env)
	if err != nil {
		return Step{}, err
	}
	req.Action = &gate.Action{Kind: gate.ActionManual, By: by, Reason: ledger.OneLine(reason)}
	d, err := a.gate.Decide(ctx, req)
	if err != nil {
		return Step{}, fmt.Errorf("decide the manual promotion of %s %s to %s: %w", app.Name, v.Tag, env.Name, err)
	}
	if !d.Allow {
		a.obs.Log.Info("manual promotion denied", "app", app.Name, "env", env.Name, "version", v.Tag, "by", by.String(), "deny", d.Deny)
		return Step{}, &DeniedError{App: app.Name, Env: env.Name, Version: v.Tag, Deny: d.Deny, Notes: d.Notes}
	}
	step.Decision = d
	return step, nil
}

// DeniedError is the policies' refusal of a person's promotion.
type DeniedError struct {
	App, Env, Version string
	Deny              []string
	// Notes say which evidence was absent and why.
	Notes []string
}

func (e *DeniedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the policies deny the manual promotion of %s %s to %s; nothing written:", e.App, e.Version, e.Env)
	for _, d := range e.Deny {
		b.WriteString("\n  - " + d)
	}
	for _, n := range e.Notes {
		b.WriteString("\n  note: " + n)
	}
	b.WriteString(fmt.Sprintf("\na manual promotion needs a policy that allows it (input.request.kind == %q); `ferry policy input %s %s` shows what the policies see",
		gate.ActionManual, e.App, e.Env))
	return b.String()
}

// requested makes build's record name the person who asked for the move,
// with their reason.
func requested(build func(*state.State) (publish.Edit, error), by ledger.Actor, reason string) func(*state.State) (publish.Edit, error) {
	return func(st *state.State) (publish.Edit, error) {
		e, err := build(st)
		if err != nil {
			return e, err
		}
		switch rec := e.Record.(type) {
		case *ledger.Promotion:
			rec.RequestedBy, rec.Reason = by, ledger.OneLine(reason)
		case *ledger.CanaryStep:
			rec.RequestedBy, rec.Reason = by, ledger.OneLine(reason)
		}
		return e, nil
	}
}

// Rollback moves env back to the version to (a tag env ran before), or
// with to "" to the last good version an alert's rollback would pick, and
// rejects the version it runs, exactly as an alert's rollback does (its
// mirrors with it, in one commit), with the person and their reason in the
// commit. It is not decided by the policies, as an alert's rollback is
// not: it must work while evidence servers are down. A delivery in progress
// is aborted instead (with to ""). Under git.verifyCommits require the
// version to go back to must have been set by a verified commit.
func (a *Agent) Rollback(ctx context.Context, appName, envName, to string, by ledger.Actor, reason string) (string, error) {
	app, env, err := a.target(appName, envName, by, reason)
	if err != nil {
		return "", err
	}
	if env.Mirror != "" {
		return "", fmt.Errorf("%s mirrors %s and runs its version: roll back %s instead (%s goes back with it)", env.Name, env.Mirror, env.Mirror, env.Name)
	}
	req := rollback.Request{App: app.Name, Env: env.Name, Name: "requested by " + by.String(), Cause: reasonOr(by, reason), By: by, To: strings.TrimSpace(to)}
	res, err := a.rollbacks.Rollback(ctx, req)
	if err != nil {
		return "", err
	}
	if res.Commit == "" {
		return "", errors.New(res.Reason)
	}
	a.obs.RolledBack(res, req)
	a.acted()
	return res.Commit, nil
}

// Abort ends the progressive delivery in progress in env, as a failed
// analysis does: traffic back on the stable version, the canary's version
// rejected, one commit naming the person. It refuses when no delivery is
// in progress.
func (a *Agent) Abort(ctx context.Context, appName, envName string, by ledger.Actor, reason string) (string, error) {
	app, env, err := a.target(appName, envName, by, reason)
	if err != nil {
		return "", err
	}
	if env.Canary == nil {
		return "", fmt.Errorf("%s has no progressive delivery (no canary: in %s): nothing to abort; `ferry rollback %s --env %s` undoes a version",
			env.Name, a.full.Source, app.Name, env.Name)
	}
	cause := reasonOr(by, reason)
	var about *ledger.Version // the canary first seen: a moved branch aborts it or nothing
	var mv *canary.Move
	res, err := a.pub.Publish(ctx, fmt.Sprintf("abort of %s in %s", app.Name, env.Name), true, func(ctx context.Context, head *fleet.Snapshot) ([]publish.Edit, error) {
		st := state.Read(a.full, head, nil)
		if err := st.Envs[env.Name].Err; err != nil {
			return nil, publish.Terminal(err)
		}
		if st.Err != nil {
			return nil, publish.Terminal(st.Err)
		}
		cs, delivering, err := canary.InProgress(ctx, a.fleet, st, app, env)
		if err != nil && cs != nil {
			return nil, err
		}
		if !delivering {
			return nil, publish.Terminal(fmt.Errorf("no delivery of %s is in progress in %s: nothing to abort", app.Name, env.Name))
		}
		if about != nil && !cs.Canary.Same(*about, state.Moving(app)) {
			return nil, publish.Terminal(fmt.Errorf("%s now delivers %s %s, not %s: nothing aborted; look again", env.Name, app.Name, cs.Canary.Tag, about.Tag))
		}
		v := cs.Canary
		about = &v
		if mv, err = a.deliveries.Abort(st, app, env, cs, cause, ledger.AlertRef{}, by); err != nil {
			return nil, err
		}
		return []publish.Edit{*mv.Edit}, nil
	})
	if err != nil {
		return "", err
	}
	if len(res.Commits) == 0 {
		return "", fmt.Errorf("no delivery of %s is in progress in %s: nothing to abort", app.Name, env.Name)
	}
	commit := res.Commits[len(res.Commits)-1]
	a.obs.Delivered(canary.Advanced{Step: mv.Step, Commit: commit, Head: commit, Aborts: true}, app, env)
	a.acted()
	return commit.Hash(), nil
}

// acted asks the running loop for a pass over Git: a mirror follows a
// person's promotion or rollback at once, not at the next interval.
func (a *Agent) acted() {
	if fn := a.onAction.Load(); fn != nil {
		(*fn)()
	}
}
