package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// Files of the fleet repo that hold people's and ferry's decisions.
const (
	RejectedFile = ".ferry/rejected.yaml"
	FreezeFile   = ".ferry/freeze.yaml"
)

// Trailer keys of rollback commits.
const (
	TrailerReason  = "Ferry-Reason"
	TrailerRejects = "Ferry-Rejects"
	TrailerMirrors = "Ferry-Mirrors"
	TrailerAlert   = "Ferry-Alert" // the fingerprint of the alert a rollback answered
)

// ErrUnknownTarget marks an alert for an app or environment ferry does not
// manage: it is ignored, not retried.
var ErrUnknownTarget = errors.New("unknown app or environment")

// Alert is a firing (or resolved) alert mapped to an app and environment.
type Alert struct {
	App, Env, Name, Fingerprint, Summary string
	Resolved                             bool
	// Cause replaces "alert NAME firing" as the reason, for rollbacks ferry
	// decides itself (a failed analysis).
	Cause    string
	attempts int // failed rollbacks of this alert so far
}

// RollbackResult is what handling one alert did.
type RollbackResult struct {
	App     string   `json:"app"`
	Env     string   `json:"env"`
	From    Version  `json:"from"` // the bad version
	To      Version  `json:"to"`   // the last good version; zero when there is none
	Commit  string   `json:"commit,omitempty"`
	Mirrors []string `json:"mirrors,omitempty"`
	Reason  string   `json:"reason"` // what happened, for logs and notifications
}

// Rollback moves alert's environment (and the environments that mirror it)
// back to its last good version in one commit, and records the bad version
// as rejected so that no environment promotes it again. With no earlier
// good version it changes nothing and says so.
func (a *Agent) Rollback(ctx context.Context, alert Alert) (*RollbackResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	app, ok := a.cfg.App(alert.App)
	if !ok {
		return nil, fmt.Errorf("alert %s names app %q, which ferry.yaml does not have: %w", alert.Name, alert.App, ErrUnknownTarget)
	}
	env, ok := a.cfg.Env(alert.Env)
	if !ok {
		return nil, fmt.Errorf("alert %s names environment %q, which ferry.yaml does not have: %w", alert.Name, alert.Env, ErrUnknownTarget)
	}
	for attempt := 1; ; attempt++ {
		st, err := a.fetchState(ctx)
		if err != nil {
			return nil, err
		}
		res, next, err := a.rollbackOnce(ctx, st, app, env, alert)
		if err != nil || next == nil {
			return res, err
		}
		if env.PullRequest && a.cfg.Rollback.PullRequest && a.prs != nil {
			return a.proposeRollback(ctx, st, next, res)
		}
		err = a.fleet.Push(ctx, next)
		if err == nil {
			a.metrics.rollback(app.Name, env.Name)
			res.Commit = next.Hash()
			a.notify(notify.Event{Kind: notify.Rollback, App: app.Name, Env: env.Name, Version: res.To.Tag, From: res.From.Tag,
				Commit: res.Commit, Reason: res.Reason})
			a.log.Warn("rolled back", "app", app.Name, "env", env.Name, "from", res.From.String(), "to", res.To.String(),
				"alert", alert.Name, "mirrors", res.Mirrors, "commit", shortHash(next.Hash()))
			return res, nil
		}
		if !errors.Is(err, fleet.ErrNonFastForward) || attempt >= a.attempts*2 {
			// The rollback is not lost: the alert handler retries it, and
			// Alertmanager resends while the alert fires.
			return res, fmt.Errorf("push rollback of %s in %s: %w", app.Name, env.Name, err)
		}
		a.metrics.pushRetry()
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return res, err
		}
	}
}

