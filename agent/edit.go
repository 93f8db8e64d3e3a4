package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/state"
)

// EditFile changes one file of the fleet repo by commit: edit gets the
// file at the branch head (nil when absent) and returns the new content,
// or false to change nothing; on a moved branch it is applied again on the
// new head. It returns the commit, or "" when nothing changed. `ferry
// unreject`, `ferry freeze` and `ferry unfreeze` are such commits.
func (a *Agent) EditFile(ctx context.Context, name string, edit func([]byte) ([]byte, bool, error), rec ledger.Record) (string, error) {
	res, err := a.pub.Publish(ctx, rec.Subject(), false, func(ctx context.Context, head *fleet.Snapshot) ([]publish.Edit, error) {
		if err := a.editable(ctx, head, name); err != nil {
			return nil, err
		}
		// A file not there yet (the first freeze) is edited from nothing.
		data, err := head.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			data, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		out, changed, err := edit(data)
		if err != nil || !changed {
			return nil, err
		}
		return []publish.Edit{{Files: map[string][]byte{name: out}, Record: rec}}, nil
	})
	if err != nil || len(res.Commits) == 0 {
		return "", err
	}
	return res.Commits[0].Hash(), nil
}

// editable refuses, under git.verifyCommits require, to edit a file whose
// last change is unverified: ferry's signed commit would vouch for the
// whole file, and so adopt what a person changed without a signature
// (such as another freeze removed).
func (a *Agent) editable(ctx context.Context, head *fleet.Snapshot, name string) error {
	sigs := a.planner.Signatures
	if sigs.Mode() != state.VerifyRequire {
		return nil
	}
	sb, found, err := sigs.CheckPath(ctx, head, name)
	if err != nil || !found || sb.Verified {
		return err
	}
	return publish.Terminal(fmt.Errorf("%s was last changed by an unverified commit (%s): ferry will not sign a change on top of it; review the file, then commit it signed by an allowed signer",
		name, sb.Describe()))
}

// appEnv finds the app and environment a command names in ferry.yaml.
func (a *Agent) appEnv(appName, envName string) (*config.App, *config.Environment, error) {
	app, ok := a.full.App(appName)
	if !ok {
		return nil, nil, fmt.Errorf("no app %q in %s", appName, a.full.Source)
	}
	env, ok := a.full.Env(envName)
	if !ok {
		return nil, nil, fmt.Errorf("no environment %q in %s", envName, a.full.Source)
	}
	return app, env, nil
}

// PolicyInput is the input document ferry would give the policies now for
// app's candidate in env, whether or not a promotion is due.
//
// The notes say why evidence is absent (a metric query that failed, a
// report not found): absent evidence denies, and an author must see why.
func (a *Agent) PolicyInput(ctx context.Context, appName, envName string) (input map[string]any, notes []string, err error) {
	app, env, err := a.appEnv(appName, envName)
	if err != nil {
		return nil, nil, err
	}
	st, err := a.read(ctx)
	if err != nil {
		return nil, nil, err
	}
	// A person asked: wait for the registry however slow (the look-up's
	// own timeout still bounds it). Decide, not Judge: the input is wanted
	// whether or not the gate would be asked now.
	cands := a.poller.Lookup(ctx, []*config.App{app}, a.planner.Selector, 0)
	step := a.planner.Decide(ctx, st, cands, app, env)
	if step.Candidate.IsZero() {
		return nil, nil, fmt.Errorf("%s has no candidate for %s: %s", envName, appName, step.Reason)
	}
	req, err := a.planner.Request(ctx, nil, st, step, app, env)
	if err != nil {
		return nil, nil, err
	}
	input, d, err := a.gate.Input(ctx, req)
	if d != nil {
		notes = d.Notes
	}
	return input, notes, err
}

// RetryAnalysis removes env's verdict on what it runs of app now (the
// verification of its version, or the step of a delivery in progress), so
// the next pass runs that verification again: the way out of a hold after
// an inconclusive (or disputed) verdict. It returns the commit whose note
// changed, and refuses when there is no verdict to remove.
func (a *Agent) RetryAnalysis(ctx context.Context, appName, envName string) (string, error) {
	app, env, err := a.appEnv(appName, envName)
	if err != nil {
		return "", err
	}
	if !state.Verifies(env) {
		return "", fmt.Errorf("%s verifies nothing (no analysis, verify, cluster or canary in %s)", envName, a.full.Source)
	}
	st, err := a.read(ctx)
	if err != nil {
		return "", err
	}
	// During a delivery the verdict that holds is the step's, on the commit
	// that put the step in place; otherwise the version's, on its arrival.
	var commit string
	cs, delivering, err := canary.InProgress(ctx, a.fleet, st, app, env)
	if err != nil && cs != nil {
		return "", err
	}
	if delivering {
		c, err := canary.StepCommit(ctx, a.fleet, st, app, env, cs)
		if err != nil {
			return "", err
		}
		commit = c.Hash
	} else {
		c, ok, err := state.RunStart(ctx, a.fleet, st, app, env, st.Version(app, env.Name))
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%s runs no version of %s", envName, appName)
		}
		commit = c.Hash
	}
	removed := false
	// Only this app's and env's blocks go: other verdicts on a shared
	// commit (a person's commit to several envs) stay.
	err = a.pub.Note(ctx, commit, func(n ledger.Note) (ledger.Note, bool) {
		n, removed = n.Without(app.Name, env.Name)
		return n, removed
	})
	if err != nil {
		return "", err
	}
	if !removed {
		return "", fmt.Errorf("%s has no verdict on what it runs of %s now; nothing to analyse again", envName, appName)
	}
	a.obs.Log.Info("verdict removed: the verification runs again", "app", app.Name, "env", env.Name, "commit", ledger.ShortHash(commit))
	return commit, nil
}
