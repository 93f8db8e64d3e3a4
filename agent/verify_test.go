package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/analysis"
)

const verifiedPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true, analysis: smoke}
  - {name: ppd, overlay: overlays/ppd, from: qa,  auto: true}
providers:
  prometheus: {address: http://127.0.0.1:9}
analyses:
  smoke:
    metrics:
      - {name: errors, query: 'sum(rate(errors_total{version="{{.Version}}"}[1m]))', successCondition: result == 0}
`

const ppdNeedsQA = `package ferry.promotion

deny contains "no qa verdict" if {
	input.environment.name == "ppd"
	not input.evidence.analysis.qa.verdict
}

deny contains sprintf("qa analysis %s", [v]) if {
	input.environment.name == "ppd"
	v := input.evidence.analysis.qa.verdict
	v != "Successful"
}
`

func newVerifiedFleet(t *testing.T) *testFleet {
	t.Helper()
	return newFleet(t, fleetSetup{pipeline: verifiedPipeline, files: map[string]string{"policies/ppd.rego": ppdNeedsQA}})
}

// TestVerificationGatesAndRollsBack: qa's verdict note is the evidence of
// ppd's gate, and a failed verification rolls qa back and rejects the version.
func TestVerificationGatesAndRollsBack(t *testing.T) {
	f := newVerifiedFleet(t)
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	res, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Verifications) != 1 || res.Verifications[0].Env != "qa" || res.Verifications[0].Version.Tag != "1.0.0" {
		t.Fatalf("verifications owed: %+v", res.Verifications)
	}
	// Structural: nothing moves past a verified env before its verdict,
	// whatever the policies say (issue 17).
	for _, s := range res.Plan.Steps {
		if s.Env == "ppd" && (s.Action != ActionHold || !strings.Contains(s.Reason, "waiting for qa to verify 1.0.0")) {
			t.Errorf("ppd before qa's verdict: %s %s", s.Action, s.Reason)
		}
	}
	v := res.Verifications[0]
	if rb, err := f.agent.Record(ctx, v, analysis.Result{Template: "smoke", Verdict: analysis.Successful, Reason: "all 1 metrics successful"}); err != nil || rb != nil {
		t.Fatalf("Record: %v, %v", rb, err)
	}
	if note := f.git(t, "notes", "--ref", "ferry", "show", v.Commit); !strings.Contains(note, "Ferry-Verdict: Successful") {
		t.Errorf("note:\n%s", note)
	}
	res, err = f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Promotions) != 1 || res.Promotions[0].Env != "ppd" || len(res.Verifications) != 0 {
		t.Fatalf("after the verdict: promotions %+v, owed %+v", res.Promotions, res.Verifications)
	}
	if msg := f.git(t, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, "Ferry-Evidence: analysis smoke in qa: Successful") {
		t.Errorf("ppd promotion lacks the verdict evidence:\n%s", msg)
	}

	// 1.1.0 fails its qa analysis: rollback to 1.0.0, rejected, never in ppd.
	f.push(t, "shop/checkout", "1.1.0")
	res, err = f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil || len(res.Verifications) != 1 {
		t.Fatalf("owed after 1.1.0: %+v, %v", res.Verifications, err)
	}
	rb, err := f.agent.Record(ctx, res.Verifications[0], analysis.Result{Template: "smoke", Verdict: analysis.Failed, Reason: "errors: 0.3 is not == 0"})
	if err != nil || rb == nil {
		t.Fatalf("a failed verification must ask for a rollback: %v, %v", rb, err)
	}
	out, err := f.agent.RollbackAlert(ctx, *rb)
	if err != nil || out.Commit == "" || out.To.Tag != "1.0.0" {
		t.Fatalf("rollback: %+v, %v", out, err)
	}
	msg := f.git(t, "log", "-1", "--format=%B", "main")
	for _, want := range []string{"rollback checkout in qa to 1.0.0", "Ferry-Rejects: 1.1.0", "Ferry-Reason: analysis smoke failed for checkout 1.1.0 in qa: errors: 0.3 is not == 0"} {
		if !strings.Contains(msg, want) {
			t.Errorf("rollback commit lacks %q:\n%s", want, msg)
		}
	}
	res, err = f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Promotions) != 0 {
		t.Errorf("after the rollback: %+v", res.Promotions)
	}
	if k := f.git(t, "show", "main:overlays/ppd/kustomization.yaml"); strings.Contains(k, "1.1.0") {
		t.Errorf("1.1.0 reached ppd:\n%s", k)
	}
}