// rollbackOnce plans and commits (without pushing) the rollback on st.
func (a *Agent) rollbackOnce(ctx context.Context, st *fleetState, app *config.App, env *config.Environment, alert Alert) (*RollbackResult, *fleet.Snapshot, error) {
	res := &RollbackResult{App: app.Name, Env: env.Name}
	if err := st.envs[env.Name].err; err != nil {
		return res, nil, err
	}
	if env.Canary != nil {
		if cs, err := a.readCanary(st, app, env); err == nil && cs.active() {
			return a.abortForAlert(ctx, st, app, env, cs, alert, res)
		}
	}
	res.From = st.envs[env.Name].version(app)
	if res.From.IsZero() {
		res.Reason = fmt.Sprintf("%s runs no version of %s: nothing to roll back", env.Name, app.Name)
		return res, nil, nil
	}
	if _, rejected := st.rejections.IsRejected(app.Name, res.From.Tag, res.From.Digest); rejected {
		res.Reason = fmt.Sprintf("%s %s is already rejected and rolled back", app.Name, res.From)
		return res, nil, nil
	}
	// An alert that already rolled this environment back (still firing,
	// resent, or seen again after a restart) must not roll it back further.
	if done, err := a.answered(ctx, st, env, alert); err != nil || done {
		res.Reason = fmt.Sprintf("%s in %s was already rolled back for alert %s", app.Name, env.Name, alert.Name)
		return res, nil, err
	}
	good, ok, err := a.lastGood(ctx, st, app, env, res.From)
	if err != nil {
		return res, nil, err
	}
	reason := fmt.Sprintf("alert %s firing for %s in %s", alert.Name, app.Name, env.Name)
	if alert.Summary != "" {
		reason += ": " + alert.Summary
	}
	if alert.Cause != "" {
		reason = alert.Cause
	}
	files := map[string][]byte{}
	rej, err := gitstate.AddRejection(st.rejectedData, gitstate.Rejection{
		App: app.Name, Version: res.From.Tag, Digest: res.From.Digest, Env: env.Name, Reason: reason, At: a.now().UTC(), By: "ferry",
	})
	if err != nil {
		return res, nil, fmt.Errorf("record %s %s as rejected: %w", app.Name, res.From, err)
	}
	files[RejectedFile] = rej
	if !ok {
		// Nothing to go back to: say so, and change nothing.
		res.Reason = fmt.Sprintf("no earlier good version of %s in %s to roll back to from %s (%s); nothing changed", app.Name, env.Name, res.From, reason)
		a.notify(notify.Event{Kind: notify.Rollback, App: app.Name, Env: env.Name, From: res.From.Tag, Reason: res.Reason})
		return res, nil, nil
	}
	res.To = good
	targets := append([]*config.Environment{env}, a.mirrorsOf(env.Name)...)
	for _, t := range targets {
		es := st.envs[t.Name]
		if es.err != nil || es.version(app) != res.From {
			continue // a mirror that does not run the bad version is left alone
		}
		data, err := bump(st.snap, es, app, t, good)
		if err != nil {
			return res, nil, err
		}
		files[es.path] = data
		if t.Canary != nil {
			// A delivery in progress ends with the rollback: canary back on the good version, route at rest.
			if err := a.restCanary(st, app, t, good, files); err != nil {
				return res, nil, err
			}
		}
		if t != env {
			res.Mirrors = append(res.Mirrors, t.Name)
		}
	}
	if a.cfg.Rollback.FreezeUntilResolved && alert.Fingerprint != "" {
		frz, err := gitstate.AddFreeze(st.freezeData, gitstate.Freeze{
			Name: "alert-" + alert.Fingerprint, Envs: []string{env.Name}, Reason: reason + " (until it resolves)",
			Resolved: true, Alert: alert.Fingerprint,
		})
		if err != nil {
			return res, nil, err
		}
		files[FreezeFile] = frz
	}
	res.Reason = fmt.Sprintf("rolled back %s in %s from %s to %s: %s", app.Name, env.Name, res.From, good, reason)
	msg := rollbackMessage(app.Name, env.Name, good, res.From, reason, res.Mirrors)
	if alert.Fingerprint != "" {
		msg.Trailers = append(msg.Trailers, fleet.Trailer{Key: TrailerAlert, Value: alert.Fingerprint})
	}
	next, err := a.fleet.Commit(st.snap, files, msg, a.now())
	return res, next, err
}

