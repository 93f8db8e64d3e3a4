// Package rollback undoes a bad version: a firing alert, or a failed
// verification, moves an environment (and the environments that mirror
// it) back to its last good version in one commit and rejects the bad
// one, so no environment promotes it again. It acts only on what was
// judged: a verdict binds the version and commit it measured, an alert
// the firing episode it belongs to; anything else is stale and changes
// nothing.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/promote"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/internal/text"
)

// ErrUnknownTarget marks a request for an app or environment ferry does not
// manage: it is ignored, not retried.
var ErrUnknownTarget = errors.New("unknown app or environment")

// echoLen bounds what an error repeats of an alert's labels: they come
// from outside, and a 100,000-character label must not come back whole.
const echoLen = 40

// Request is a firing (or resolved) alert mapped to an app and
// environment, or a failed verification.
type Request struct {
	App, Env string
	Name     string // the alert's name, or "analysis smoke"
	Alert    ledger.AlertRef
	Summary  string
	Resolved bool
	// Cause replaces "alert NAME firing" as the reason, for rollbacks ferry
	// decides itself (a failed verification).
	Cause string
	// Judged binds a verification's rollback to what it measured.
	Judged *Judged
	// About is the version an alert is about: its version label, or what
	// the environment ran when the alert was first handled. A rollback
	// never undoes another version (a person's, or a newer one pushed
	// meanwhile). Nil: whatever runs when the rollback is first planned.
	About *ledger.Version
	// By is the person who asked (`ferry rollback`, the dashboard): the
	// commit names them (Ferry-Requested-By) and Cause is their reason. A
	// person's rollback is a direct commit even where rollback.pullRequest
	// proposes alerts' rollbacks: someone is acting now, and the commit
	// records who.
	By ledger.Actor
	// To is the version a person asked to go back to (a tag env ran
	// before); "" is the last good version, as for an alert.
	To string
	// via is the mirror an alert named, when the rollback acts on the
	// environment it mirrors.
	via string
}

// Judged is the version a verdict judged and the commit that brought it.
type Judged struct {
	Version ledger.Version
	Commit  string
}

// Result is what handling one request did.
type Result struct {
	App     string         `json:"app"`
	Env     string         `json:"env"`
	From    ledger.Version `json:"from"` // the bad version
	To      ledger.Version `json:"to"`   // the last good version; zero when there is none
	Commit  string         `json:"commit,omitempty"`
	Mirrors []string       `json:"mirrors,omitempty"`
	Reason  string         `json:"reason"` // what happened, for logs and notifications
	// Aborted: a delivery in progress was aborted instead.
	Aborted bool `json:"aborted,omitempty"`
	// Stale: the request was about a version the environment no longer
	// runs (or an alert episode already answered); nothing changed.
	Stale bool `json:"stale,omitempty"`
	// PR is set when the rollback was proposed as a pull request.
	PR *pullrequest.PR `json:"pr,omitempty"`
	// Via is the mirror the alert named; Env is the environment it mirrors.
	Via string `json:"via,omitempty"`
	// Unverified names the commit that set To, when no allowed signer
	// signed it and git.verifyCommits is warn (require never goes back to
	// such a version).
	Unverified string `json:"unverified,omitempty"`
}

// Options wire a Rollbacker.
type Options struct {
	// Config is the whole pipeline: any replica carries out any rollback,
	// whatever shard of the apps it reconciles.
	Config     *config.Pipeline
	Publisher  *publish.Publisher
	Log        state.Log
	Render     promote.Renderer
	Deliveries *canary.Deliveries
	Selectors  func(app string) interface{ Allows(string) bool }
	PRs        promote.PullRequests
	Branches   promote.Branches
	Logger     *slog.Logger
	Now        func() time.Time
	// Signatures checks the commit that set a version to go back to
	// (git.verifyCommits); nil when off.
	Signatures *state.Signatures
}

