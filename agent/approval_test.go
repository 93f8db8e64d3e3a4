package agent

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
)

// approvalChain is the README's approval example on a direct environment:
// prod takes a version from ppd once alice (or a product owner) approved it.
const approvalChain = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - name: prod
    overlay: overlays/prod
    from: ppd
    auto: true
    approval: {required: 1, from: [user:alice], forbidSelf: true, expires: 72h}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// approvalPolicy is the quorum rule of the default prod policy.
const approvalPolicy = `package ferry.promotion

deny contains sprintf("%d of %d approvals", [a.count, a.required]) if {
	input.environment.approval
	a := input.evidence.approvals
	a.count < a.required
}
`

// TestApprovalHoldsDirectEnvironment: a direct environment with approval:
// holds a version with "awaiting approval" until a vote in
// .ferry/approvals.yaml meets the quorum; the next pass promotes it, and
// the promotion commit names the approver.
func TestApprovalHoldsDirectEnvironment(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: approvalChain, files: map[string]string{"policies/approval.rego": approvalPolicy}})
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.1.0")

	res, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil || res.Err() != nil {
		t.Fatalf("reconcile: %v %v", err, res.Err())
	}
	prod := stepOf(t, res.Plan.Steps, "prod")
	if prod.Action != ActionHold || prod.Reason != "awaiting approval: 0 of 1 (needs user:alice)" || !prod.Decision.AwaitingApproval {
		t.Fatalf("prod step: %s %q (decision %+v)", prod.Action, prod.Reason, prod.Decision)
	}
	if got := f.git(t, "log", "-1", "--format=%s", "main"); got != "promote checkout 1.1.0 to ppd" {
		t.Fatalf("head %q, want ppd's promotion and no more", got)
	}

	// bob is not in from: still held.
	f.vote(t, gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.1.0", By: "bob", Via: "cli", Decision: "approve", At: time.Now()})
	res, err = f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil || res.Err() != nil {
		t.Fatalf("reconcile: %v %v", err, res.Err())
	}
	if prod := stepOf(t, res.Plan.Steps, "prod"); prod.Action != ActionHold || prod.Reason != "awaiting approval: 0 of 1 (needs user:alice)" {
		t.Fatalf("prod step after bob's vote: %s %q", prod.Action, prod.Reason)
	}

	f.vote(t, gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.1.0", By: "alice", Via: "dashboard", Decision: "approve", At: time.Now()})
	res, err = f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil || res.Err() != nil {
		t.Fatalf("reconcile: %v %v", err, res.Err())
	}
	if prod := stepOf(t, res.Plan.Steps, "prod"); prod.Action != ActionPromote {
		t.Fatalf("prod step after alice's vote: %s %q", prod.Action, prod.Reason)
	}
	msg := f.git(t, "log", "-1", "--format=%B", "main^")
	if !strings.HasPrefix(msg, "promote checkout 1.1.0 to prod") || !strings.Contains(msg, "Ferry-Approved-By: alice (dashboard, user:alice)\n") {
		t.Fatalf("prod's promotion commit:\n%s", msg)
	}
}

func stepOf(t *testing.T, steps []Step, env string) Step {
	t.Helper()
	for _, s := range steps {
		if s.Env == env {
			return s
		}
	}
	t.Fatalf("no step for %s in %+v", env, steps)
	return Step{}
}

// vote commits e into the fleet repo's approvals file, as ferry approve does.
func (f *testFleet) vote(t *testing.T, e gitstate.ApprovalEntry) {
	t.Helper()
	ctx := context.Background()
	repo, err := fleet.Open(ctx, fleet.Options{URL: "file://" + f.bare, Branch: "main", Dir: filepath.Join(t.TempDir(), "person")})
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := head.ReadFile(gitstate.ApprovalsFile)
	if err != nil {
		data = nil
	}
	if data, err = gitstate.AddApproval(data, e); err != nil {
		t.Fatal(err)
	}
	c, err := repo.Commit(head, map[string][]byte{gitstate.ApprovalsFile: data}, "approve checkout "+e.Version+" for prod\n", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(ctx, c); err != nil {
		t.Fatal(err)
	}
}
