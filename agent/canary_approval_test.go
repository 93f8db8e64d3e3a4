package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
)

// TestCanaryPromotionNamesApprovers: with approval: on a canary
// environment, step 0 carries the approvals that counted, and so does the
// delivery's last commit, the promotion (README: "the promotion commit
// names who counted").
func TestCanaryPromotionNamesApprovers(t *testing.T) {
	pipeline := strings.Replace(strings.ReplaceAll(canaryPipeline, "CANARY", "{steps: [50], analysis: canary}"),
		"auto: true, canary:", "auto: true, approval: {required: 1, from: [user:alice]}, canary:", 1)
	files := map[string]string{"policies/approval.rego": approvalPolicy}
	for k, v := range canaryOverlay {
		files[k] = v
	}
	f := newFleet(t, fleetSetup{pipeline: pipeline, files: files})
	f.push(t, "shop/checkout", "1.0.0")
	ok := func(Verification) analysis.Verdict { return analysis.Successful }
	if got := f.drive(t, ok); strings.Join(got, "\n") != "promote checkout 1.0.0 to dev" {
		t.Fatalf("before the approval: %q", got)
	}
	f.vote(t, gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.0.0", By: "alice", Via: "cli", Decision: "approve", At: time.Now()})
	got := f.drive(t, ok)
	if len(got) == 0 || got[len(got)-1] != "promote checkout 1.0.0 to prod" {
		t.Fatalf("after the approval: %q", got)
	}
	const approved = "Ferry-Approved-By: alice (cli, user:alice)\n"
	if msg := f.git(t, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, approved) || !strings.Contains(msg, "Ferry-Canary: canary completed") {
		t.Errorf("the delivery's promotion does not name the approver:\n%s", msg)
	}
	step0 := f.git(t, "log", "-1", "--format=%B", "-F", "--grep", "step 0/1, deploy", "main")
	if !strings.Contains(step0, approved) {
		t.Errorf("step 0 does not name the approver:\n%s", step0)
	}
}

// TestAwaitingStepZeroLandedByAPersonIsNoDelivery (red team): the step 0
// ferry proposes on a pull request while the move awaits approvals says so
// (Ferry-Awaiting); landed on the base branch by a person (a fast-forward
// or rebase merge), it is not ferry's start of a delivery, and ferry does
// not carry it on past a policy that denies the move.
func TestAwaitingStepZeroLandedByAPersonIsNoDelivery(t *testing.T) {
	const prodKust = "overlays/prod/kustomization.yaml"
	f := newFleet(t, fleetSetup{pipeline: strings.ReplaceAll(canaryPipeline, "CANARY", "{steps: [50, 100], analysis: canary}"),
		files: mergeFiles(canaryOverlay, map[string]string{"policies/gate.rego": "package ferry.promotion\n\ndeny contains \"prod is closed\" if input.environment.name == \"prod\"\n"})})
	digest := f.push(t, "shop/checkout", "1.0.0")
	rec := &ledger.CanaryStep{App: "checkout", Env: "prod", Version: ledger.Version{Tag: "1.0.0", Digest: digest}, Step: 0, Of: 2,
		Label: "deploy the canary", Gate: &ledger.Gate{From: "dev", Policy: "none", Awaiting: "approval: 0 of 1"}}
	f.edit(t, rec.Message().String(), map[string]func(string) string{prodKust: setEntry("registry.example/shop/checkout-canary", "1.0.0")})
	f.drive(t, func(Verification) analysis.Verdict { return analysis.Successful })
	if log := f.git(t, "log", "--format=%s", "main"); strings.Contains(log, "in prod: step 1/2") || strings.Contains(log, "to prod") {
		t.Fatalf("ferry carried on a delivery nobody approved:\n%s", log)
	}
}

// TestRejectionDuringCanaryAborts (red team): the gate is asked at step 0
// only, so a rejection cast while the delivery walks its steps (ferry
// reject, the dashboard) must end it, naming who rejected, and the
// version never completes with the rejecter listed as an approver.
func TestRejectionDuringCanaryAborts(t *testing.T) {
	pipeline := strings.Replace(strings.ReplaceAll(canaryPipeline, "CANARY", "{steps: [50, 100], analysis: canary}"),
		"auto: true, canary:", "auto: true, approval: {required: 1, from: [user:alice]}, canary:", 1)
	files := map[string]string{"policies/approval.rego": approvalPolicy}
	for k, v := range canaryOverlay {
		files[k] = v
	}
	f := newFleet(t, fleetSetup{pipeline: pipeline, files: files})
	f.push(t, "shop/checkout", "1.0.0")
	f.vote(t, gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.0.0", By: "alice", Via: "cli", Decision: "approve", At: time.Now()})
	rejected := false
	got := f.drive(t, func(v Verification) analysis.Verdict {
		// At the first canary step's analysis, alice changes her mind.
		if v.Env == "prod" && !rejected {
			rejected = true
			f.vote(t, gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.0.0", By: "alice", Via: "cli", Decision: "reject",
				At: time.Now(), Reason: "found a bug"})
		}
		return analysis.Successful
	})
	if !rejected {
		t.Fatalf("prod's delivery never started: %q", got)
	}
	log := f.git(t, "log", "--format=%s", "main")
	if strings.Contains(log, "promote checkout 1.0.0 to prod") || !strings.Contains(log, "abort canary of checkout 1.0.0 in prod") {
		t.Fatalf("a rejection during the delivery did not end it:\n%s", log)
	}
	msg := f.git(t, "log", "-1", "--format=%B", "-F", "--grep", "abort canary", "main")
	for _, want := range []string{"Ferry-Reason: checkout 1.0.0 is rejected for prod by alice (cli): found a bug", "Ferry-Requested-By: alice (cli)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the abort lacks %q:\n%s", want, msg)
		}
	}
}