// Rollbacker undoes bad versions. Safe for concurrent use.
type Rollbacker struct {
	opts   Options
	builds builds // overlay builds of the newest head, for Prepare
	ahead  ahead
	// started counts the rollbacks begun: a preparation asked for before
	// one is not started after it.
	started atomic.Int64
}

// New makes a Rollbacker.
func New(o Options) *Rollbacker {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Rollbacker{opts: o, builds: builds{m: map[buildKey]*build{}}}
}

// Rollback carries out req: a direct commit (urgent: it goes before a
// pass's promotions), or a pull request for pull-request environments
// when rollback.pullRequest says so.
func (r *Rollbacker) Rollback(ctx context.Context, req Request) (*Result, error) {
	r.started.Add(1)
	app, ok := r.opts.Config.App(req.App)
	if !ok {
		return nil, fmt.Errorf("%s names app %s, which ferry.yaml does not have: %w", text.Quote(req.Name, echoLen), text.Quote(req.App, echoLen), ErrUnknownTarget)
	}
	env, ok := r.opts.Config.Env(req.Env)
	if !ok {
		return nil, fmt.Errorf("%s names environment %s, which ferry.yaml does not have: %w", text.Quote(req.Name, echoLen), text.Quote(req.Env, echoLen), ErrUnknownTarget)
	}
	if target, ok := r.opts.Config.Env(env.Mirror); ok && req.Judged == nil {
		// A mirror runs its target's version in step: an alert on it is
		// about that version, so the target goes back, the mirror with it.
		// Rolling back the mirror alone would leave the target running a
		// version ferry had just rejected, and the mirror out of step.
		req.via, env = env.Name, target
	}
	if env.PullRequest && r.opts.Config.Rollback.PullRequest && r.opts.PRs != nil && req.By.IsZero() {
		return r.propose(ctx, app, env, req)
	}
	var res *Result
	out, err := r.opts.Publisher.Publish(ctx, fmt.Sprintf("rollback of %s in %s", app.Name, env.Name), true, func(ctx context.Context, head *fleet.Snapshot) ([]publish.Edit, error) {
		var edit *publish.Edit
		var err error
		res, edit, err = r.change(ctx, head, app, env, req)
		if req.About == nil && res != nil && !res.From.IsZero() {
			// On a moved branch the next round must undo this version or nothing.
			about := res.From
			req.About = &about
		}
		if err != nil || edit == nil {
			return nil, err
		}
		return []publish.Edit{*edit}, nil
	})
	if err != nil {
		return res, err
	}
	if n := len(out.Commits); n > 0 {
		res.Commit = out.Commits[n-1].Hash()
	}
	return res, nil
}

