package gate

import (
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// TestApprovalBoundToDigest: a vote counts for the digest it was cast on
// (a tag re-pushed with another image needs new votes), a hand-written
// entry without a digest counts for the tag, and a review the forge
// adapter left out (given on another digest's proposal) is listed as not
// counted with why, without replacing the person's vote on this digest.
func TestApprovalBoundToDigest(t *testing.T) {
	const (
		digestA = "sha256:1eb6000000000000000000000000000000000000000000000000000000000001"
		digestB = "sha256:ba0c000000000000000000000000000000000000000000000000000000000002"
	)
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	vote := func(by, digest string) gitstate.ApprovalEntry {
		return gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.1.0", Digest: digest, By: by, Via: ledger.ViaCLI,
			Decision: gitstate.DecisionApprove, At: now.Add(-time.Hour)}
	}
	type entry struct{ by, why string }
	for _, tc := range []struct {
		name       string
		file       []gitstate.ApprovalEntry
		reviews    []pullrequest.Review
		candidate  string
		count      int
		notCounted []entry
	}{
		{name: "cast on this digest", file: []gitstate.ApprovalEntry{vote("bob", digestA)}, candidate: digestA, count: 1},
		{name: "tag re-pushed: cast on another digest", file: []gitstate.ApprovalEntry{vote("bob", digestA)}, candidate: digestB,
			count: 0, notCounted: []entry{{"bob", "cast for another digest (sha256:1eb600000000)"}}},
		{name: "hand-written without a digest counts for the tag", file: []gitstate.ApprovalEntry{vote("bob", "")}, candidate: digestB, count: 1},
		{name: "a review left out by the adapter", candidate: digestB,
			file: []gitstate.ApprovalEntry{vote("carol", digestB)},
			reviews: []pullrequest.Review{
				{User: "bob", State: pullrequest.ReviewApproved, SubmittedAt: now.Add(-time.Minute), LeftOut: "given for another digest (sha256:1eb600000000)"},
				// later than carol's file vote, but on another proposal: hers stands
				{User: "carol", State: pullrequest.ReviewRejected, SubmittedAt: now.Add(-time.Minute), LeftOut: "given for another version (1.0.9)"},
			},
			count: 1, notCounted: []entry{{"bob", "given for another digest (sha256:1eb600000000)"}, {"carol", "given for another version (1.0.9)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, map[string]string{"policies/gate.rego": approvalPolicy})
			env, _ := w.cfg.Env("prod")
			env.Approval, env.PullRequest, env.Auto, env.Soak = &config.Approval{Required: 1}, true, false, 0
			var data []byte
			for _, e := range tc.file {
				var err error
				if data, err = gitstate.AddApproval(data, e); err != nil {
					t.Fatal(err)
				}
			}
			w.commit(w.head(), map[string]string{gitstate.ApprovalsFile: string(data)}, "votes")
			g := New(Options{Config: w.cfg, Log: w.repo, Now: func() time.Time { return now }, Reviews: &fakeReviews{reviews: tc.reviews, author: "ferry"}})
			req := w.request("1.1.0", nil)
			req.Candidate.Digest = tc.candidate
			d, err := g.Decide(w.ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			ap := d.Input["evidence"].(map[string]any)["approvals"].(map[string]any)
			if ap["count"] != tc.count || d.Approval.Count != tc.count || d.Allow != (tc.count > 0) {
				t.Errorf("count %v (status %d), allow %v; want %d\n%v", ap["count"], d.Approval.Count, d.Allow, tc.count, ap["entries"])
			}
			for _, nc := range tc.notCounted {
				found := false
				for _, e := range ap["entries"].([]any) {
					m := e.(map[string]any)
					found = found || m["by"] == nc.by && m["counts"] == false && m["why"] == nc.why
				}
				if !found {
					t.Errorf("no entry of %s that does not count because %q in %v", nc.by, nc.why, ap["entries"])
				}
			}
		})
	}
}
