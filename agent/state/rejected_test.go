package state

import (
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// TestRejectedAcrossSpellingsAndTags: a rejected version is rejected
// under every tag that spells it (v2.0.0, 2 for 2.0.0), and a rejected
// build (a rejection naming a digest) under every tag that points at it;
// other versions and regex apps' tags are compared as written.
func TestRejectedAcrossSpellingsAndTags(t *testing.T) {
	const bad, good = "sha256:bad", "sha256:good"
	st := &State{Rejections: &gitstate.Rejections{Rejected: []gitstate.Rejection{
		{App: "web", Version: "2.0.0", Reason: "crashes"},
		{App: "web", Version: "3.0.0", Digest: bad, Reason: "rolled back"},
		{App: "api", Version: "build-7", Reason: "x"},
	}}}
	web := &config.App{Name: "web", Tags: config.TagPolicy{Semver: ">=1.0.0"}}
	api := &config.App{Name: "api", Tags: config.TagPolicy{Regex: `^build-(\d+)$`}}
	for _, tc := range []struct {
		app  *config.App
		v    ledger.Version
		want bool
	}{
		{web, ledger.Version{Tag: "2.0.0", Digest: good}, true},
		{web, ledger.Version{Tag: "v2.0.0", Digest: good}, true}, // the red team's alias
		{web, ledger.Version{Tag: "2", Digest: good}, true},
		{web, ledger.Version{Tag: "2.0.1", Digest: good}, false},
		{web, ledger.Version{Tag: "3.0.0", Digest: good}, true}, // a tag pushed again is still rejected: a new build takes a new tag
		{web, ledger.Version{Tag: "3.0.0", Digest: bad}, true},
		{web, ledger.Version{Tag: "4.0.0", Digest: bad}, true}, // the rejected build under another tag
		{api, ledger.Version{Tag: "build-7", Digest: good}, true},
		{api, ledger.Version{Tag: "build-07", Digest: good}, false}, // regex tags are compared as written
	} {
		if _, got := st.Rejected(tc.app, tc.v); got != tc.want {
			t.Errorf("Rejected(%s, %s@%s) = %v, want %v", tc.app.Name, tc.v.Tag, tc.v.Digest, got, tc.want)
		}
	}
}

// TestUnknownNamesStopThePass: a rejection, freeze or vote naming an app
// or environment ferry.yaml lacks (a typo), or a vote for an environment
// without approval: (dr, the mirror of prod), is an error of the state, as
// a malformed file is, not an entry that rejects, freezes or approves
// nothing. A vote's error names its file:line:col.
func TestUnknownNamesStopThePass(t *testing.T) {
	const votes = "apiVersion: ferry.dev/v1alpha1\nkind: Approvals\napprovals:\n  - {app: checkout, env: prod, version: 2.3.0, by: alice, decision: approve, at: 2026-12-07T08:00:00Z}\n"
	until := "2027-01-30T00:00:00Z"
	for _, tc := range []struct {
		name, file, content string
		want                []string
	}{
		{"rejection of an unknown app", gitstate.RejectionsFile,
			"apiVersion: ferry.dev/v1alpha1\nkind: Rejections\nrejected:\n  - {app: chekout, version: 2.3.0, reason: typo}\n",
			[]string{gitstate.RejectionsFile, "entry 1", `no app "chekout"`}},
		{"freeze of an unknown environment", gitstate.FreezesFile,
			"apiVersion: ferry.dev/v1alpha1\nkind: Freezes\nfreezes:\n  - {name: typo, envs: [qaa], until: " + until + "}\n",
			[]string{gitstate.FreezesFile, "freeze typo", `no environment "qaa"`}},
		{"freeze of an unknown app", gitstate.FreezesFile,
			"apiVersion: ferry.dev/v1alpha1\nkind: Freezes\nfreezes:\n  - {name: typo, apps: [chekout], until: " + until + "}\n",
			[]string{`no app "chekout"`}},
		{"vote for an unknown environment", gitstate.ApprovalsFile,
			votes + "  - {app: checkout, env: prd, version: 2.3.0, by: bob, decision: approve, at: 2026-12-07T08:00:00Z}\n",
			[]string{gitstate.ApprovalsFile + `:5:5: approvals[1].env: no environment "prd" in ferry.yaml; fix the name or remove the entry (bob's vote on checkout 2.3.0, at `}},
		{"vote for an unknown app", gitstate.ApprovalsFile,
			"apiVersion: ferry.dev/v1alpha1\nkind: Approvals\napprovals:\n  - {app: chekout, env: prod, version: 2.3.0, by: bob, decision: approve, at: 2026-12-07T08:00:00Z}\n",
			[]string{gitstate.ApprovalsFile + `:4:5: approvals[0].app: no app "chekout"`}},
		{"vote for an environment without approval:", gitstate.ApprovalsFile,
			votes + "  - app: checkout\n    env: dr\n    version: 2.3.0\n    by: bob\n    decision: approve\n    at: 2026-12-07T08:00:00Z\n",
			[]string{gitstate.ApprovalsFile + `:5:5: approvals[1].env: environment "dr" has no approval: in ferry.yaml, so no vote counts there; remove the entry (bob's vote on checkout 2.3.0, at `}},
		{"approvals over the cap, refused before read", gitstate.ApprovalsFile,
			votes + "# " + strings.Repeat("x", gitstate.MaxApprovalsBytes) + "\n",
			[]string{gitstate.ApprovalsFile + ": 1048740 bytes, over the 1048576 (1 MiB) an approvals file may hold: not read"}},
		{"malformed approvals", gitstate.ApprovalsFile,
			"apiVersion: ferry.dev/v1alpha1\nkind: Approvals\napprovals:\n  - {app: checkout, env: qa, version: 2.3.0, by: bob, decision: yes}\n",
			[]string{gitstate.ApprovalsFile + ":4:", `"yes" is not approve or reject`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := exampleFleet(t)
			files[tc.file] = tc.content
			_, head := newRepo(t, tree{files: files})
			st := Read(approvalConfig(t), head, nil)
			if st.Err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(st.Err.Error(), w) {
					t.Errorf("error %q lacks %q", st.Err, w)
				}
			}
		})
	}
	// Known names are no error.
	files := exampleFleet(t)
	files[gitstate.FreezesFile] = "apiVersion: ferry.dev/v1alpha1\nkind: Freezes\nfreezes:\n  - {name: ok, envs: [qa], apps: [checkout], until: " + until + "}\n"
	_, head := newRepo(t, tree{files: files})
	if st := Read(testConfig(t), head, nil); st.Err != nil {
		t.Fatalf("known names: %v", st.Err)
	}
	files[gitstate.ApprovalsFile] = votes
	_, head = newRepo(t, tree{files: files})
	st := Read(approvalConfig(t), head, nil)
	if st.Err != nil {
		t.Fatalf("known names: %v", st.Err)
	}
	if got := st.Approvals.For("checkout", "prod"); len(got) != 1 || got[0].By != "alice" {
		t.Errorf("approvals read: %+v", got)
	}
}

// approvalConfig is the test pipeline with approval: on prod.
func approvalConfig(t *testing.T) *config.Pipeline {
	t.Helper()
	cfg := testConfig(t)
	prod, _ := cfg.Env("prod")
	prod.Approval = &config.Approval{Required: 1}
	return cfg
}