// change plans the rollback on head: the edit to commit, or none (with
// the reason in the result).
func (r *Rollbacker) change(ctx context.Context, head *fleet.Snapshot, app *config.App, env *config.Environment, req Request) (*Result, *publish.Edit, error) {
	res := &Result{App: app.Name, Env: env.Name, Via: req.via}
	st := state.Read(r.opts.Config, head, nil)
	// An unreadable overlay or rejections file will not heal by retrying:
	// Terminal makes the alert handler give up with the reason.
	if err := st.Envs[env.Name].Err; err != nil {
		return res, nil, publish.Terminal(err)
	}
	if st.Err != nil {
		return res, nil, publish.Terminal(st.Err)
	}
	moving := state.Moving(app)
	if req.via != "" && req.About == nil {
		// The alert is about what the mirror runs: if the target has moved
		// on, the mirror follows it and there is nothing to undo.
		if v := st.Version(app, req.via); !v.IsZero() {
			req.About = &v
		}
	}
	if req.Judged != nil {
		if stale, reason, err := r.stale(ctx, st, app, env, *req.Judged); err != nil || stale {
			res.Stale, res.Reason = stale, reason
			return res, nil, err
		}
	}
	if env.Canary != nil {
		if cs, delivering, err := canary.InProgress(ctx, r.opts.Log, st, app, env); err == nil && delivering {
			if req.To != "" {
				// Going back to a chosen version mid-delivery would mix two
				// moves in one commit: abort first, then roll back.
				return res, nil, publish.Terminal(fmt.Errorf("a %s delivery of %s %s is in progress in %s: abort it first (ferry abort %s --env %s), then roll back to %s",
					cs.Plan.Strategy, app.Name, cs.Canary.Tag, env.Name, app.Name, env.Name, req.To))
			}
			if req.About != nil && !cs.Canary.Same(*req.About, moving) && !(req.About.Digest == "" && cs.Canary.Tag == req.About.Tag) {
				res.Stale = true
				res.Reason = fmt.Sprintf("%s is about %s %s, but %s now delivers %s: nothing aborted", req.Name, app.Name, req.About.Tag, env.Name, cs.Canary)
				return res, nil, nil
			}
			return r.abort(ctx, st, app, env, cs, req, res)
		}
	}
	res.From = st.Version(app, env.Name)
	// An alert's version label carries a tag only: a tag match is enough.
	if req.About != nil && !res.From.IsZero() && !res.From.Same(*req.About, moving) && !(req.About.Digest == "" && res.From.Tag == req.About.Tag) {
		res.Stale = true
		res.Reason = fmt.Sprintf("%s is about %s %s, but %s now runs %s: nothing rolled back", req.Name, app.Name, req.About.Tag, env.Name, res.From)
		return res, nil, nil
	}
	if res.From.IsZero() {
		res.Reason = fmt.Sprintf("%s runs no version of %s: nothing to roll back", env.Name, app.Name)
		return res, nil, nil
	}
	// A version rejected already (by an alert in another environment, or a
	// person) and still running here is rolled back here too: the rejection
	// stops its promotion, not what runs. The episode checks below keep one
	// alert from doing it twice.
	if req.Judged == nil {
		// An alert acts on the version it can be about, once per episode.
		if answered, reason, err := r.answered(ctx, st, app, env, req); err != nil || answered {
			res.Stale, res.Reason = answered, reason
			return res, nil, err
		}
	}
	if req.To != "" && res.From.Tag == req.To {
		return res, nil, publish.Terminal(fmt.Errorf("%s runs %s %s already: nothing to roll back to", env.Name, app.Name, res.From))
	}
	lg, err := r.lastGood(ctx, st, app, env, res.From, req.To)
	if err != nil {
		return res, nil, err
	}
	good, ok := lg.version, lg.found
	reason := req.reason()
	files := map[string][]byte{}
	by := "ferry"
	if !req.By.IsZero() {
		by = req.By.Name
	}
	rej, err := gitstate.AddRejection(st.RejectedData, gitstate.Rejection{
		App: app.Name, Version: res.From.Tag, Digest: res.From.Digest, Env: env.Name, Reason: reason, At: r.opts.Now().UTC(), By: by,
	})
	if err != nil {
		return res, nil, publish.Terminal(fmt.Errorf("record %s %s as rejected: %w", app.Name, res.From, err))
	}
	files[gitstate.RejectionsFile] = rej
	if !ok {
		// Nothing to go back to: say so, and change nothing.
		res.Reason = fmt.Sprintf("no earlier good version of %s in %s to roll back to from %s (%s); nothing changed", app.Name, env.Name, res.From, reason)
		if len(lg.skipped) > 0 {
			res.Reason = fmt.Sprintf("no earlier verified version of %s in %s to roll back to from %s (%s): %s; git.verifyCommits is require, nothing changed",
				app.Name, env.Name, res.From, reason, strings.Join(lg.skipped, "; "))
		}
		if req.To != "" {
			res.Reason = lg.notTo(app, env, req.To)
		}
		return res, nil, nil
	}
	res.To, res.Unverified = good, lg.unverified
	// A mirror that does not run the bad version is left alone.
	targets := r.targets(st, app, env, res.From)
	bumped, err := r.bump(st, app, targets, good)
	if err != nil {
		return res, nil, err
	}
	for i, t := range targets {
		files[st.Envs[t.Name].Path] = bumped[i]
		if t.Canary != nil {
			// A delivery in progress ends with the rollback: canary back on the good version, route at rest.
			if err := canary.Rest(st, app, t, good, files); err != nil {
				return res, nil, err
			}
		}
		if t != env {
			res.Mirrors = append(res.Mirrors, t.Name)
		}
	}
	// The freeze carries the alert's fingerprint, so Resolve lifts exactly
	// this one when the alert resolves.
	if r.opts.Config.Rollback.FreezeUntilResolved && req.Alert.Fingerprint != "" {
		frz, err := gitstate.AddFreeze(st.FreezeData, gitstate.Freeze{
			Name: freezeName(req.Alert.Fingerprint), Envs: []string{env.Name}, Reason: reason + " (until it resolves)",
			Resolved: true, Alert: req.Alert.Fingerprint,
		})
		if err != nil {
			return res, nil, publish.Terminal(err)
		}
		files[gitstate.FreezesFile] = frz
	}
	res.Reason = fmt.Sprintf("rolled back %s in %s from %s to %s: %s", app.Name, env.Name, res.From, good, reason)
	if lg.unverified != "" {
		res.Reason += fmt.Sprintf("; %s is unverified (git.verifyCommits warn): %s", good, lg.unverified)
	}
	rec := &ledger.Rollback{App: app.Name, Env: env.Name, To: good, From: res.From, Reason: reason, Mirrors: res.Mirrors, Alert: req.Alert, RequestedBy: req.By}
	return res, &publish.Edit{Files: files, Record: rec}, nil
}

