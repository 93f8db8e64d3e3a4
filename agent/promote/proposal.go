package promote

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/agent/state"
)

// PullRequests is the forge API ferry proposes promotions through.
type PullRequests interface {
	Find(ctx context.Context, head string) ([]pullrequest.PR, error)
	Open(ctx context.Context, head, base, title, body string) (pullrequest.PR, error)
	Update(ctx context.Context, number int, title, body string) (pullrequest.PR, error)
}

// Branches are the fleet repo operations a proposal needs beyond Fleet.
type Branches interface {
	Fetch(ctx context.Context) (*fleet.Snapshot, error)
	FetchBranch(ctx context.Context, branch string) (*fleet.Snapshot, error)
	PushBranch(ctx context.Context, s *fleet.Snapshot, branch string) error
	CommitMerge(parent *fleet.Snapshot, others []*fleet.Snapshot, files map[string][]byte, msg string, when time.Time) (*fleet.Snapshot, error)
}

// ProposalBranch is the one branch (and so the one pull request) per app and env.
func ProposalBranch(app, env string) string { return "ferry/" + env + "/" + app }

// Proposal is what Propose did: the pull request, and the step with its
// outcome in Reason.
type Proposal struct {
	Step plan.Step
	PR   *pullrequest.PR
	// Opened is set when this call opened the pull request.
	Opened bool
	// Record is the record the proposal's commit carries; ferry merges
	// an approval environment's proposal with it as the merge commit's
	// message. Zero when Propose returned before building the proposal.
	Record ledger.Message
	// Head is the proposal branch's commit after Propose: the one ferry
	// merges, and no other.
	Head string
}

// Merger is the forge API that merges a pull request at a given head
// (*pullrequest.Client).
type Merger interface {
	MergeHead(ctx context.Context, number int, head, title, message string) error
}

// Propose opens or updates the pull request that moves step's candidate
// into env (build makes its commit, on the base branch's head); merging it
// is the approval. A pull request closed without merging is not reopened
// for the same version. Branch operations share the writer's turn; forge
// calls do not.
func (p *Promoter) Propose(ctx context.Context, st *state.State, step plan.Step, app *config.App, env *config.Environment, build Builder) (Proposal, error) {
	out := Proposal{Step: step}
	branch := ProposalBranch(app.Name, env.Name)
	title := ProposalTitle(app.Name, step.Candidate.Tag, env.Name)
	prs, err := p.prs.Find(ctx, branch)
	if err != nil {
		return out, fmt.Errorf("find pull requests from %s: %w", branch, err)
	}
	var open *pullrequest.PR
	for i := range prs {
		pr := &prs[i]
		if pr.State == pullrequest.StateOpen && open == nil {
			open = pr
		}
		// The title names the version: a closed pull request refuses that
		// version only, and a newer candidate may be proposed again.
		if pr.State == pullrequest.StateClosed && pr.Title == title {
			out.Step.Reason = fmt.Sprintf("pull request #%d for %s was closed without merging; not reopening it", pr.Number, step.Candidate.Tag)
			out.PR = pr
			return out, nil
		}
		// Merged after this pass read the branch (the merge lands on the
		// branch before the forge says merged): proposing it again would
		// open a second pull request for a version already promoted.
		if pr.State == pullrequest.StateMerged && pr.Title == title {
			out.Step.Reason = fmt.Sprintf("pull request #%d for %s is merged; the next pass reads the merge", pr.Number, step.Candidate.Tag)
			out.PR = pr
			return out, nil
		}
	}
	edit, err := build(st)
	if err != nil {
		return out, err
	}
	out.Record = edit.Record.Message()
	// With approval: the pull request is where reviewers approve, and ferry
	// merges it; without, merging it is the approval.
	next := "merge it to promote"
	if env.Approval != nil {
		next = "ferry merges it once approved"
		if d := step.Decision; d != nil && d.AwaitingApproval && d.Approval != nil {
			next = d.Approval.String()
		}
	}
	es := st.Envs[env.Name]
	data := edit.Files[es.Path]
	current := false
	// The branch work shares the local clone with the writers, so it takes
	// a writer's turn; the forge calls below do not need one.
	err = p.pub.Exclusive(func() error {
		old, err := p.branches.FetchBranch(ctx, branch)
		if err != nil {
			return err
		}
		var others []*fleet.Snapshot
		if old != nil {
			others = []*fleet.Snapshot{old} // keep the branch moving forward: never force-push
		}
		commit, err := p.branches.CommitMerge(st.Snap, others, edit.Files, edit.Record.Message().String(), p.now())
		if err != nil {
			return fmt.Errorf("commit proposal %s: %w", branch, err)
		}
		// Pushing the same proposal again would add a merge commit per pass.
		// Current is the whole tree ferry would propose, on the base: a
		// person's push to the branch (another file changed) is replaced,
		// so what ferry merges is what it proposed.
		if open != nil && old != nil && proposalCurrent(old, st.Snap, es.Path, data) && sameTree(old, commit) && open.Title == title {
			current, out.Head = true, old.Hash()
			return nil
		}
		out.Head = commit.Hash()
		return p.branches.PushBranch(ctx, commit, branch)
	})
	if err != nil {
		return out, err
	}
	body := gateReport(step, env, es.Path, es.Data, data)
	if current {
		out.Step.Reason = fmt.Sprintf("pull request #%d is open: %s", open.Number, next)
		out.PR = open
		// The Approvals section follows the votes as they come in; without
		// approval: an unchanged proposal is left alone.
		if env.Approval != nil && open.Body != body {
			pr, err := p.prs.Update(ctx, open.Number, "", body)
			if err != nil {
				return out, fmt.Errorf("pull request for %s: %w", branch, err)
			}
			out.PR = &pr
		}
		return out, nil
	}
	var pr pullrequest.PR
	if open == nil {
		pr, err = p.prs.Open(ctx, branch, p.cfg.Git.Branch, title, body)
		out.Step.Reason, out.Opened = "opened pull request", true
	} else {
		pr, err = p.prs.Update(ctx, open.Number, title, body)
		out.Step.Reason = "updated pull request"
	}
	if err != nil {
		return out, fmt.Errorf("pull request for %s: %w", branch, err)
	}
	out.Step.Reason = fmt.Sprintf("%s #%d: %s", out.Step.Reason, pr.Number, next)
	out.PR = &pr
	p.log.Info("proposed", "app", app.Name, "env", env.Name, "version", step.Candidate.Tag, "pr", pr.Number, "url", pr.URL)
	return out, nil
}

