package gitstate

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseApprovals(t *testing.T) {
	as, err := ParseApprovals("approvals.yaml", readFile(t, "approvals.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []ApprovalEntry{
		{App: "checkout", Env: "prod", Version: "1.4.2", By: "carol", Via: "dashboard", Groups: []string{"shop", "shop:product-owners"},
			Decision: DecisionApprove, At: date("2026-12-07T08:00:00Z"), Reason: "release notes reviewed"},
		{App: "checkout", Env: "prod", Version: "1.4.2", By: "alice", Via: "cli", Decision: DecisionReject,
			At: date("2026-12-07T08:30:00Z"), Reason: "wait for the\nmigration\n"},
		{App: "cart", Env: "prod", Version: "1.10", By: "alice", Decision: DecisionApprove, At: date("2026-12-06T10:00:00Z")},
	}
	if as.Source != "approvals.yaml" || !slices.EqualFunc(as.Approvals, want, equalApproval) {
		t.Fatalf("got %+v\nwant %+v", as.Approvals, want)
	}
	if got := as.For("checkout", "prod"); len(got) != 2 || got[1].By != "alice" || !got[1].Rejects() {
		t.Errorf("For(checkout, prod) = %+v", got)
	}
	var none *Approvals
	if none.For("checkout", "prod") != nil {
		t.Error("a nil file has votes")
	}
}

func addApproval(e ApprovalEntry) edit {
	return func(data []byte) ([]byte, bool, error) {
		out, err := AddApproval(data, e)
		return out, !bytes.Equal(out, data), err
	}
}

// TestApprovalEdits: AddApproval appends a new vote, replaces the same
// person's vote on the same version in place (keeping comments), and
// leaves the file alone for an equal vote.
func TestApprovalEdits(t *testing.T) {
	bob := ApprovalEntry{App: "checkout", Env: "prod", Version: "1.4.2", By: "bob", Via: "cli",
		Decision: DecisionApprove, At: date("2026-12-07T10:11:12.5Z"), Reason: "looks good: ship it"}
	aliceApproves := ApprovalEntry{App: "checkout", Env: "prod", Version: "1.4.2", By: "alice", Via: "dashboard",
		Groups: []string{"shop", "shop:release"}, Decision: DecisionApprove, At: date("2026-12-07T11:00:00Z")}
	for _, tc := range []struct {
		name, before string
		do           edit
		changed      bool
	}{
		{"approvals-add", "approvals", addApproval(bob), true},
		// the rejection is withdrawn: one vote per person
		{"approvals-replace", "approvals", addApproval(aliceApproves), true},
		// another version or env is another vote
		{"approvals-add-other-version", "approvals", addApproval(ApprovalEntry{App: "checkout", Env: "prod", Version: "1.4.3", By: "alice",
			Decision: DecisionApprove, At: date("2026-12-07T11:00:00Z")}), true},
		{"approvals-add-same", "approvals", addApproval(ApprovalEntry{App: "cart", Env: "prod", Version: "1.10", By: "alice",
			Decision: DecisionApprove, At: date("2026-12-06T10:00:00Z")}), false},
		{"approvals-empty-add", "empty", addApproval(bob), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := readFile(t, filepath.Join("edit", tc.before+".before.yaml"))
			out, changed, err := tc.do(before)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Fatalf("changed = %v, want %v; got:\n%s", changed, tc.changed, out)
			}
			if !tc.changed {
				return
			}
			golden(t, filepath.Join("edit", tc.name+".after.yaml"), out)
			again, changedAgain, err := tc.do(out)
			if err != nil || changedAgain || !bytes.Equal(again, out) {
				t.Errorf("repeating the edit: changed=%v err=%v\n%s", changedAgain, err, again)
			}
		})
	}
}

func TestAddApprovalErrors(t *testing.T) {
	ok := ApprovalEntry{App: "checkout", Env: "prod", Version: "1.4.2", By: "bob", Decision: DecisionApprove, At: date("2026-12-07T10:00:00Z")}
	for _, tc := range []struct {
		name   string
		mutate func(*ApprovalEntry)
		data   string
		want   string
	}{
		{"no time", func(e *ApprovalEntry) { e.At = time.Time{} }, "", "at: required"},
		{"no decision", func(e *ApprovalEntry) { e.Decision = "" }, "", "decision: required: approve or reject"},
		{"bad by", func(e *ApprovalEntry) { e.By = "bob (cli)" }, "", `by: "bob (cli)" must not contain`},
		{"bad env", func(e *ApprovalEntry) { e.Env = "" }, "", "env: required"},
		{"bad file", func(*ApprovalEntry) {}, "approvals: [", ".ferry/approvals.yaml:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.mutate(&e)
			_, err := AddApproval([]byte(tc.data), e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseApprovals: parsing never panics, and an accepted file takes a
// new vote, then the same person's changed vote replaces it: the other
// entries stay as they were.
func FuzzParseApprovals(f *testing.F) {
	seed(f, "approvals.yaml", "errors/approvals-*.yaml", "edit/approvals*.yaml", "edit/empty.before.yaml")
	f.Add([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Approvals\napprovals:\n- {app: a, env: b, version: \"1\", by: x, decision: reject, at: 2026-01-01T00:00:00Z}\n"))
	fresh := ApprovalEntry{App: "zz-fuzz", Env: "prod", Version: "9.9.9", By: "fuzz", Via: "dashboard", Groups: []string{"org:team", "a\"b"},
		Decision: DecisionApprove, At: time.Unix(1e9, 0), Reason: "fuzz: \"quoted\"\tand\nlines"}
	f.Fuzz(func(t *testing.T, data []byte) {
		as, err := ParseApprovals("fuzz.yaml", data)
		if err != nil {
			if as != nil {
				t.Fatal("value returned with an error")
			}
			return
		}
		if slices.ContainsFunc(as.Approvals, fresh.sameVoter) {
			return
		}
		added, err := AddApproval(data, fresh)
		if err != nil {
			t.Fatalf("add to an accepted file: %v", err)
		}
		if got, want := mustApprovals(t, added), append(slices.Clone(as.Approvals), fresh); !slices.EqualFunc(got, want, equalApproval) {
			t.Fatalf("after add: %+v\nwant %+v\n%s", got, want, added)
		}
		changed := fresh
		changed.Decision, changed.Groups, changed.Reason = DecisionReject, nil, ""
		replaced, err := AddApproval(added, changed)
		if err != nil {
			t.Fatalf("replace a vote: %v", err)
		}
		if got, want := mustApprovals(t, replaced), append(slices.Clone(as.Approvals), changed); !slices.EqualFunc(got, want, equalApproval) {
			t.Fatalf("after replace: %+v\nwant %+v\n%s", got, want, replaced)
		}
	})
}

func mustApprovals(t *testing.T, data []byte) []ApprovalEntry {
	t.Helper()
	as, err := ParseApprovals("edited.yaml", data)
	if err != nil {
		t.Fatalf("edited file does not parse: %v\n%s", err, data)
	}
	return as.Approvals
}
