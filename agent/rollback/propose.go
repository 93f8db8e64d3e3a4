// A rollback as a pull request, for environments whose rollbacks need an
// approval.

package rollback

import (
	"context"
	"fmt"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// propose offers a rollback as a pull request, for pull-request
// environments whose rollbacks are configured to need an approval too.
func (r *Rollbacker) propose(ctx context.Context, app *config.App, env *config.Environment, req Request) (*Result, error) {
	branch := "ferry/rollback/" + env.Name + "/" + app.Name
	var res *Result
	err := r.opts.Publisher.Exclusive(func() error {
		head, err := r.opts.Branches.Fetch(ctx)
		if err != nil {
			return err
		}
		var edit *publish.Edit
		res, edit, err = r.change(ctx, head, app, env, req)
		if err != nil || edit == nil {
			return err
		}
		old, err := r.opts.Branches.FetchBranch(ctx, branch)
		if err != nil {
			return err
		}
		var others []*fleet.Snapshot
		if old != nil {
			others = []*fleet.Snapshot{old} // keep the branch moving forward: the new proposal merges the old one
		}
		commit, err := r.opts.Branches.CommitMerge(head, others, edit.Files, edit.Record.Message().String(), r.opts.Now())
		if err != nil {
			return err
		}
		return r.opts.Branches.PushBranch(ctx, commit, branch)
	})
	// No earlier good version, or nothing to change: no pull request.
	if err != nil || res == nil || res.To.IsZero() {
		return res, err
	}
	title := fmt.Sprintf("rollback %s in %s to %s", res.App, res.Env, res.To.Tag)
	body := fmt.Sprintf("%s\n\nMerging this pull request rolls %s back and rejects %s.\n", res.Reason, res.Env, res.From.Tag)
	prs, err := r.opts.PRs.Find(ctx, branch)
	if err != nil {
		return res, err
	}
	var pr pullrequest.PR
	if len(prs) > 0 && prs[0].State == pullrequest.StateOpen {
		pr, err = r.opts.PRs.Update(ctx, prs[0].Number, title, body)
	} else {
		pr, err = r.opts.PRs.Open(ctx, branch, r.opts.Config.Git.Branch, title, body)
	}
	if err != nil {
		return res, fmt.Errorf("rollback pull request for %s in %s: %w", res.App, res.Env, err)
	}
	res.PR = &pr
	res.Reason = fmt.Sprintf("rollback proposed in pull request #%d: %s", pr.Number, res.Reason)
	return res, nil
}
