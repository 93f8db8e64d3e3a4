package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/rollback"
	"github.com/ferry-dev/ferry/analysis"
)

// Alert is a firing (or resolved) alert mapped to an app and environment,
// or a failed verification that asks for a rollback.
type Alert struct {
	App, Env, Name, Fingerprint, Summary string
	Resolved                             bool
	// Started is when the alert's firing episode began (Alertmanager's
	// startsAt): a rollback answers an episode once, and only for the
	// version that ran when it began.
	Started time.Time
	// Cause replaces "alert NAME firing" as the reason, for rollbacks ferry
	// decides itself (a failed verification).
	Cause string
	// Judged binds a failed verification's rollback to the version and
	// commit it measured.
	Judged *rollback.Judged
	// About is the version the alert is about (its version label, or what
	// ran when it was first handled); nil: what runs now.
	About *Version
	// retry marks the loop's own retry of a failed rollback.
	retry bool
	// received is when the loop took the alert in (its clock).
	received time.Time
}

func (al Alert) request() rollback.Request {
	return rollback.Request{App: al.App, Env: al.Env, Name: al.Name, Alert: ledger.AlertRef{Fingerprint: al.Fingerprint, Started: al.Started},
		Summary: al.Summary, Resolved: al.Resolved, Cause: al.Cause, Judged: al.Judged, About: al.About}
}

// RollbackAlert moves alert's environment (and the environments that mirror it)
// back to its last good version in one commit, and records the bad version
// as rejected so that no environment promotes it again. It never waits for
// a pass or a registry: only for a write in flight. With no earlier good
// version, or a request about a version that no longer runs, it changes
// nothing and says so.
func (a *Agent) RollbackAlert(ctx context.Context, alert Alert) (*RollbackResult, error) {
	req := alert.request()
	res, err := a.rollbacks.Rollback(ctx, req)
	if err != nil {
		return res, err
	}
	a.obs.RolledBack(res, req)
	return res, nil
}

// Resolve lifts the freeze a rollback put on the alert's environment, once
// the alert resolves. It returns the commit, or "" when there was none.
func (a *Agent) Resolve(ctx context.Context, alert Alert) (string, error) {
	commit, err := a.rollbacks.Resolve(ctx, alert.request())
	if commit != "" {
		a.obs.Log.Info("freeze lifted", "env", alert.Env, "alert", alert.Name)
	}
	return commit, err
}

// Verify runs one verification. Its error is only for a cancelled ctx;
// every other failure is a verdict.
func (a *Agent) Verify(ctx context.Context, v Verification) (analysis.Result, error) {
	return a.verifier.Run(ctx, v)
}

// Record writes the verdict of v as a note on its commit (keeping every
// other verdict made on that commit) and says what it asks for: a failed
// verification of a promotion asks for a rollback bound to the version and
// commit it judged (the rollback checks the environment still runs them);
// a failed canary step is aborted by the next pass, which reads the note.
func (a *Agent) Record(ctx context.Context, v Verification, res analysis.Result) (*Alert, error) {
	a.obs.Verdict(v, res)
	if err := a.verifier.Record(ctx, a.pub, v, res); err != nil {
		return nil, err
	}
	if res.Verdict != analysis.Failed || v.Step != "" {
		return nil, nil
	}
	return &Alert{App: v.App, Env: v.Env, Name: "analysis " + res.Template, Fingerprint: "analysis-" + ledger.ShortHash(v.Commit),
		Cause:  fmt.Sprintf("analysis %s failed for %s %s in %s: %s", res.Template, v.App, v.Version.Tag, v.Env, res.Reason),
		Judged: &rollback.Judged{Version: v.Version, Commit: v.Commit}}, nil
}
