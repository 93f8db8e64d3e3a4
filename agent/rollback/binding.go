// The binding of a verdict or an alert to what it judged: a rollback acts
// only on the version and episode it is about.

package rollback

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
)

// stale checks that env still runs what a verdict judged. A failed
// verification of a version that a rollback restored does not roll back
// further: the last good version was good when it ran before, and its
// measurement may still carry the bad version's signal.
func (r *Rollbacker) stale(ctx context.Context, st *state.State, app *config.App, env *config.Environment, j Judged) (bool, string, error) {
	cur := st.Version(app, env.Name)
	if !cur.Same(j.Version, state.Moving(app)) {
		return true, fmt.Sprintf("the failed verdict judged %s %s (commit %s), but %s now runs %s: the verdict is recorded and changes nothing else",
			app.Name, j.Version.Tag, ledger.ShortHash(j.Commit), env.Name, cur), nil
	}
	c, ok, err := state.RunStart(ctx, r.opts.Log, st, app, env, cur)
	if err != nil {
		return false, "", err
	}
	if !ok || c.Hash != j.Commit {
		return true, fmt.Sprintf("the failed verdict judged %s %s as commit %s brought it, but %s runs it since commit %s: the verdict is recorded and changes nothing else",
			app.Name, j.Version.Tag, ledger.ShortHash(j.Commit), env.Name, ledger.ShortHash(c.Hash)), nil
	}
	if rb, ok := ledger.Parse(c.Message).(*ledger.Rollback); ok {
		return true, fmt.Sprintf("%s %s, restored in %s by the rollback of %s, failed its verification: ferry does not roll back further "+
			"(the signal may still be %s's) and rejects nothing; nothing moves past %s until a person acts (ferry retry-analysis, or a new version)",
			app.Name, j.Version.Tag, env.Name, rb.From.Tag, rb.From.Tag, env.Name), nil
	}
	return false, "", nil
}

// ClockSkew is how far an alert's start (Prometheus's clock) may be from a
// commit's time (the committer's clock) and still be taken for later: an
// alert is held not to be about a version only when the version arrived
// more than this after the alert began.
const ClockSkew = 2 * time.Minute

// answered reports whether the alert's firing episode was answered already
// (a rollback or abort for it since it began), or began before the
// version env runs arrived (so it is not about that version).
func (r *Rollbacker) answered(ctx context.Context, st *state.State, app *config.App, env *config.Environment, req Request) (bool, string, error) {
	if req.Alert.Fingerprint == "" {
		return false, "", nil
	}
	if !req.Alert.Started.IsZero() {
		c, ok, err := state.RunStart(ctx, r.opts.Log, st, app, env, st.Version(app, env.Name))
		if err != nil {
			return false, "", err
		}
		if ok && c.Time.After(req.Alert.Started.Add(ClockSkew)) {
			return true, fmt.Sprintf("alert %s began firing at %s, before %s %s arrived in %s (%s): it is not about that version; nothing rolled back",
				req.Name, req.Alert.Started.UTC().Format(time.RFC3339), app.Name, st.Version(app, env.Name).Tag, env.Name, c.Time.UTC().Format(time.RFC3339)), nil
		}
	}
	done, scanned := false, 0
	err := r.opts.Log.LogPath(ctx, st.Snap, st.Envs[env.Name].Path, func(c fleet.Commit) (bool, error) {
		scanned++
		var ref ledger.AlertRef
		switch rec := ledger.Parse(c.Message).(type) {
		case *ledger.Rollback:
			ref = rec.Alert
		case *ledger.Abort:
			ref = rec.Alert
		}
		if ref.Answers(req.Alert) {
			done = true
			return false, nil
		}
		// Without a start time only the newest change can be the answer.
		more := !req.Alert.Started.IsZero() && scanned < maxAnsweredScan && !c.Time.Before(req.Alert.Started)
		return more, nil
	})
	if done {
		return true, fmt.Sprintf("%s in %s was already rolled back for alert %s", app.Name, env.Name, req.Name), err
	}
	return false, "", err
}
