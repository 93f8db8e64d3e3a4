package promote

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// forge is a forge whose Find answers prs and which counts what it opens.
type forge struct {
	prs    []pullrequest.PR
	opened []string
}

func (f *forge) Find(context.Context, string) ([]pullrequest.PR, error) { return f.prs, nil }
func (f *forge) Open(_ context.Context, head, base, title, body string) (pullrequest.PR, error) {
	f.opened = append(f.opened, title)
	return pullrequest.PR{Number: len(f.prs) + len(f.opened), Title: title, Head: head, State: pullrequest.StateOpen}, nil
}
func (f *forge) Update(_ context.Context, number int, title, body string) (pullrequest.PR, error) {
	return pullrequest.PR{Number: number, Title: title, State: pullrequest.StateOpen}, nil
}

// TestProposeAfterAMergeNotReadYet: the pass read the branch before a
// reviewer's merge landed, and the forge already says the version's pull
// request is merged: nothing is proposed again (the red team saw a second
// pull request, and a second promotion commit, for a merged version).
// A merged pull request of another version does not hold a new one.
func TestProposeAfterAMergeNotReadYet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		merged   string // title of the merged pull request
		wantOpen bool
		reason   string
	}{
		{"same version merged", "promote checkout 1.1.0 to qa", false, "pull request #1 for 1.1.0 is merged"},
		{"another version merged", "promote checkout 1.0.0 to qa", true, "opened pull request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			f := &forge{prs: []pullrequest.PR{{Number: 1, Title: tc.merged, Head: "ferry/qa/checkout", State: pullrequest.StateMerged}}}
			w.p.prs, w.p.branches = f, w.ferry
			app, _ := w.cfg.App("checkout")
			env, _ := w.cfg.Env("qa")
			step := plan.Step{App: "checkout", Env: "qa", From: "dev", Candidate: ledger.Version{Tag: "1.1.0"}, Action: plan.ActionWait, Mode: plan.ModePullRequest}
			out, err := w.p.Propose(w.ctx, w.read(), step, app, env, w.p.Promotion(step, app, env))
			if err != nil {
				t.Fatal(err)
			}
			if opened := len(f.opened) > 0; opened != tc.wantOpen {
				t.Fatalf("opened %v, want open %v", f.opened, tc.wantOpen)
			}
			if !strings.Contains(out.Step.Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", out.Step.Reason, tc.reason)
			}
		})
	}
}