// answered reports whether the newest change to env's overlay is a rollback
// for this alert.
func (a *Agent) answered(ctx context.Context, st *fleetState, env *config.Environment, alert Alert) (bool, error) {
	if alert.Fingerprint == "" {
		return false, nil
	}
	done := false
	err := a.fleet.LogPath(ctx, st.snap, kustomizationPath(env), func(c fleet.Commit) (bool, error) {
		subject := c.Message.Subject
		done = (strings.HasPrefix(subject, "rollback ") || strings.HasPrefix(subject, "abort canary ")) && c.Message.Trailer(TrailerAlert) == alert.Fingerprint
		return false, nil
	})
	return done, err
}

// lastGood walks the environment's history back to the newest version
// other than bad that is not rejected.
func (a *Agent) lastGood(ctx context.Context, st *fleetState, app *config.App, env *config.Environment, bad Version) (Version, bool, error) {
	var good Version
	found := false
	err := overlayVersions(ctx, a.fleet, st.snap, app, env, func(_ fleet.Commit, v Version, ok bool) bool {
		if !ok || v.IsZero() || v == bad || !a.selectors[app.Name].Allows(v.Tag) {
			return true
		}
		if _, rejected := st.rejections.IsRejected(app.Name, v.Tag, v.Digest); rejected {
			return true
		}
		good, found = v, true
		return false
	})
	return good, found, err
}

func (a *Agent) mirrorsOf(env string) []*config.Environment {
	var out []*config.Environment
	for _, e := range a.order {
		if e.Mirror == env {
			out = append(out, e)
		}
	}
	return out
}

func rollbackMessage(app, env string, to, from Version, reason string, mirrors []string) fleet.Message {
	m := fleet.Message{
		Subject: fmt.Sprintf("rollback %s in %s to %s", app, env, to.Tag),
		Body:    fmt.Sprintf("%s %s is rejected: no environment promotes it again until a person un-rejects it (ferry unreject %s %s).", app, from.Tag, app, from.Tag),
		Trailers: []fleet.Trailer{
			{Key: TrailerApp, Value: app},
			{Key: TrailerEnv, Value: env},
			{Key: TrailerVersion, Value: to.Tag},
			{Key: TrailerDigest, Value: to.Digest},
			{Key: TrailerReason, Value: oneLine(reason)},
			{Key: TrailerRejects, Value: from.Tag},
		},
	}
	if len(mirrors) > 0 {
		m.Trailers = append(m.Trailers, fleet.Trailer{Key: TrailerMirrors, Value: strings.Join(mirrors, ", ")})
	}
	return m
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Resolve lifts the freeze a rollback put on the alert's environment, once
// the alert resolves. It returns the commit, or "" when there was none.
func (a *Agent) Resolve(ctx context.Context, alert Alert) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for attempt := 1; ; attempt++ {
		st, err := a.fetchState(ctx)
		if err != nil {
			return "", err
		}
		data, changed, err := gitstate.RemoveFreezesForAlert(st.freezeData, alert.Fingerprint)
		if err != nil || !changed {
			return "", err
		}
		msg := fleet.Message{
			Subject: fmt.Sprintf("unfreeze %s: alert %s resolved", alert.Env, alert.Name),
			Trailers: []fleet.Trailer{
				{Key: TrailerEnv, Value: alert.Env},
				{Key: TrailerReason, Value: oneLine(fmt.Sprintf("alert %s (%s) resolved", alert.Name, alert.Fingerprint))},
			},
		}
		next, err := a.fleet.Commit(st.snap, map[string][]byte{FreezeFile: data}, msg, a.now())
		if err != nil {
			return "", err
		}
		err = a.fleet.Push(ctx, next)
		if err == nil {
			a.log.Info("freeze lifted", "env", alert.Env, "alert", alert.Name)
			return next.Hash(), nil
		}
		if !errors.Is(err, fleet.ErrNonFastForward) || attempt >= a.attempts {
			return "", err
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return "", err
		}
	}
}

