package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/gitstate"
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
