package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// mergingForge is a forge that keeps bodies, reviews and merges.
type mergingForge struct {
	forge
	bodies  []string
	reviews map[int][]pullrequest.Review
	merged  []string // "#n title\n\nmessage"
	heads   []string // the head each merge was pinned to
	members map[string]bool
}

func (f *mergingForge) Open(ctx context.Context, head, base, title, body string) (pullrequest.PR, error) {
	f.bodies = append(f.bodies, body)
	return f.forge.Open(ctx, head, base, title, body)
}
func (f *mergingForge) Reviews(_ context.Context, n int) ([]pullrequest.Review, error) {
	return f.reviews[n], nil
}
func (f *mergingForge) MergeHead(_ context.Context, n int, head, title, message string) error {
	f.heads = append(f.heads, head)
	f.merged = append(f.merged, fmt.Sprintf("#%d %s\n\n%s", n, title, message))
	return nil
}
func (f *mergingForge) TeamMember(_ context.Context, org, team, user string) (bool, error) {
	v, ok := f.members[org+"/"+team+"/"+user]
	if !ok {
		return false, pullrequest.ErrNoTeam
	}
	return v, nil
}

var approvalRule = &config.Approval{Required: 1, From: []string{"team:product-owners"}, ForbidSelf: true}

func approvalStep(d *gate.Decision) plan.Step {
	return plan.Step{App: "checkout", Env: "qa", From: "dev", Candidate: ledger.Version{Tag: "1.1.0"}, Action: plan.ActionWait,
		Mode: plan.ModePullRequest, Decision: d}
}

// TestProposeAwaitingApproval: with approval: the pull request opens while
// the move waits for approvals, and its body's Approvals section says where
// the quorum stands, what did not count and why, and how to approve.
func TestProposeAwaitingApproval(t *testing.T) {
	w := newWorld(t)
	f := &mergingForge{}
	w.p.prs, w.p.branches = f, w.ferry
	app, _ := w.cfg.App("checkout")
	env, _ := w.cfg.Env("qa")
	env.Approval = approvalRule
	d := &gate.Decision{Policy: "p1", AwaitingApproval: true, Deny: []string{"qa needs 1 approval"},
		Approval: &gate.ApprovalStatus{Required: 1, Missing: []string{"team:product-owners"}},
		Input: map[string]any{"evidence": map[string]any{"approvals": map[string]any{"entries": []any{
			map[string]any{"by": "alice", "via": "review", "decision": "approve", "counts": false, "why": "not in from (team:product-owners)"},
			map[string]any{"by": "ferry", "via": "review", "decision": "approve", "counts": false, "why": "the requester's own (forbidSelf)"},
		}}}}}
	step := approvalStep(d)
	out, err := w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.opened) != 1 || !strings.Contains(out.Step.Reason, "opened pull request #1: awaiting approval: 0 of 1 (needs team:product-owners)") {
		t.Fatalf("opened %v, reason %q", f.opened, out.Step.Reason)
	}
	body := f.bodies[0]
	for _, want := range []string{
		"### Decision: awaiting approval",
		"### Approvals: 0 of 1: awaiting approval (needs team:product-owners)",
		"Not counted:\n- alice (review): not in from (team:product-owners)\n- ferry (review): the requester's own (forbidSelf)\n",
		"1 approval(s) from team:product-owners are required. The requester's own (this pull request's author) does not count.",
		"`ferry approve checkout 1.1.0 --env qa --reason \"...\"`",
		"ferry merges this pull request itself once the approvals are in",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Merging this pull request is the approval") {
		t.Errorf("an approval env's body says merging is the approval:\n%s", body)
	}
}

