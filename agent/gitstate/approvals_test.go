package gitstate

import (
	"bytes"
	"fmt"
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
		{"look-alike by", func(e *ApprovalEntry) { e.By = "car\u200bol" }, "", "must not contain spaces, control or invisible characters"},
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

// TestApprovalsOnePersonWhateverTheCase: logins ignore letter case on the
// forges, so a vote by ALICE replaces alice's (and is written as cast),
// and PersonKey agrees with strings.EqualFold.
func TestApprovalsOnePersonWhateverTheCase(t *testing.T) {
	before := readFile(t, filepath.Join("edit", "approvals.before.yaml"))
	shout := ApprovalEntry{App: "checkout", Env: "prod", Version: "1.4.2", By: "ALICE", Via: "cli", Decision: DecisionApprove,
		At: date("2026-12-07T11:00:00Z")}
	out, err := AddApproval(before, shout)
	if err != nil {
		t.Fatal(err)
	}
	got := mustApprovals(t, out)
	if len(got) != 3 || !equalApproval(got[1], shout) {
		t.Fatalf("ALICE's vote did not replace alice's:\n%s", out)
	}
	for _, tc := range []struct {
		a, b string
	}{{"bob", "BOB"}, {"Bob", "bOB"}, {"bob", "bobby"}, {"K", "\u212a"}, {"straße", "STRASSE"}, {"ǅ", "ǆ"}, {"σ", "ς"}, {"ß", "ẞ"}} {
		if same, want := PersonKey(tc.a) == PersonKey(tc.b), strings.EqualFold(tc.a, tc.b); same != want {
			t.Errorf("PersonKey(%q) == PersonKey(%q) is %v, EqualFold says %v", tc.a, tc.b, same, want)
		}
	}
}

// TestApprovalsSizeCap: a file over MaxApprovalsBytes is refused unread,
// naming the file and the cap; AddApproval cannot grow one past it.
func TestApprovalsSizeCap(t *testing.T) {
	data := []byte("apiVersion: ferry.dev/v1alpha1\nkind: Approvals\napprovals:\n")
	for i := 0; len(data) <= MaxApprovalsBytes; i++ {
		data = fmt.Appendf(data, "  - {app: checkout, env: prod, version: 1.%d.0, by: bob, decision: approve, at: 2026-12-07T08:00:00Z}\n", i)
	}
	_, err := ParseApprovals(".ferry/approvals.yaml", data)
	if err == nil || !strings.Contains(err.Error(), ".ferry/approvals.yaml: ") || !strings.Contains(err.Error(), "over the 1048576 (1 MiB)") {
		t.Fatalf("err = %v", err)
	}
	// Just under the cap it reads, and one more vote does not fit.
	under := data[:bytes.LastIndexByte(data[:MaxApprovalsBytes], '\n')+1]
	if _, err := ParseApprovals(".ferry/approvals.yaml", under); err != nil {
		t.Fatal(err)
	}
	_, err = AddApproval(under, ApprovalEntry{App: "checkout", Env: "prod", Version: "9.9.9", By: "carol", Decision: DecisionApprove,
		At: date("2026-12-07T08:00:00Z"), Reason: strings.Repeat("x", 200)})
	if err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("AddApproval past the cap: %v", err)
	}
}

// TestApprovalsWhere: each entry's place in the file, for the checks made
// once ferry.yaml is known.
func TestApprovalsWhere(t *testing.T) {
	as, err := ParseApprovals("approvals.yaml", readFile(t, "approvals.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"approvals.yaml:6:5", "approvals.yaml:9:5", "approvals.yaml:19:5", "approvals.yaml"} {
		if got := as.Where(i); got != want {
			t.Errorf("Where(%d) = %q, want %q", i, got, want)
		}
	}
}

// approvalsOf is a file of n votes, each person's on another version.
func approvalsOf(n int) []byte {
	data := []byte("apiVersion: ferry.dev/v1alpha1\nkind: Approvals\napprovals:\n")
	for i := range n {
		data = fmt.Appendf(data, "  - {app: checkout, env: prod, version: 1.%d.0, by: bob, decision: approve, at: 2026-12-07T08:00:00Z}\n", i)
	}
	return data
}

// TestApprovalsManyVotes: 10k votes (about the cap) parse, and a second
// vote by one person (another letter case) is kept for the gate to weigh:
// refusing it would stop every promotion until a hand edit.
func TestApprovalsManyVotes(t *testing.T) {
	data := approvalsOf(10_000)
	if len(data) > MaxApprovalsBytes {
		t.Fatalf("%d bytes: over the cap", len(data))
	}
	as, err := ParseApprovals("many.yaml", data)
	if err != nil || len(as.Approvals) != 10_000 {
		t.Fatalf("%v, %d votes", err, len(as.Approvals))
	}
	dup := append(data, "  - {app: checkout, env: prod, version: 1.5.0, by: BOB, decision: reject, at: 2026-12-07T09:00:00Z}\n"...)
	if as, err := ParseApprovals("many.yaml", dup); err != nil || len(as.Approvals) != 10_001 || as.Approvals[10_000].By != "BOB" {
		t.Fatalf("err = %v", err)
	}
}

// BenchmarkParseApprovals: a file of 10k votes, about the size cap. It
// was quadratic (each entry compared with every one before it).
func BenchmarkParseApprovals(b *testing.B) {
	data := approvalsOf(10_000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseApprovals("many.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
