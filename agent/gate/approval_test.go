package gate

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
)

// approvalPolicy denies below the quorum and on a counted rejection, and
// (to tell approvals from the rest) on a version named "9.9.9".
const approvalPolicy = `package ferry.promotion

deny contains sprintf("approvals %d of %d", [a.count, a.required]) if {
	a := input.evidence.approvals
	a.count < a.required
}

deny contains sprintf("rejected by %v", [a.rejected_by]) if {
	a := input.evidence.approvals
	count(a.rejected_by) > 0
}

deny contains "not this version" if input.candidate.version == "1.1.0-bad"
`

// fakeReviews is the forge: the proposal's reviews and author, or an error.
type fakeReviews struct {
	reviews []pullrequest.Review
	author  string
	err     error
	calls   int
}

func (f *fakeReviews) ProposalReviews(_ context.Context, app, env string, candidate ledger.Version) ([]pullrequest.Review, string, bool, error) {
	f.calls++
	if f.err != nil {
		return nil, "", false, f.err
	}
	return f.reviews, f.author, f.author != "", nil
}

// fakeTeams knows team members by "team/user" (user in lower case: the
// forges' logins ignore letter case, as Gitea's team check does).
type fakeTeams map[string]bool

func (f fakeTeams) TeamMember(_ context.Context, team, user string) (bool, error) {
	if team == "broken" {
		return false, errors.New("forge down")
	}
	return f[team+"/"+strings.ToLower(user)], nil
}

