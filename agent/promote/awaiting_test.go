package promote

import (
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// TestAwaitingProposalSaysSo (red team): the proposal commit ferry pushes
// while the move awaits approvals carries Ferry-Awaiting, so the commit,
// landed by a person, does not read as an approved promotion; once the
// approvals are in, ferry's merge commit carries the approvers and no
// Ferry-Awaiting.
func TestAwaitingProposalSaysSo(t *testing.T) {
	w := newWorld(t)
	f := &mergingForge{}
	w.p.prs, w.p.branches = f, w.ferry
	app, _ := w.cfg.App("checkout")
	env, _ := w.cfg.Env("qa")
	env.Approval = approvalRule
	waiting := &gate.Decision{Policy: "p1", AwaitingApproval: true, Deny: []string{"qa needs 1 approval"}, Evidence: []string{"approvals 0 of 1"},
		Approval: &gate.ApprovalStatus{Required: 1, Missing: []string{"team:product-owners"}}}
	step := approvalStep(waiting)
	prop, err := w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil {
		t.Fatal(err)
	}
	head, err := w.ferry.Snapshot(prop.Head)
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	if err := w.ferry.Log(w.ctx, head, func(c fleet.Commit) (bool, error) { msg = c.Message; return false, nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "Ferry-Awaiting: approval: 0 of 1 (needs team:product-owners)\n") {
		t.Fatalf("the awaiting proposal's commit does not say it awaits approval:\n%s", msg)
	}
	if rec, ok := ledger.Parse(msg).(*ledger.Promotion); !ok || rec.Gate.Awaiting == "" || len(rec.Gate.ApprovedBy) != 0 {
		t.Errorf("the awaiting proposal reads back as %#v", ledger.Parse(msg))
	}

	allowed := &gate.Decision{Allow: true, Policy: "p1",
		Approval: &gate.ApprovalStatus{Required: 1, Count: 1, By: []string{"bob (review, team:product-owners)"}}}
	step = approvalStep(allowed)
	prop, err = w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.p.MergeProposal(w.ctx, prop); err != nil {
		t.Fatal(err)
	}
	if len(f.merged) != 1 || strings.Contains(f.merged[0], "Ferry-Awaiting") || !strings.Contains(f.merged[0], "Ferry-Approved-By: bob") {
		t.Errorf("merges %q; want one, naming bob and awaiting nothing", f.merged)
	}
}
