package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// PullRequests is the forge API ferry proposes promotions through.
type PullRequests interface {
	Find(ctx context.Context, head string) ([]pullrequest.PR, error)
	Open(ctx context.Context, head, base, title, body string) (pullrequest.PR, error)
	Update(ctx context.Context, number int, title, body string) (pullrequest.PR, error)
}

// Branches are the fleet repo operations a proposal needs beyond Fleet.
type Branches interface {
	FetchBranch(ctx context.Context, branch string) (*fleet.Snapshot, error)
	PushBranch(ctx context.Context, s *fleet.Snapshot, branch string) error
	CommitMerge(parent *fleet.Snapshot, others []*fleet.Snapshot, files map[string][]byte, msg fleet.Message, when time.Time) (*fleet.Snapshot, error)
}

// proposalBranch is the one branch (and so the one pull request) per app and env.
func proposalBranch(app, env string) string { return "ferry/" + env + "/" + app }

// propose opens or updates the pull request that moves step's candidate into
// env; merging it is the approval. A pull request closed without merging is
// not reopened for the same version. It returns the step with its outcome.
func (a *Agent) propose(ctx context.Context, st *fleetState, app *config.App, env *config.Environment, step Step) (Step, *pullrequest.PR, error) {
	branch := proposalBranch(app.Name, env.Name)
	title := fmt.Sprintf("promote %s %s to %s", app.Name, step.Candidate.Tag, env.Name)
	prs, err := a.prs.Find(ctx, branch)
	if err != nil {
		return step, nil, fmt.Errorf("find pull requests from %s: %w", branch, err)
	}
	var open *pullrequest.PR
	for i := range prs {
		pr := &prs[i]
		if pr.State == pullrequest.StateOpen && open == nil {
			open = pr
		}
		if pr.State == pullrequest.StateClosed && pr.Title == title {
			step.Reason = fmt.Sprintf("pull request #%d for %s was closed without merging; not reopening it", pr.Number, step.Candidate.Tag)
			return step, pr, nil
		}
	}
	es := st.envs[env.Name]
	data, err := bumpEntry(st.snap, es, app, env, promotionEntry(es, app, env), step.Candidate)
	if err != nil {
		return step, nil, err
	}
	msg := promotionMessage(step)
	if env.Canary != nil {
		msg = canaryStartMessage(msg, app, env, step)
	}
	old, err := a.branches.FetchBranch(ctx, branch)
	if err != nil {
		return step, nil, err
	}
	if open != nil && old != nil && proposalCurrent(old, st.snap, es.path, data) && open.Title == title {
		step.Reason = fmt.Sprintf("pull request #%d is open: merge it to promote", open.Number)
		return step, open, nil
	}
	var others []*fleet.Snapshot
	if old != nil {
		others = []*fleet.Snapshot{old} // keep the branch moving forward: never force-push
	}
	commit, err := a.branches.CommitMerge(st.snap, others, map[string][]byte{es.path: data}, msg, a.now())
	if err != nil {
		return step, nil, fmt.Errorf("commit proposal %s: %w", branch, err)
	}
	if err := a.branches.PushBranch(ctx, commit, branch); err != nil {
		return step, nil, err
	}
	body := gateReport(step, env, es.path, es.data, data)
	var pr pullrequest.PR
	if open == nil {
		pr, err = a.prs.Open(ctx, branch, a.cfg.Git.Branch, title, body)
		step.Reason = "opened pull request"
	} else {
		pr, err = a.prs.Update(ctx, open.Number, title, body)
		step.Reason = "updated pull request"
	}
	if err != nil {
		return step, nil, fmt.Errorf("pull request for %s: %w", branch, err)
	}
	if open == nil {
		a.notify(notify.Event{Kind: notify.PullRequestOpened, App: app.Name, Env: env.Name, Version: step.Candidate.Tag,
			From: step.From, URL: pr.URL, Reason: title})
	}
	step.Reason = fmt.Sprintf("%s #%d: merge it to promote", step.Reason, pr.Number)
	a.log.Info("proposed", "app", app.Name, "env", env.Name, "version", step.Candidate.Tag, "pr", pr.Number, "url", pr.URL)
	return step, &pr, nil
}

// proposalCurrent says whether the branch already proposes data on top of
// the base's head.
func proposalCurrent(branchHead, base *fleet.Snapshot, path string, data []byte) bool {
	got, err := branchHead.ReadFile(path)
	if err != nil || string(got) != string(data) {
		return false
	}
	// The proposal must sit on the current base: otherwise refresh it.
	return slices.Contains(branchHead.Parents(), base.Hash())
}