// TestApprovalCounting: which votes count toward approval: and which
// rejection blocks, as the policies see them in input.evidence.approvals.
func TestApprovalCounting(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	vote := func(by, decision string, at time.Time, groups ...string) gitstate.ApprovalEntry {
		return gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.1.0", By: by, Via: ledger.ViaDashboard,
			Groups: groups, Decision: decision, At: at}
	}
	review := func(user, st string, at time.Time) pullrequest.Review {
		return pullrequest.Review{User: user, State: st, SubmittedAt: at}
	}
	rule := config.Approval{Required: 2, From: []string{"team:product-owners", "user:alice", "group:shop:release"},
		ForbidSelf: true, Expires: config.Duration(72 * time.Hour)}
	type entry struct{ by, why string }
	for _, tc := range []struct {
		name      string
		rule      *config.Approval
		file      []gitstate.ApprovalEntry
		reviews   []pullrequest.Review
		author    string
		action    *Action
		candidate string
		teams     fakeTeams

		count      int
		approvedBy []string // the Ferry-Approved-By lines
		rejectedBy []string
		notCounted []entry // entries that do not count, and why
		allow      bool
		awaiting   bool
		reason     string // ApprovalStatus.String()
	}{
		{name: "quorum from the file and a review", rule: &rule,
			file:    []gitstate.ApprovalEntry{vote("alice", "approve", ago(time.Hour))},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewApproved, ago(time.Minute))}, author: "ferry",
			teams: fakeTeams{"product-owners/bob": true},
			count: 2, approvedBy: []string{"alice (dashboard, user:alice)", "bob (review, team:product-owners)"}, allow: true,
			reason: "awaiting approval: 2 of 2"},
		{name: "one of two", rule: &rule,
			file:  []gitstate.ApprovalEntry{vote("alice", "approve", ago(time.Hour))},
			count: 1, approvedBy: []string{"alice (dashboard, user:alice)"}, awaiting: true,
			reason: "awaiting approval: 1 of 2 (needs team:product-owners or user:alice or group:shop:release)"},
		{name: "the pull request's author approving their own", rule: &rule,
			file:    []gitstate.ApprovalEntry{vote("alice", "approve", ago(time.Hour))},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewApproved, ago(time.Minute))}, author: "bob",
			teams: fakeTeams{"product-owners/bob": true},
			count: 1, notCounted: []entry{{"bob", "the requester's own (forbidSelf)"}}, awaiting: true},
		{name: "a manual promotion's requester approving their own", rule: &rule,
			file:   []gitstate.ApprovalEntry{vote("alice", "approve", ago(time.Hour)), vote("carol", "approve", ago(time.Hour), "shop:release")},
			action: &Action{Kind: ActionManual, By: ledger.Actor{Name: "carol", Via: ledger.ViaCLI}, Reason: "hotfix"},
			// the pull request's author is not the requester of a manual move
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewApproved, ago(time.Minute))}, author: "bob",
			teams: fakeTeams{"product-owners/bob": true},
			count: 2, notCounted: []entry{{"carol", "the requester's own (forbidSelf)"}}, allow: true},
		{name: "forbidSelf off: the author's own counts", rule: &config.Approval{Required: 1},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewApproved, ago(time.Minute))}, author: "bob",
			count: 1, approvedBy: []string{"bob (review)"}, allow: true},
		{name: "expired", rule: &rule,
			file:  []gitstate.ApprovalEntry{vote("alice", "approve", ago(80*time.Hour)), vote("carol", "approve", ago(71*time.Hour), "shop:release")},
			count: 1, notCounted: []entry{{"alice", "expired: cast 80h ago, votes count for 72h"}}, awaiting: true},
		{name: "not in from", rule: &rule,
			file:    []gitstate.ApprovalEntry{vote("dave", "approve", ago(time.Hour), "shop", "shop:developers")},
			reviews: []pullrequest.Review{review("erin", pullrequest.ReviewApproved, ago(time.Hour))}, author: "ferry",
			teams: fakeTeams{"developers/erin": true},
			count: 0, notCounted: []entry{{"dave", "not in from (team:product-owners, user:alice, group:shop:release)"},
				{"erin", "not in from (team:product-owners, user:alice, group:shop:release)"}}, awaiting: true},
		{name: "team from the dashboard's OIDC groups, without asking the forge", rule: &rule,
			file:  []gitstate.ApprovalEntry{vote("frank", "approve", ago(time.Hour), "shop", "shop:product-owners"), vote("grace", "approve", ago(time.Hour), "other:product-owners")},
			count: 1, approvedBy: []string{"frank (dashboard, team:product-owners)"}, notCounted: []entry{{"grace", "not in from (team:product-owners, user:alice, group:shop:release)"}}, awaiting: true},
		{name: "team:ORG/NAME", rule: &config.Approval{Required: 1, From: []string{"team:ops/release"}},
			file:  []gitstate.ApprovalEntry{vote("frank", "approve", ago(time.Hour), "ops:release")},
			count: 1, approvedBy: []string{"frank (dashboard, team:ops/release)"}, allow: true},
		{name: "a rejection by someone who counts blocks", rule: &rule,
			file: []gitstate.ApprovalEntry{vote("alice", "approve", ago(time.Hour)), {App: "checkout", Env: "prod", Version: "1.1.0", By: "carol",
				Via: ledger.ViaDashboard, Groups: []string{"shop:release"}, Decision: "reject", At: ago(time.Minute), Reason: "migration first"}},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewApproved, ago(time.Minute))}, author: "ferry",
			teams: fakeTeams{"product-owners/bob": true},
			count: 2, rejectedBy: []string{"carol"}, awaiting: true, reason: "rejected by carol (dashboard): migration first"},
		// F4: groups written beside a CLI (or hand-written) vote are anyone's
		// claim; only the dashboard's come from a verified sign-in.
		{name: "a cli vote's groups do not count", rule: &rule,
			file: []gitstate.ApprovalEntry{vote("alice", "approve", ago(time.Hour)),
				{App: "checkout", Env: "prod", Version: "1.1.0", By: "carol", Via: ledger.ViaCLI, Groups: []string{"shop:release"}, Decision: "reject", At: ago(time.Minute)},
				{App: "checkout", Env: "prod", Version: "1.1.0", By: "mallory", Groups: []string{"shop:product-owners"}, Decision: "approve", At: ago(time.Minute)}},
			count: 1, notCounted: []entry{
				{"carol", "not in from (team:product-owners, user:alice, group:shop:release); the groups a cli vote records are ignored (only the dashboard's come from a verified sign-in)"},
				{"mallory", "not in from (team:product-owners, user:alice, group:shop:release); the groups a cli vote records are ignored (only the dashboard's come from a verified sign-in)"}},
			awaiting: true, reason: "awaiting approval: 1 of 2 (needs team:product-owners or user:alice or group:shop:release)"},
		// F1: logins ignore letter case on the forges: one person, one vote.
		{name: "one person in two spellings is one vote", rule: &config.Approval{Required: 2, From: []string{"team:product-owners"}},
			file:    []gitstate.ApprovalEntry{{App: "checkout", Env: "prod", Version: "1.1.0", By: "BOB", Via: ledger.ViaCLI, Decision: "approve", At: ago(time.Hour)}},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewApproved, ago(time.Minute))}, author: "ferry",
			teams: fakeTeams{"product-owners/bob": true},
			count: 1, approvedBy: []string{"bob (review, team:product-owners)"}, notCounted: []entry{{"BOB", "replaced by bob's later vote"}}, awaiting: true},
		{name: "a later rejection in another spelling blocks", rule: &config.Approval{Required: 1},
			file:    []gitstate.ApprovalEntry{{App: "checkout", Env: "prod", Version: "1.1.0", By: "Bob", Via: ledger.ViaCLI, Decision: "reject", At: ago(time.Minute)}},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewApproved, ago(time.Hour))}, author: "ferry",
			count: 0, rejectedBy: []string{"Bob"}, notCounted: []entry{{"bob", "replaced by Bob's later vote"}}, awaiting: true},
		{name: "forbidSelf whatever the letter case", rule: &config.Approval{Required: 1, ForbidSelf: true},
			file:   []gitstate.ApprovalEntry{{App: "checkout", Env: "prod", Version: "1.1.0", By: "Ferry", Via: ledger.ViaCLI, Decision: "approve", At: ago(time.Minute)}},
			author: "ferry",
			count:  0, notCounted: []entry{{"Ferry", "the requester's own (forbidSelf)"}}, awaiting: true},
		{name: "user: whatever the letter case", rule: &config.Approval{Required: 1, From: []string{"user:alice"}},
			file:  []gitstate.ApprovalEntry{vote("Alice", "approve", ago(time.Hour))},
			count: 1, approvedBy: []string{"Alice (dashboard, user:alice)"}, allow: true},
		// F3: a vote dated in the future would never expire and would
		// outrank every later vote.
		{name: "a vote dated in the future does not count", rule: &rule,
			file:  []gitstate.ApprovalEntry{vote("alice", "approve", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)), vote("carol", "approve", now.Add(4*time.Minute), "shop:release")},
			count: 1, approvedBy: []string{"carol (dashboard, group:shop:release)"},
			notCounted: []entry{{"alice", "dated in the future (at 2099-01-01T00:00:00Z)"}}, awaiting: true},
		{name: "a rejection dated in the future replaces nothing", rule: &config.Approval{Required: 1},
			file:    []gitstate.ApprovalEntry{vote("bob", "reject", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewApproved, ago(time.Minute))}, author: "ferry",
			count: 1, approvedBy: []string{"bob (review)"}, notCounted: []entry{{"bob", "dated in the future (at 2099-01-01T00:00:00Z)"}}, allow: true},
		// F5: expires is for approvals; a rejection stands until the person approves.
		{name: "a rejection does not expire", rule: &rule,
			file:  []gitstate.ApprovalEntry{vote("alice", "approve", ago(time.Hour)), vote("carol", "reject", ago(80*time.Hour), "shop:release")},
			count: 1, rejectedBy: []string{"carol"}, awaiting: true, reason: "rejected by carol (dashboard)"},
		// F7: seconds under a minute.
		{name: "expired seconds ago", rule: &config.Approval{Required: 1, Expires: config.Duration(6 * time.Second)},
			file:  []gitstate.ApprovalEntry{vote("alice", "approve", ago(8*time.Second))},
			count: 0, notCounted: []entry{{"alice", "expired: cast 8s ago, votes count for 6s"}}, awaiting: true},
		{name: "a rejection by someone who does not count does not block", rule: &config.Approval{Required: 1, From: []string{"user:alice"}},
			file:  []gitstate.ApprovalEntry{vote("alice", "approve", ago(time.Hour)), vote("mallory", "reject", ago(time.Minute))},
			count: 1, notCounted: []entry{{"mallory", "not in from (user:alice)"}}, allow: true},
		{name: "changes requested after approving: the latest vote blocks", rule: &config.Approval{Required: 1},
			file:    []gitstate.ApprovalEntry{vote("bob", "approve", ago(time.Hour))},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewRejected, ago(time.Minute))}, author: "ferry",
			count: 0, rejectedBy: []string{"bob"}, notCounted: []entry{{"bob", "replaced by bob's later vote"}}, awaiting: true},
		{name: "approving after a rejection withdraws it", rule: &config.Approval{Required: 1},
			file:    []gitstate.ApprovalEntry{vote("bob", "approve", ago(time.Minute))},
			reviews: []pullrequest.Review{review("bob", pullrequest.ReviewRejected, ago(time.Hour)), review("carol", "COMMENTED", ago(time.Minute))}, author: "ferry",
			count: 1, approvedBy: []string{"bob (dashboard)"}, notCounted: []entry{{"bob", "replaced by bob's later vote"}}, allow: true},
		{name: "votes on another version do not count", rule: &config.Approval{Required: 1},
			file: []gitstate.ApprovalEntry{{App: "checkout", Env: "prod", Version: "1.0.9", By: "bob", Decision: "approve", At: ago(time.Minute)},
				{App: "checkout", Env: "qa", Version: "1.1.0", By: "bob", Decision: "approve", At: ago(time.Minute)}},
			count: 0, awaiting: true},
		{name: "denied for another reason: not awaiting approval", rule: &config.Approval{Required: 1}, candidate: "1.1.0-bad",
			count: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, map[string]string{"policies/gate.rego": approvalPolicy})
			w.cfg.Git.URL = "http://git.example/shop/fleet.git"
			env, _ := w.cfg.Env("prod")
			env.Approval, env.PullRequest, env.Auto, env.Soak = tc.rule, true, false, 0
			candidate := "1.1.0"
			if tc.candidate != "" {
				candidate = tc.candidate
			}
			var data []byte
			for _, e := range tc.file {
				if tc.candidate != "" {
					e.Version = candidate
				}
				var err error
				if data, err = gitstate.AddApproval(data, e); err != nil {
					t.Fatal(err)
				}
			}
			if data != nil {
				w.commit(w.head(), map[string]string{gitstate.ApprovalsFile: string(data)}, "votes")
			}
			forge := &fakeReviews{reviews: tc.reviews, author: tc.author}
			g := New(Options{Config: w.cfg, Log: w.repo, Now: func() time.Time { return now }, Reviews: forge, Teams: tc.teams})
			d, err := g.Decide(w.ctx, w.request(candidate, tc.action))
			if err != nil {
				t.Fatal(err)
			}
			ap := d.Input["evidence"].(map[string]any)["approvals"].(map[string]any)
			if ap["count"] != tc.count || d.Approval.Count != tc.count || ap["required"] != tc.rule.Required {
				t.Errorf("count %v (status %d) of %v, want %d\n%v", ap["count"], d.Approval.Count, ap["required"], tc.count, ap)
			}
			if got := anyStrings(ap["rejected_by"].([]any)); !slices.Equal(got, tc.rejectedBy) && len(got)+len(tc.rejectedBy) > 0 {
				t.Errorf("rejected_by %q, want %q", got, tc.rejectedBy)
			}
			if tc.approvedBy != nil && !slices.Equal(d.Approval.By, tc.approvedBy) {
				t.Errorf("approved by %q, want %q", d.Approval.By, tc.approvedBy)
			}
			if got := d.Record("qa").ApprovedBy; !slices.Equal(got, d.Approval.By) {
				t.Errorf("Record().ApprovedBy = %q, want %q", got, d.Approval.By)
			}
			for _, e := range ap["entries"].([]any) {
				// only the dashboard's groups are the person's (a verified sign-in)
				if m := e.(map[string]any); m["via"] != ledger.ViaDashboard && len(m["groups"].([]any)) > 0 {
					t.Errorf("a %s vote's groups reach the policies: %v", m["via"], m)
				}
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
			if d.Allow != tc.allow || d.AwaitingApproval != tc.awaiting {
				t.Errorf("allow %v awaiting %v, want %v %v; deny %q", d.Allow, d.AwaitingApproval, tc.allow, tc.awaiting, d.Deny)
			}
			if tc.reason != "" && d.Approval.String() != tc.reason {
				t.Errorf("reason %q, want %q", d.Approval.String(), tc.reason)
			}
			envIn := d.Input["environment"].(map[string]any)["approval"].(map[string]any)
			if envIn["required"] != tc.rule.Required || envIn["forbid_self"] != tc.rule.ForbidSelf ||
				envIn["expires_seconds"] != int64(tc.rule.Expires.Std()/time.Second) || len(envIn["from"].([]any)) != len(tc.rule.From) {
				t.Errorf("input.environment.approval = %v", envIn)
			}
			if forge.calls != 1 {
				t.Errorf("the forge was asked %d times, want once", forge.calls)
			}
		})
	}
}