// proposeRollback offers a rollback as a pull request, for pull-request
// environments whose rollbacks are configured to need an approval too.
func (a *Agent) proposeRollback(ctx context.Context, st *fleetState, commit *fleet.Snapshot, res *RollbackResult) (*RollbackResult, error) {
	branch := "ferry/rollback/" + res.Env + "/" + res.App
	old, err := a.branches.FetchBranch(ctx, branch)
	if err != nil {
		return res, err
	}
	if old != nil {
		// Keep the branch moving forward: the new proposal merges the old one.
		files := map[string][]byte{}
		paths := []string{RejectedFile, FreezeFile}
		for _, name := range append([]string{res.Env}, res.Mirrors...) {
			if env, ok := a.cfg.Env(name); ok {
				paths = append(paths, kustomizationPath(env))
			}
		}
		for _, p := range paths {
			if data, err := commit.ReadFile(p); err == nil {
				files[p] = data
			}
		}
		msg := rollbackMessage(res.App, res.Env, res.To, res.From, res.Reason, res.Mirrors)
		if commit, err = a.branches.CommitMerge(st.snap, []*fleet.Snapshot{old}, files, msg, a.now()); err != nil {
			return res, err
		}
	}
	if err := a.branches.PushBranch(ctx, commit, branch); err != nil {
		return res, err
	}
	title := fmt.Sprintf("rollback %s in %s to %s", res.App, res.Env, res.To.Tag)
	body := fmt.Sprintf("%s\n\nMerging this pull request rolls %s back and rejects %s.\n", res.Reason, res.Env, res.From.Tag)
	prs, err := a.prs.Find(ctx, branch)
	if err != nil {
		return res, err
	}
	var pr pullrequest.PR
	if len(prs) > 0 && prs[0].State == pullrequest.StateOpen {
		pr, err = a.prs.Update(ctx, prs[0].Number, title, body)
	} else {
		pr, err = a.prs.Open(ctx, branch, a.cfg.Git.Branch, title, body)
	}
	if err != nil {
		return res, fmt.Errorf("rollback pull request for %s in %s: %w", res.App, res.Env, err)
	}
	res.Reason = fmt.Sprintf("rollback proposed in pull request #%d: %s", pr.Number, res.Reason)
	a.notify(notify.Event{Kind: notify.Rollback, App: res.App, Env: res.Env, Version: res.To.Tag, From: res.From.Tag, URL: pr.URL, Reason: res.Reason})
	return res, nil
}

// abortForAlert ends a delivery in progress when an alert fires for its
// environment: the canary's version is the suspect, so it is rejected and
// its traffic goes back to the stable version, which stays.
func (a *Agent) abortForAlert(ctx context.Context, st *fleetState, app *config.App, env *config.Environment, cs *canaryState, alert Alert, res *RollbackResult) (*RollbackResult, *fleet.Snapshot, error) {
	if done, err := a.answered(ctx, st, env, alert); err != nil || done {
		res.Reason = fmt.Sprintf("the canary of %s in %s was already aborted for alert %s", app.Name, env.Name, alert.Name)
		return res, nil, err
	}
	reason := cmpOr(alert.Cause, fmt.Sprintf("alert %s firing for %s in %s during the canary of %s", alert.Name, app.Name, env.Name, cs.canary.Tag))
	step := Step{App: app.Name, Env: env.Name, Current: cs.stable, Candidate: cs.canary}
	mv, err := a.abortCanary(st, app, env, cs, step, reason, true)
	if err != nil {
		return res, nil, err
	}
	if alert.Fingerprint != "" {
		mv.msg.Trailers = append(mv.msg.Trailers, fleet.Trailer{Key: TrailerAlert, Value: alert.Fingerprint})
	}
	res.From, res.To = cs.canary, cs.stable
	res.Reason = fmt.Sprintf("aborted the canary of %s %s in %s; traffic back on %s: %s", app.Name, cs.canary, env.Name, cs.stable, reason)
	next, err := a.fleet.Commit(st.snap, mv.files, mv.msg, a.now())
	return res, next, err
}