func (req Request) reason() string {
	if req.Cause != "" {
		return req.Cause
	}
	if !req.By.IsZero() {
		return "requested by " + req.By.String()
	}
	reason := fmt.Sprintf("alert %s firing for %s in %s", req.Name, req.App, req.Env)
	if req.Summary != "" {
		reason += ": " + req.Summary
	}
	return reason
}

// maxAnsweredScan bounds the walk back through an environment's history
// for an earlier answer to the same alert.
const maxAnsweredScan = 200

// lastGoodResult is the version to go back to, and what the commit
// checks said on the way.
type lastGoodResult struct {
	version ledger.Version
	found   bool
	// unverified describes the commit that set version when no allowed
	// signer signed it (warn only).
	unverified string
	// skipped are the versions passed over because their commit is not
	// verified (require only).
	skipped []string
	// rejected is set when the version a person named is rejected.
	rejected *ledger.Version
}

// notTo says why a person's target was not found in env's history.
func (lg lastGoodResult) notTo(app *config.App, env *config.Environment, to string) string {
	switch {
	case lg.rejected != nil:
		return fmt.Sprintf("%s %s is rejected: `ferry unreject %s %s` first if it is good after all; nothing changed", app.Name, lg.rejected, app.Name, to)
	case len(lg.skipped) > 0:
		return fmt.Sprintf("%s %s is not verified in %s (%s); git.verifyCommits is require, nothing changed", app.Name, to, env.Name, strings.Join(lg.skipped, "; "))
	}
	return fmt.Sprintf("%s never ran %s %s (its overlay's history has no such version): a rollback goes back to a version the environment ran; nothing changed", env.Name, app.Name, to)
}