// TestMergeProposal: once the gate allows, ferry merges the proposal with
// its promotion record, Ferry-Approved-By included, as the merge commit's
// message.
func TestMergeProposal(t *testing.T) {
	w := newWorld(t)
	f := &mergingForge{}
	w.p.prs, w.p.branches = f, w.ferry
	app, _ := w.cfg.App("checkout")
	env, _ := w.cfg.Env("qa")
	env.Approval = approvalRule
	d := &gate.Decision{Allow: true, Policy: "p1",
		Approval: &gate.ApprovalStatus{Required: 1, Count: 1, By: []string{"bob (review, team:product-owners)"}}}
	step := approvalStep(d)
	prop, err := w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.bodies[0], "### Approvals: 1 of 1: approved, ferry merges this pull request\n\nCounted:\n- bob (review, team:product-owners)\n") {
		t.Errorf("body:\n%s", f.bodies[0])
	}
	out, err := w.p.MergeProposal(w.ctx, prop)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.merged) != 1 {
		t.Fatalf("merged %v; want one merge", f.merged)
	}
	m := f.merged[0]
	for _, want := range []string{"#1 promote checkout 1.1.0 to qa\n\n", "Ferry-Version: 1.1.0\n", "Ferry-Approved-By: bob (review, team:product-owners)"} {
		if !strings.Contains(m, want) {
			t.Errorf("merge message lacks %q:\n%s", want, m)
		}
	}
	branch, err := w.ferry.FetchBranch(w.ctx, "ferry/qa/checkout")
	if err != nil || branch == nil || prop.Head != branch.Hash() || f.heads[0] != branch.Hash() {
		t.Fatalf("merge pinned to %v, proposal head %s; want the branch head %v (%v)", f.heads, prop.Head, branch, err)
	}
	rec, ok := ledger.Parse(strings.TrimPrefix(m, "#1 ")).(*ledger.Promotion)
	if !ok || rec.Version.Tag != "1.1.0" || len(rec.Gate.ApprovedBy) != 1 {
		t.Errorf("the merge message does not read back as the promotion: %#v", rec)
	}
	if out.PR.State != pullrequest.StateMerged || !strings.Contains(out.Step.Reason, "merged pull request #1 (approved by bob (review, team:product-owners))") {
		t.Errorf("after the merge: %+v, reason %q", out.PR, out.Step.Reason)
	}

	// A closed proposal is not reopened, and so not merged.
	f2 := &mergingForge{forge: forge{prs: []pullrequest.PR{{Number: 4, Title: "promote checkout 1.1.0 to qa", State: pullrequest.StateClosed}}}}
	w.p.prs = f2
	prop, err = w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.MergeProposal(w.ctx, prop); err != nil || len(f2.merged) != 0 || len(f2.opened) != 0 {
		t.Errorf("a closed proposal: merged %v opened %v err %v; want nothing", f2.merged, f2.opened, err)
	}

	// A forge client that cannot merge says so.
	w.p.prs = &forge{}
	prop, err = w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.MergeProposal(w.ctx, prop); err == nil || !strings.Contains(err.Error(), "cannot merge") {
		t.Errorf("MergeProposal without Merge: %v", err)
	}
}