// request is prod's move of checkout to version from qa.
func (w *world) request(version string, action *Action) *Request {
	w.t.Helper()
	notes, err := w.repo.FetchNotes(w.ctx, ledger.NotesRef)
	if err != nil {
		w.t.Fatal(err)
	}
	app, _ := w.cfg.App("checkout")
	env, _ := w.cfg.Env("prod")
	return &Request{App: app, Env: env, From: "qa", Candidate: ledger.Version{Tag: version},
		Current: ledger.Version{Tag: "1.0.0"}, State: state.Read(w.cfg, w.head(), notes), Action: action}
}

// TestApprovalInputOnlyWithApproval: an environment without approval:
// gets no approvals evidence and asks no forge; input.request is always there.
func TestApprovalInputOnlyWithApproval(t *testing.T) {
	w := newWorld(t, map[string]string{"policies/gate.rego": approvalPolicy})
	forge := &fakeReviews{author: "bob"}
	g := New(Options{Config: w.cfg, Log: w.repo, Reviews: forge})
	d, err := g.Decide(w.ctx, w.request("1.1.0", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Input["evidence"].(map[string]any)["approvals"]; ok || d.Approval != nil || forge.calls != 0 {
		t.Fatalf("approvals without approval: %v, %+v, %d forge calls", d.Input["evidence"], d.Approval, forge.calls)
	}
	if _, ok := d.Input["environment"].(map[string]any)["approval"]; ok {
		t.Fatal("input.environment.approval without approval:")
	}
	if req := d.Input["request"].(map[string]any); req["kind"] != "pass" || len(req) != 1 {
		t.Fatalf("input.request = %v", req)
	}
	d, err = g.Decide(w.ctx, w.request("1.1.0", &Action{Kind: ActionManual, By: ledger.Actor{Name: "alice", Via: ledger.ViaDashboard}, Reason: "hotfix"}))
	if err != nil {
		t.Fatal(err)
	}
	if req := d.Input["request"].(map[string]any); req["kind"] != "manual" || req["by"] != "alice" || req["via"] != "dashboard" || req["reason"] != "hotfix" {
		t.Fatalf("input.request = %v", req)
	}
}

// TestApprovalForgeErrors: the forge failing is no "zero approvals": the
// move is not decided (fail closed), and the error says what was asked.
func TestApprovalForgeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		forge *fakeReviews
		rule  config.Approval
		file  bool
		want  string
	}{
		{"reviews", &fakeReviews{err: errors.New("502 bad gateway")}, config.Approval{Required: 1},
			false, "reviews of the pull request for checkout 1.1.0 to prod: 502 bad gateway"},
		{"team membership", &fakeReviews{}, config.Approval{Required: 1, From: []string{"team:broken"}},
			true, "is bob in team broken: forge down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, map[string]string{"policies/gate.rego": approvalPolicy})
			env, _ := w.cfg.Env("prod")
			env.Approval, env.PullRequest, env.Auto = &tc.rule, true, false
			if tc.file {
				data, err := gitstate.AddApproval(nil, gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.1.0", By: "bob",
					Decision: "approve", At: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				w.commit(w.head(), map[string]string{gitstate.ApprovalsFile: string(data)}, "vote")
			}
			g := New(Options{Config: w.cfg, Log: w.repo, Reviews: tc.forge, Teams: fakeTeams{}})
			d, err := g.Decide(w.ctx, w.request("1.1.0", nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decision %+v, err %v; want an error %q", d, err, tc.want)
			}
		})
	}
}

// TestApprovalsUnderVerifyCommits: under require, the votes of an
// approvals file last changed by an unverified commit do not count, and
// each entry says whether the file's last change verified.
func TestApprovalsUnderVerifyCommits(t *testing.T) {
	key := gitsigtest.NewSSHKey(t, "ferry")
	signer, err := gitsig.LoadSSHSigner(key.Private, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("ferry.yaml", []byte("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: \"file:///tmp/fleet.git\"}\n"+
		"apps:\n  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: \">=1.0.0\"}}\n"+
		"environments:\n  - {name: dev, overlay: overlays/dev, auto: true}\n  - {name: prod, overlay: overlays/prod, from: dev, approval: {required: 1}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	votes := func(by string) []byte {
		data, err := gitstate.AddApproval(nil, gitstate.ApprovalEntry{App: "checkout", Env: "prod", Version: "1.1.0", By: by, Decision: "approve", At: now})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, tc := range []struct {
		name, mode string
		signed     bool // who last changed the file: ferry (signed) or bob
		count      int
		why        string
		// bob's earlier "request changes" review on the pull request: an
		// unverified file vote in his name does not withdraw it.
		review     bool
		rejectedBy []string
	}{
		{"require, signed", state.VerifyRequire, true, 1, "", false, nil},
		{"require, unsigned", state.VerifyRequire, false, 0, unverifiedApprovals, false, nil},
		{"warn, unsigned", state.VerifyWarn, false, 1, "", false, nil},
		{"require, unsigned, after a review's rejection", state.VerifyRequire, false, 0, unverifiedApprovals, true, []string{"bob"}},
		{"require, signed, after a review's rejection", state.VerifyRequire, true, 1, "", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote := fleettest.Remote(t, "gate-approvals-signed")
			ferry, err := fleet.Open(ctx, fleet.Options{URL: remote.URL(), InMemory: true, Signer: signer,
				Author: fleet.Signature{Name: "ferry", Email: "ferry@example.com"}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			fleettest.Push(t, ferry, map[string][]byte{".ferry/allowed_signers": []byte("ferry@example.com " + key.Public + "\n"),
				"overlays/dev/kustomization.yaml": []byte(kustomization("1.1.0")), "overlays/prod/kustomization.yaml": []byte(kustomization("1.0.0"))}, "seed\n", now)
			writer := ferry
			if !tc.signed {
				writer = fleettest.Clone(t, remote, "bob")
			}
			fleettest.Push(t, writer, map[string][]byte{gitstate.ApprovalsFile: votes("bob")}, "approve\n", now.Add(time.Minute))
			snap, err := ferry.Fetch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Config: cfg, Log: ferry, Now: func() time.Time { return now.Add(time.Hour) }}
			app, _ := cfg.App("checkout")
			env, _ := cfg.Env("prod")
			if tc.review {
				opts.Reviews = &fakeReviews{author: "ferry", reviews: []pullrequest.Review{{User: "bob", State: pullrequest.ReviewRejected, SubmittedAt: now.Add(-time.Minute)}}}
				pr := *env
				pr.PullRequest = true
				env = &pr
			}
			g := New(opts)
			g.SetSignatures(state.NewSignatures(config.VerifyCommits{Mode: tc.mode, AllowedSigners: ".ferry/allowed_signers"}, ferry, signer, "ferry@example.com", nil))
			d, err := g.Decide(ctx, &Request{App: app, Env: env, From: "dev", Candidate: ledger.Version{Tag: "1.1.0"}, State: state.Read(cfg, snap, nil)})
			if err != nil {
				t.Fatal(err)
			}
			ap := d.Input["evidence"].(map[string]any)["approvals"].(map[string]any)
			var e map[string]any
			for _, x := range ap["entries"].([]any) {
				if m := x.(map[string]any); m["via"] == ledger.ViaCLI {
					e = m
				}
			}
			why, _ := e["why"].(string)
			if ap["count"] != tc.count || e["signed"] != tc.signed || why != tc.why {
				t.Fatalf("count %v signed %v why %q; want %d %v %q", ap["count"], e["signed"], why, tc.count, tc.signed, tc.why)
			}
			if got := anyStrings(ap["rejected_by"].([]any)); !slices.Equal(got, tc.rejectedBy) && len(got)+len(tc.rejectedBy) > 0 {
				t.Fatalf("rejected_by %q, want %q", got, tc.rejectedBy)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{8 * time.Second, "8s"},
		{8*time.Second + 300*time.Millisecond, "8s"},
		{59 * time.Second, "59s"},
		{5 * time.Minute, "5m"},
		{5*time.Minute + 7*time.Second, "5m7s"},
		{time.Hour, "1h"},
		{80*time.Hour + 5*time.Second, "80h"},
		{90*time.Minute + 30*time.Second, "1h30m"},
		{72 * time.Hour, "72h"},
		{300 * time.Millisecond, "300ms"},
		{0, "0s"},
	} {
		if got := shortDuration(tc.d); got != tc.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
