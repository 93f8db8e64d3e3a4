package agent

import (
	"context"
	"testing"

	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// TestVoteRecordsDigest: ferry approve and reject record the digest the
// tag names when the vote is cast; a vote after the tag was re-pushed
// records the new digest.
func TestVoteRecordsDigest(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: quorumChain})
	ctx := context.Background()
	first := f.push(t, "shop/checkout", "1.4.2")
	carol := ledger.Actor{Name: "carol", Via: ledger.ViaCLI}
	votes := func() []gitstate.ApprovalEntry {
		t.Helper()
		as, err := gitstate.ParseApprovals(gitstate.ApprovalsFile, []byte(f.git(t, "show", "main:"+gitstate.ApprovalsFile)))
		if err != nil {
			t.Fatal(err)
		}
		return as.For("checkout", "prod")
	}
	if _, err := f.agent.Approve(ctx, "checkout", "1.4.2", "prod", carol, nil, "ok"); err != nil {
		t.Fatal(err)
	}
	if v := votes(); len(v) != 1 || v[0].Digest != first {
		t.Fatalf("votes %+v, want carol's on %s", v, first)
	}
	second := f.push(t, "shop/checkout", "1.4.2")
	if second == first {
		t.Fatal("the re-push kept the digest")
	}
	if _, err := f.agent.Reject(ctx, "checkout", "1.4.2", "prod", carol, nil, "not this image"); err != nil {
		t.Fatal(err)
	}
	if v := votes(); len(v) != 1 || v[0].Digest != second || !v[0].Rejects() {
		t.Fatalf("votes %+v, want carol's rejection of %s", v, second)
	}
}