// TestProposalReviews: the reviews of the open pull request whose title
// names the version; those given on a commit that proposed another version
// or another digest of the tag, on a commit that is not ferry's proposal,
// or on one the clone does not have say why they do not count.
func TestProposalReviews(t *testing.T) {
	w := newWorld(t)
	head, err := w.ferry.Fetch(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	digestA, digestB := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	commitMsg := func(file, msg string) string {
		c, err := w.ferry.Commit(head, map[string][]byte{"x/" + file: []byte(file)}, msg, t0)
		if err != nil {
			t.Fatal(err)
		}
		return c.Hash()
	}
	commitOf := func(v, digest string) string {
		rec := &ledger.Promotion{App: "checkout", Env: "qa", Version: ledger.Version{Tag: v, Digest: digest}}
		return commitMsg(v+digest, rec.Message().String())
	}
	old, cur, repushed := commitOf("1.0.0", digestA), commitOf("1.1.0", digestA), commitOf("1.1.0", digestB)
	byHand := commitMsg("hand", "edit the qa overlay by hand\n")
	f := &mergingForge{
		forge: forge{prs: []pullrequest.PR{
			{Number: 3, Title: "promote checkout 1.1.0 to qa", State: pullrequest.StateOpen, Author: "ferry"},
			{Number: 2, Title: "promote checkout 1.1.0 to qa", State: pullrequest.StateClosed},
		}},
		reviews: map[int][]pullrequest.Review{3: {
			{User: "alice", State: pullrequest.ReviewApproved, Commit: old},                                       // approved 1.0.0
			{User: "bob", State: pullrequest.ReviewApproved, Commit: cur},                                         // approved 1.1.0
			{User: "carol", State: pullrequest.ReviewRejected, Commit: cur},                                       // rejects 1.1.0
			{User: "dave", State: pullrequest.ReviewApproved, Commit: "0123456789abcdef0123456789abcdef01234567"}, // unknown commit
			{User: "erin", State: pullrequest.ReviewApproved},                                                     // GitLab: no commit
			{User: "frank", State: pullrequest.ReviewApproved, Commit: repushed},                                  // the tag's other digest
			{User: "grace", State: pullrequest.ReviewApproved, Commit: byHand},                                    // not a proposal
		}},
	}
	r := ProposalReviews{Forge: f, Commits: w.ferry}
	got, author, found, err := r.ProposalReviews(w.ctx, "checkout", "qa", ledger.Version{Tag: "1.1.0", Digest: digestA})
	if err != nil || !found || author != "ferry" {
		t.Fatalf("ProposalReviews = %v, %q, %v, %v", got, author, found, err)
	}
	var lines []string
	for _, rv := range got {
		lines = append(lines, rv.User+": "+rv.LeftOut)
	}
	want := []string{
		"alice: given for another version (1.0.0)",
		"bob: ",
		"carol: ",
		"dave: given on a commit ferry has not read (0123456789ab)",
		"erin: ",
		"frank: given for another digest (sha256:bbbbbbbbbbbb)",
		"grace: given on a commit that is not ferry's proposal (" + ledger.ShortHash(byHand) + ")",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("reviews:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if _, _, found, err := r.ProposalReviews(w.ctx, "checkout", "qa", ledger.Version{Tag: "1.2.0", Digest: digestA}); found || err != nil {
		t.Errorf("another version: found %v, %v; want not found", found, err)
	}
	got, _, _, _ = (ProposalReviews{Forge: f}).ProposalReviews(w.ctx, "checkout", "qa", ledger.Version{Tag: "1.1.0", Digest: digestA})
	for _, rv := range got {
		if rv.LeftOut != "" {
			t.Errorf("without Commits every review is kept: %+v", rv)
		}
	}
	if len(got) != 7 {
		t.Errorf("without Commits every review is kept: %v", got)
	}
}

// TestTeams: team:NAME is a team of the fleet repo's owner, team:ORG/NAME
// names its organization; an unknown team is an error naming the entry.
func TestTeams(t *testing.T) {
	f := &mergingForge{members: map[string]bool{"shop/product-owners/bob": true, "acme/release/carol": true, "shop/product-owners/alice": false}}
	teams := Teams{Forge: f, Owner: "shop"}
	for _, tc := range []struct {
		team, user string
		want       bool
	}{
		{"product-owners", "bob", true},
		{"product-owners", "alice", false},
		{"acme/release", "carol", true},
	} {
		if got, err := teams.TeamMember(context.Background(), tc.team, tc.user); err != nil || got != tc.want {
			t.Errorf("TeamMember(%s, %s) = %v, %v; want %v", tc.team, tc.user, got, err, tc.want)
		}
	}
	_, err := teams.TeamMember(context.Background(), "release", "bob")
	if !errors.Is(err, pullrequest.ErrNoTeam) || !strings.Contains(err.Error(), "team:release") {
		t.Errorf("unknown team: %v", err)
	}
	if _, err := (Teams{Forge: f}).TeamMember(context.Background(), "product-owners", "bob"); err == nil || !strings.Contains(err.Error(), "team:ORG/NAME") {
		t.Errorf("no owner: %v", err)
	}
}

// TestProposeReplacesAPersonsPush: a person pushes another change onto the
// proposal branch; the proposal is no longer current, ferry proposes its own
// tree again, and the merge is pinned to that commit.
func TestProposeReplacesAPersonsPush(t *testing.T) {
	w := newWorld(t)
	app, _ := w.cfg.App("checkout")
	env, _ := w.cfg.Env("qa")
	env.Approval = approvalRule
	step := approvalStep(&gate.Decision{Allow: true, Policy: "p1"})
	f := &mergingForge{}
	w.p.prs, w.p.branches = f, w.ferry
	first, err := w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil {
		t.Fatal(err)
	}
	// The forge now knows the open pull request.
	f.prs = []pullrequest.PR{{Number: 1, Title: "promote checkout 1.1.0 to qa", State: pullrequest.StateOpen, Body: f.bodies[0]}}
	again, err := w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil || again.Head != first.Head || !strings.Contains(again.Step.Reason, "is open") {
		t.Fatalf("an unchanged proposal: head %s (was %s), reason %q, %v", again.Head, first.Head, again.Step.Reason, err)
	}

	// A person's commit on the branch that looks like ferry's (a merge of
	// the base with the same overlay) and adds a file.
	theirs, err := w.person.FetchBranch(w.ctx, "ferry/qa/checkout")
	if err != nil {
		t.Fatal(err)
	}
	base, err := w.person.Fetch(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := theirs.ReadFile("overlays/qa/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.person.CommitMerge(base, []*fleet.Snapshot{theirs}, map[string][]byte{
		"overlays/qa/kustomization.yaml": overlay, "overlays/qa/extra.yaml": []byte("sneaky: true\n"),
	}, "a person's change\n", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.person.PushBranch(w.ctx, c, "ferry/qa/checkout"); err != nil {
		t.Fatal(err)
	}
	out, err := w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil {
		t.Fatal(err)
	}
	if out.Head == first.Head || out.Head == c.Hash() || !strings.Contains(out.Step.Reason, "updated pull request #1") {
		t.Fatalf("after a person's push: head %s, reason %q; want ferry's new proposal", out.Head, out.Step.Reason)
	}
	head, err := w.ferry.FetchBranch(w.ctx, "ferry/qa/checkout")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := head.ReadFile("overlays/qa/extra.yaml"); err == nil || head.Hash() != out.Head {
		t.Errorf("the branch head %s (want %s) still carries the person's file: %v", head.Hash(), out.Head, err)
	}
	if _, err := w.p.MergeProposal(w.ctx, out); err != nil || len(f.heads) != 1 || f.heads[0] != out.Head {
		t.Errorf("merge pinned to %v, want [%s]: %v", f.heads, out.Head, err)
	}
}