// lastGood walks the environment's history back to the newest version
// other than bad that is not rejected (with want set: the newest with that
// tag, a person's choice, which the tag policy does not restrict). Under git.verifyCommits require it
// also passes over a version whose commit in this environment (the start
// of its run, as state.RunStart finds it) no allowed signer signed: that
// version never was the environment's, and ferry's signed rollback commit
// must not make it one. Under warn it is taken, and the result says so.
func (r *Rollbacker) lastGood(ctx context.Context, st *state.State, app *config.App, env *config.Environment, bad ledger.Version, want string) (lastGoodResult, error) {
	var out lastGoodResult
	moving := state.Moving(app)
	sigs := r.opts.Signatures
	var cand *ledger.Version // the version whose run the walk is tracing back
	var start fleet.Commit   // the oldest commit of cand's run seen so far
	var checkErr error
	// settle decides on cand once its run's start is known; true ends the walk.
	settle := func() bool {
		if sigs.Mode() == state.VerifyOff {
			out.version, out.found = *cand, true
			return true
		}
		sb, err := sigs.Check(ctx, st.Snap, start.Hash)
		if err != nil {
			checkErr = fmt.Errorf("signature of the commit that set %s %s in %s: %w", app.Name, cand, env.Name, err)
			return true
		}
		switch {
		case sb.Verified:
		case sigs.Mode() == state.VerifyWarn:
			out.unverified = sb.Describe()
		default:
			out.skipped = append(out.skipped, fmt.Sprintf("%s skipped, %s", cand, sb.Describe()))
			cand = nil
			return false
		}
		out.version, out.found = *cand, true
		return true
	}
	err := state.OverlayVersions(ctx, r.opts.Log, st.Snap, app, env, func(c fleet.Commit, v ledger.Version, ok bool) bool {
		if cand != nil {
			if ok && v.Same(*cand, moving) {
				start = c // the run goes on further back
				return true
			}
			if settle() {
				return false
			}
		}
		// A version the app's tag selector does not accept is no target:
		// ferry.yaml rules it out.
		if !ok || v.IsZero() || v.Same(bad, moving) || (want != "" && v.Tag != want) ||
			(want == "" && r.opts.Selectors != nil && !r.opts.Selectors(app.Name).Allows(v.Tag)) {
			return true
		}
		if _, rejected := st.Rejected(app, v); rejected {
			if want != "" && out.rejected == nil {
				out.rejected = &v
			}
			return true
		}
		cand, start = &v, c
		if sigs.Mode() == state.VerifyOff {
			return !settle() // no need for the run's start
		}
		return true
	})
	if err == nil && checkErr == nil && cand != nil && !out.found {
		settle() // the run reaches the first commit of the history
	}
	if err == nil {
		err = checkErr
	}
	return out, err
}

func (r *Rollbacker) mirrorsOf(env string) []*config.Environment {
	var out []*config.Environment
	for _, name := range r.opts.Config.Order() {
		if e, ok := r.opts.Config.Env(name); ok && e.Mirror == env {
			out = append(out, e)
		}
	}
	return out
}

// abort ends a delivery in progress when an alert fires (or a verification
// fails) for its environment.
func (r *Rollbacker) abort(ctx context.Context, st *state.State, app *config.App, env *config.Environment, cs *canary.State, req Request, res *Result) (*Result, *publish.Edit, error) {
	if req.Judged == nil {
		if done, _, err := r.answered(ctx, st, app, env, req); err != nil || done {
			res.Stale = done
			res.Reason = fmt.Sprintf("the canary of %s in %s was already aborted for alert %s", app.Name, env.Name, req.Name)
			return res, nil, err
		}
	}
	reason := req.Cause
	if reason == "" {
		reason = fmt.Sprintf("alert %s firing for %s in %s during the canary of %s", req.Name, app.Name, env.Name, cs.Canary.Tag)
	}
	mv, err := r.opts.Deliveries.Abort(st, app, env, cs, reason, req.Alert, req.By)
	if err != nil {
		return res, nil, err
	}
	res.From, res.To, res.Aborted = cs.Canary, cs.Stable, true
	res.Reason = fmt.Sprintf("aborted the canary of %s %s in %s; traffic back on %s: %s", app.Name, cs.Canary, env.Name, cs.Stable, reason)
	return res, mv.Edit, nil
}