// MergeProposal merges prop's open pull request with its record as the
// merge commit's message, so the base branch's history shows the promotion
// and who approved it (Ferry-Approved-By) as a direct promotion would. The
// gate allowed the move with the approvals in; the forge's merge commit
// lands on the base branch and the next pass reads it.
func (p *Promoter) MergeProposal(ctx context.Context, prop Proposal) (Proposal, error) {
	out := prop
	if prop.PR == nil || prop.PR.State != pullrequest.StateOpen || prop.Record.Subject == "" || prop.Head == "" {
		return out, nil // nothing proposed in this call: closed, merged, or not built
	}
	m, ok := p.prs.(Merger)
	if !ok {
		return out, fmt.Errorf("the pull-request provider cannot merge: merge pull request #%d yourself", prop.PR.Number)
	}
	title, body, _ := strings.Cut(prop.Record.String(), "\n\n")
	// Pinned to the head ferry proposed: a push to the branch since then
	// makes the forge refuse, and the next pass proposes again.
	if err := m.MergeHead(ctx, prop.PR.Number, prop.Head, title, strings.TrimSpace(body)); err != nil {
		return out, fmt.Errorf("merge pull request #%d: %w", prop.PR.Number, err)
	}
	merged := *prop.PR
	merged.State = pullrequest.StateMerged
	out.PR = &merged
	out.Step.Reason = fmt.Sprintf("approved: merged pull request #%d", merged.Number)
	if d := prop.Step.Decision; d != nil && d.Approval != nil && len(d.Approval.By) > 0 {
		out.Step.Reason += " (approved by " + strings.Join(d.Approval.By, ", ") + ")"
	}
	p.log.Info("merged proposal", "app", prop.Step.App, "env", prop.Step.Env, "version", prop.Step.Candidate.Tag, "pr", merged.Number)
	return out, nil
}

// sameTree reports whether two commits have the same content.
func sameTree(a, b *fleet.Snapshot) bool {
	x, errA := a.ObjectID(".")
	y, errB := b.ObjectID(".")
	return errA == nil && errB == nil && x == y
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
