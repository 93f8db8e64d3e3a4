package gitstate

import (
	"strings"
	"testing"
)

const (
	digestA = "sha256:1eb6000000000000000000000000000000000000000000000000000000000001"
	digestB = "sha256:ba0c000000000000000000000000000000000000000000000000000000000002"
)

// TestApprovalDigest: a vote may name the digest it was cast on; ferry's
// writers record it, a changed digest replaces the person's vote, and a
// digest that is not sha256:<64 hex> is refused with its line.
func TestApprovalDigest(t *testing.T) {
	bob := ApprovalEntry{App: "checkout", Env: "prod", Version: "1.2.6", Digest: digestA, By: "bob", Via: "cli",
		Decision: DecisionApprove, At: date("2026-12-07T10:00:00Z")}
	out, err := AddApproval(nil, bob)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "digest: "+digestA) {
		t.Fatalf("the digest is not written:\n%s", out)
	}
	as, err := ParseApprovals(ApprovalsFile, out)
	if err != nil || len(as.Approvals) != 1 || as.Approvals[0].Digest != digestA {
		t.Fatalf("read back %+v, %v", as, err)
	}
	again := bob
	again.Digest = digestB
	out2, err := AddApproval(out, again)
	if err != nil {
		t.Fatal(err)
	}
	as, err = ParseApprovals(ApprovalsFile, out2)
	if err != nil || len(as.Approvals) != 1 || as.Approvals[0].Digest != digestB {
		t.Fatalf("a vote on the re-pushed digest does not replace bob's: %+v, %v\n%s", as, err, out2)
	}

	bad := strings.Replace(string(out), digestA, "sha256:1eb6", 1)
	if _, err := ParseApprovals(ApprovalsFile, []byte(bad)); err == nil ||
		!strings.Contains(err.Error(), ".ferry/approvals.yaml:") || !strings.Contains(err.Error(), `digest: "sha256:1eb6" is not a digest`) {
		t.Fatalf("err = %v", err)
	}
	short := bob
	short.Digest = "1eb6"
	if _, err := AddApproval(nil, short); err == nil || !strings.Contains(err.Error(), "digest:") {
		t.Fatalf("AddApproval err = %v", err)
	}
}
