package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
)

var alice = ledger.Actor{Name: "alice", Via: ledger.ViaCLI}

// prodManualOnly denies every promotion into prod but a person's manual
// one, as a fleet that allows hotfixes would write it.
const prodManualOnly = `package ferry.promotion

deny contains "prod takes manual promotions only" if {
	input.environment.name == "prod"
	input.request.kind != "manual"
}
`

// prodNever denies every promotion into prod, manual ones too.
const prodNever = `package ferry.promotion

deny contains "prod is closed" if input.environment.name == "prod"
`

// chainAt runs passes until every environment of autoChain runs each of
// tags in turn.
func chainAt(t *testing.T, f *testFleet, tags ...string) {
	t.Helper()
	for _, tag := range tags {
		f.push(t, "shop/checkout", tag)
		res, err := f.agent.Reconcile(context.Background(), Scope{All: true})
		if err != nil || res.Err() != nil {
			t.Fatalf("pass for %s: %v %v", tag, err, res.Err())
		}
	}
}

func overlayTag(t *testing.T, f *testFleet, env string) string {
	t.Helper()
	k := f.git(t, "show", "main:overlays/"+env+"/kustomization.yaml")
	for _, l := range strings.Split(k, "\n") {
		if tag, ok := strings.CutPrefix(strings.TrimSpace(l), "newTag: "); ok {
			return strings.Fields(tag)[0] // "1.0.0 # set by ferry"
		}
	}
	t.Fatalf("no newTag in %s:\n%s", env, k)
	return ""
}

// TestPromoteManualSkipsTheChain: a hotfix pushed to the registry goes
// straight into prod by a person's promotion, one commit whose trailers
// say it came from no environment and who asked; ppd is left alone, and
// the next pass brings dr (prod's mirror) along.
func TestPromoteManualSkipsTheChain(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: autoChain, files: map[string]string{"policies/prod.rego": prodManualOnly}})
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	res, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	// The chain stops before prod: only a person's promotion goes there.
	if got := overlayTag(t, f, "ppd"); got != "1.0.0" {
		t.Fatalf("ppd runs %s after the pass (%v)", got, res.Err())
	}
	if got := overlayTag(t, f, "prod"); got == "1.0.0" {
		t.Fatal("the pass promoted into prod, which the policy closes to passes")
	}
	digest := f.push(t, "shop/checkout", "1.0.1")

	commit, err := f.agent.Promote(ctx, "checkout", "1.0.1", "prod", alice, "hotfix for the payment timeout")
	if err != nil {
		t.Fatal(err)
	}
	if head := f.git(t, "rev-parse", "main"); commit != head {
		t.Fatalf("Promote returned %q, the head is %s", commit, head)
	}
	msg := f.git(t, "log", "-1", "--format=%B", "main")
	for _, want := range []string{"promote checkout 1.0.1 to prod\n", "Ferry-From: manual", "Ferry-Digest: " + digest,
		"Ferry-Decision: allow", "Ferry-Requested-By: alice (cli)", "Ferry-Reason: hotfix for the payment timeout"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the promotion commit lacks %q:\n%s", want, msg)
		}
	}
	if files := f.git(t, "show", "--name-only", "--format=", "main"); files != "overlays/prod/kustomization.yaml" {
		t.Errorf("the manual promotion changed %q, want prod's overlay only", files)
	}
	if rec, ok := ledger.Parse(msg).(*ledger.Promotion); !ok || rec.RequestedBy != alice || rec.Gate.From != FromManual || rec.Reason != "hotfix for the payment timeout" {
		t.Errorf("the commit reads back as %#v", ledger.Parse(msg))
	}
	if got := overlayTag(t, f, "ppd"); got != "1.0.0" {
		t.Errorf("ppd runs %s; a manual promotion into prod skips it", got)
	}
	// A mirror follows, as for any promotion.
	if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
		t.Fatal(err)
	}
	if got := overlayTag(t, f, "dr"); got != "1.0.1" {
		t.Errorf("dr runs %s after the next pass, want 1.0.1 (it mirrors prod)", got)
	}
}

// TestPromoteIntoPullRequestEnv: a manual promotion is a direct commit,
// also into an environment that takes ferry's moves by pull request.
func TestPromoteIntoPullRequestEnv(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: strings.Replace(autoChain, "from: ppd, auto: true}", "from: ppd, pullRequest: true}", 1)})
	ctx := context.Background()
	chainAt(t, f, "1.0.0")
	if got := overlayTag(t, f, "prod"); got == "1.0.0" {
		t.Fatal("a pass promoted into the pull-request environment")
	}
	commit, err := f.agent.Promote(ctx, "checkout", "1.0.0", "prod", alice, "release")
	if err != nil || commit != f.git(t, "rev-parse", "main") {
		t.Fatalf("promote: %q %v", commit, err)
	}
	if got := overlayTag(t, f, "prod"); got != "1.0.0" {
		t.Errorf("prod runs %s after the manual promotion", got)
	}
}

// TestPromoteRefusals: each refusal says why and writes nothing.
func TestPromoteRefusals(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: autoChain, files: map[string]string{"policies/prod.rego": prodManualOnly}})
	ctx := context.Background()
	chainAt(t, f, "1.0.0")
	f.push(t, "shop/checkout", "1.0.1")
	if _, err := f.agent.EditFile(ctx, gitstate.RejectionsFile, func(data []byte) ([]byte, bool, error) {
		out, err := gitstate.AddRejection(data, gitstate.Rejection{App: "checkout", Version: "1.0.1", Reason: "corrupts carts", By: "bob"})
		return out, err == nil, err
	}, &ledger.Change{Msg: ledger.Message{Subject: "reject checkout 1.0.1"}}); err != nil {
		t.Fatal(err)
	}
	f.push(t, "shop/checkout", "1.0.2")
	head := f.git(t, "rev-parse", "main")
	for _, tc := range []struct {
		app, version, env string
		by                ledger.Actor
		want              string
	}{
		{"checkout", "1.0.2", "dr", alice, "dr mirrors prod and runs its version: promote into prod instead"},
		{"checkout", "1.9.9", "prod", alice, "checkout has no tag 1.9.9 in "},
		{"checkout", "1.0.1", "prod", alice, "checkout 1.0.1 is rejected (corrupts carts): `ferry unreject checkout 1.0.1` first"},
		{"checkout", "1.0.0", "ppd", alice, "ppd runs checkout 1.0.0"},
		{"checkout", "latest", "prod", alice, "outside the tag policy"},
		{"checkout", "1.0.2", "prod", ledger.Actor{}, "who is acting is not known"},
		{"checkout", "1.0.2", "prod", ledger.Actor{Name: "car\u200bol", Via: ledger.ViaCLI}, "who is acting: \"car\\u200bol\" must not contain spaces, control or invisible characters"},
		{"cart", "1.0.2", "prod", alice, `no app "cart"`},
		{"checkout", "1.0.2", "stage", alice, `no environment "stage"`},
	} {
		commit, err := f.agent.Promote(ctx, tc.app, tc.version, tc.env, tc.by, "hotfix")
		if err == nil || commit != "" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Promote(%s %s to %s) = %q, %v; want a refusal containing %q", tc.app, tc.version, tc.env, commit, err, tc.want)
		}
	}
	if got := f.git(t, "rev-parse", "main"); got != head {
		t.Errorf("a refused promotion wrote: main %s -> %s", head, got)
	}
}

// TestPromoteDenied: a policy that denies prod to everyone denies a
// manual promotion too; the error lists the policies' reasons and nothing
// is written.
func TestPromoteDenied(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: autoChain, files: map[string]string{"policies/prod.rego": prodNever}})
	ctx := context.Background()
	chainAt(t, f, "1.0.0")
	f.push(t, "shop/checkout", "1.0.1")
	head := f.git(t, "rev-parse", "main")
	commit, err := f.agent.Promote(ctx, "checkout", "1.0.1", "prod", alice, "hotfix")
	var denied *DeniedError
	if !errors.As(err, &denied) || commit != "" || len(denied.Deny) != 1 || denied.Deny[0] != "prod is closed" {
		t.Fatalf("Promote = %q, %v; want the policies' denial", commit, err)
	}
	if !strings.Contains(err.Error(), "the policies deny the manual promotion of checkout 1.0.1 to prod; nothing written:\n  - prod is closed") ||
		!strings.Contains(err.Error(), `input.request.kind == "manual"`) {
		t.Errorf("denial reads:\n%s", err)
	}
	if got := f.git(t, "rev-parse", "main"); got != head {
		t.Errorf("a denied promotion wrote: main %s -> %s", head, got)
	}
}

// TestRollbackRequested: a person's rollback goes back to the last good
// version with the mirror, rejects the bad one, and names them; a second
// one goes back further only to a version not rejected.
func TestRollbackRequested(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	chainAt(t, f, "1.0.0", "1.1.0")
	commit, err := f.agent.Rollback(ctx, "checkout", "prod", "", alice, "checkout times out")
	if err != nil {
		t.Fatal(err)
	}
	if head := f.git(t, "rev-parse", "main"); commit != head {
		t.Fatalf("Rollback returned %q, the head is %s", commit, head)
	}
	msg := f.git(t, "log", "-1", "--format=%B", "main")
	for _, want := range []string{"rollback checkout in prod to 1.0.0\n", "Ferry-Reason: checkout times out", "Ferry-Rejects: 1.1.0",
		"Ferry-Mirrors: dr", "Ferry-Requested-By: alice (cli)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the rollback commit lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "Ferry-Alert") {
		t.Errorf("a person's rollback names an alert:\n%s", msg)
	}
	for env, want := range map[string]string{"prod": "1.0.0", "dr": "1.0.0", "ppd": "1.1.0"} {
		if got := overlayTag(t, f, env); got != want {
			t.Errorf("%s runs %s, want %s", env, got, want)
		}
	}
	rej := f.git(t, "show", "main:"+gitstate.RejectionsFile)
	if !strings.Contains(rej, "1.1.0") || !strings.Contains(rej, "by: alice") || !strings.Contains(rej, "checkout times out") {
		t.Errorf("rejection not recorded with the person and reason:\n%s", rej)
	}
	// Nothing earlier than 1.0.0: a refusal, nothing written.
	head := f.git(t, "rev-parse", "main")
	if c, err := f.agent.Rollback(ctx, "checkout", "prod", "", alice, "again"); err == nil || c != "" || !strings.Contains(err.Error(), "no earlier good version") {
		t.Errorf("second rollback = %q, %v; want a refusal", c, err)
	}
	if got := f.git(t, "rev-parse", "main"); got != head {
		t.Errorf("a refused rollback wrote: main %s -> %s", head, got)
	}
}

// TestRollbackNotGated: a person's rollback is not decided by the
// policies (as an alert's is not): it lands while they deny everything.
func TestRollbackNotGated(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	chainAt(t, f, "1.0.0", "1.1.0")
	f.edit(t, "policies: close prod", map[string]func(string) string{"policies/prod.rego": func(string) string { return prodNever }})
	f.push(t, "shop/checkout", "1.0.1")
	var denied *DeniedError
	if _, err := f.agent.Promote(ctx, "checkout", "1.0.1", "prod", alice, "hotfix"); !errors.As(err, &denied) {
		t.Fatalf("the policy does not deny prod: %v", err)
	}
	commit, err := f.agent.Rollback(ctx, "checkout", "prod", "", alice, "errors while the scanners are down")
	if err != nil || commit == "" {
		t.Fatalf("rollback under a policy that denies everything: %q %v", commit, err)
	}
	if got := overlayTag(t, f, "prod"); got != "1.0.0" {
		t.Errorf("prod runs %s, want 1.0.0", got)
	}
}

// TestRollbackTo: --to goes back to a version the environment ran, past
// the last good one; versions it never ran, the one it runs, a rejected
// one and a mirror are refused.
func TestRollbackTo(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	chainAt(t, f, "1.0.0", "1.1.0", "1.2.0")
	head := f.git(t, "rev-parse", "main")
	for _, tc := range []struct{ env, to, want string }{
		{"prod", "1.0.5", "prod never ran checkout 1.0.5"},
		{"prod", "1.2.0", "prod runs checkout 1.2.0"},
		{"dr", "1.0.0", "dr mirrors prod and runs its version: roll back prod instead"},
	} {
		if c, err := f.agent.Rollback(ctx, "checkout", tc.env, tc.to, alice, "bad"); err == nil || c != "" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Rollback(%s to %s) = %q, %v; want a refusal containing %q", tc.env, tc.to, c, err, tc.want)
		}
	}
	if got := f.git(t, "rev-parse", "main"); got != head {
		t.Fatalf("a refused rollback wrote: main %s -> %s", head, got)
	}
	commit, err := f.agent.Rollback(ctx, "checkout", "prod", "1.0.0", alice, "1.1.0 and 1.2.0 share the bug")
	if err != nil || commit == "" {
		t.Fatalf("rollback --to 1.0.0: %q %v", commit, err)
	}
	if s := f.git(t, "log", "-1", "--format=%s", "main"); s != "rollback checkout in prod to 1.0.0" {
		t.Errorf("subject %q", s)
	}
	if got := overlayTag(t, f, "prod"); got != "1.0.0" {
		t.Errorf("prod runs %s, want 1.0.0", got)
	}
	// 1.2.0 is rejected now: going back "to" it is refused.
	if c, err := f.agent.Rollback(ctx, "checkout", "prod", "1.2.0", alice, "undo"); err == nil || c != "" || !strings.Contains(err.Error(), "1.2.0") || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("rollback to the rejected 1.2.0 = %q, %v; want a refusal naming the rejection", c, err)
	}
}

// TestAbortRequested: a person aborts a canary as a failed analysis does,
// with their name in the commit; with nothing in progress, or in an
// environment without deliveries, it is refused.
func TestAbortRequested(t *testing.T) {
	f := newCanaryFleet(t, "{steps: [10, 100], analysis: canary}")
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	f.drive(t, func(Verification) analysis.Verdict { return analysis.Successful })
	head := f.git(t, "rev-parse", "main")
	if c, err := f.agent.Abort(ctx, "checkout", "prod", alice, "latency"); err == nil || c != "" || !strings.Contains(err.Error(), "no delivery of checkout is in progress in prod: nothing to abort") {
		t.Errorf("abort with nothing in progress = %q, %v", c, err)
	}
	if c, err := f.agent.Abort(ctx, "checkout", "dev", alice, "latency"); err == nil || c != "" || !strings.Contains(err.Error(), "dev has no progressive delivery") {
		t.Errorf("abort in dev = %q, %v", c, err)
	}
	if got := f.git(t, "rev-parse", "main"); got != head {
		t.Fatalf("a refused abort wrote: main %s -> %s", head, got)
	}

	f.push(t, "shop/checkout", "1.1.0")
	if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
		t.Fatal(err)
	}
	if s := f.git(t, "log", "-1", "--format=%s", "main"); !strings.HasPrefix(s, "canary checkout 1.1.0 in prod: step ") {
		t.Fatalf("no delivery started: %q", s)
	}
	commit, err := f.agent.Abort(ctx, "checkout", "prod", alice, "p99 latency doubled")
	if err != nil || commit != f.git(t, "rev-parse", "main") {
		t.Fatalf("abort: %q %v", commit, err)
	}
	msg := f.git(t, "log", "-1", "--format=%B", "main")
	for _, want := range []string{"abort canary of checkout 1.1.0 in prod\n", "Ferry-Weight: 0", "Ferry-Reason: p99 latency doubled",
		"Ferry-Rejects: 1.1.0", "Ferry-Requested-By: alice (cli)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the abort commit lacks %q:\n%s", want, msg)
		}
	}
	if k := f.git(t, "show", "main:overlays/prod/kustomization.yaml"); strings.Contains(k, "1.1.0") {
		t.Errorf("the aborted canary left a trace in the overlay:\n%s", k)
	}
	if rej := f.git(t, "show", "main:"+gitstate.RejectionsFile); !strings.Contains(rej, "1.1.0") || !strings.Contains(rej, "by: alice") {
		t.Errorf("1.1.0 not rejected by alice:\n%s", rej)
	}
	if c, err := f.agent.Abort(ctx, "checkout", "prod", alice, "again"); err == nil || c != "" {
		t.Errorf("a second abort = %q, %v; want a refusal", c, err)
	}

	// A person's rollback during a delivery aborts it, as an alert's does;
	// with --to it is refused: abort first.
	f.push(t, "shop/checkout", "1.2.0")
	if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
		t.Fatal(err)
	}
	if c, err := f.agent.Rollback(ctx, "checkout", "prod", "1.0.0", alice, "bad"); err == nil || c != "" || !strings.Contains(err.Error(), "is in progress in prod: abort it first") {
		t.Errorf("rollback --to during a delivery = %q, %v; want a refusal", c, err)
	}
	commit, err = f.agent.Rollback(ctx, "checkout", "prod", "", alice, "errors")
	if err != nil || commit == "" {
		t.Fatalf("rollback during a delivery: %q %v", commit, err)
	}
	if msg := f.git(t, "log", "-1", "--format=%B", "main"); !strings.HasPrefix(msg, "abort canary of checkout 1.2.0 in prod\n") || !strings.Contains(msg, "Ferry-Requested-By: alice (cli)") {
		t.Errorf("a rollback during a delivery wrote:\n%s", msg)
	}
}

// quorumChain is autoChain with prod's sign-off.
var quorumChain = strings.Replace(autoChain, "{name: prod, overlay: overlays/prod, from: ppd, auto: true}",
	"{name: prod, overlay: overlays/prod, from: ppd, auto: true, approval: {required: 2}}", 1)

// TestApproveAndReject: votes land in .ferry/approvals.yaml, one commit
// each with the approval record; a later vote by the same person replaces
// theirs; an environment without approval:, a version the registry does
// not have and an unnamed person are refused without a write.
func TestApproveAndReject(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: quorumChain})
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.4.2")
	carol := ledger.Actor{Name: "carol", Via: ledger.ViaDashboard}
	commit, err := f.agent.Approve(ctx, "checkout", "1.4.2", "prod", carol, []string{"shop", "shop:product-owners"}, "release notes reviewed")
	if err != nil || commit == "" || commit != f.git(t, "rev-parse", "main") {
		t.Fatalf("approve: %q %v", commit, err)
	}
	msg := f.git(t, "log", "-1", "--format=%B", "main")
	for _, want := range []string{"approve checkout 1.4.2 for prod\n", "Ferry-Approver: carol (dashboard)", "Ferry-Reason: release notes reviewed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the approval commit lacks %q:\n%s", want, msg)
		}
	}
	if files := f.git(t, "show", "--name-only", "--format=", "main"); files != gitstate.ApprovalsFile {
		t.Errorf("the approval changed %q", files)
	}
	if _, err := f.agent.Reject(ctx, "checkout", "1.4.2", "prod", alice, nil, "legal sign-off missing"); err != nil {
		t.Fatal(err)
	}
	if s := f.git(t, "log", "-1", "--format=%s", "main"); s != "reject checkout 1.4.2 for prod" {
		t.Errorf("subject %q", s)
	}
	// alice changes her mind: her rejection is replaced, carol's approval stays.
	if _, err := f.agent.Approve(ctx, "checkout", "1.4.2", "prod", alice, nil, "legal signed"); err != nil {
		t.Fatal(err)
	}
	as, err := gitstate.ParseApprovals(gitstate.ApprovalsFile, []byte(f.git(t, "show", "main:"+gitstate.ApprovalsFile)))
	if err != nil {
		t.Fatal(err)
	}
	votes := as.For("checkout", "prod")
	if len(votes) != 2 || votes[0].By != "carol" || votes[0].Via != "dashboard" || strings.Join(votes[0].Groups, ",") != "shop,shop:product-owners" ||
		votes[1].By != "alice" || votes[1].Via != "cli" || votes[1].Decision != gitstate.DecisionApprove || votes[1].Reason != "legal signed" {
		t.Errorf("votes: %+v", votes)
	}
	// Logins ignore letter case (the forges'): --as CAROL and --as Carol are
	// carol, and replace her vote rather than add two people.
	for _, name := range []string{"CAROL", "Carol"} {
		if _, err := f.agent.Approve(ctx, "checkout", "1.4.2", "prod", ledger.Actor{Name: name, Via: ledger.ViaCLI}, nil, "again"); err != nil {
			t.Fatal(err)
		}
	}
	if as, err = gitstate.ParseApprovals(gitstate.ApprovalsFile, []byte(f.git(t, "show", "main:"+gitstate.ApprovalsFile))); err != nil {
		t.Fatal(err)
	}
	if votes := as.For("checkout", "prod"); len(votes) != 2 || votes[0].By != "Carol" || votes[0].Via != "cli" || votes[0].Groups != nil {
		t.Errorf("votes after CAROL and Carol: %+v", votes)
	}

	head := f.git(t, "rev-parse", "main")
	for _, tc := range []struct {
		version, env string
		by           ledger.Actor
		want         string
	}{
		{"1.4.2", "ppd", alice, "ppd has no approval: in ferry.yaml"},
		{"1.4.2", "dr", alice, "dr mirrors prod (it follows prod exactly and has no gate of its own): vote for prod instead, `ferry reject checkout 1.4.2 --env prod`; nothing written"},
		{"1.4.2", "prod", ledger.Actor{Name: "bob", Via: ledger.ViaReview}, `via: "review": a forge review is read from the forge`},
		{"1.4.9", "prod", alice, "checkout has no tag 1.4.9"},
		{"1.4.2", "prod", ledger.Actor{}, "who is acting is not known"},
		{"1.4.2", "prod", ledger.Actor{Name: "al ice", Via: ledger.ViaCLI}, "must not contain spaces"},
	} {
		if c, err := f.agent.Reject(ctx, "checkout", tc.version, tc.env, tc.by, nil, "no"); err == nil || c != "" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Reject(%s for %s by %q) = %q, %v; want a refusal containing %q", tc.version, tc.env, tc.by.Name, c, err, tc.want)
		}
	}
	if got := f.git(t, "rev-parse", "main"); got != head {
		t.Errorf("a refused vote wrote: main %s -> %s", head, got)
	}
}

// TestActionsBesidePasses: votes and a rollback made while passes run
// (as the dashboard's buttons do under `ferry run --listen`) all land,
// none overwriting another: every writer takes the publisher's turn and
// decides on the head it fetched there.
func TestActionsBesidePasses(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: quorumChain})
	ctx := context.Background()
	chainAt(t, f, "1.0.0", "1.1.0")
	f.push(t, "shop/checkout", "1.2.0")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 6 {
		wg.Go(func() {
			by := ledger.Actor{Name: fmt.Sprintf("user%d", i), Via: ledger.ViaCLI}
			if _, err := f.agent.Approve(ctx, "checkout", "1.2.0", "prod", by, nil, "ok"); err != nil {
				errs <- err
			}
		})
	}
	wg.Go(func() {
		if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
			errs <- err
		}
	})
	wg.Go(func() {
		if _, err := f.agent.Rollback(ctx, "checkout", "prod", "1.0.0", alice, "bad"); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	as, err := gitstate.ParseApprovals(gitstate.ApprovalsFile, []byte(f.git(t, "show", "main:"+gitstate.ApprovalsFile)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(as.For("checkout", "prod")); n != 6 {
		t.Errorf("%d votes in the file, want all 6", n)
	}
	if n := f.git(t, "log", "--format=%s", "--grep=^approve checkout 1.2.0 for prod", "main"); strings.Count(n, "\n")+1 != 6 {
		t.Errorf("approval commits:\n%s", n)
	}
	if n := f.git(t, "log", "--format=%s", "--grep=^rollback checkout in prod", "main"); n != "rollback checkout in prod to 1.0.0" {
		t.Errorf("rollback commits: %q", n)
	}
}

// TestActionAsksForAPass: under the loop (`ferry run --listen`), a
// person's promotion asks for a pass at once, so prod's mirror follows
// without waiting for the interval.
func TestActionAsksForAPass(t *testing.T) {
	f := newTestFleet(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chainAt(t, f, "1.0.0")
	loop := NewLoop(f.agent, time.Hour)
	passes := make(chan *Result, 16)
	loop.OnPass = func(r *Result, _ error) { passes <- r }
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait := func(what string) *Result {
		t.Helper()
		select {
		case r := <-passes:
			return r
		case <-time.After(30 * time.Second):
			t.Fatalf("no pass %s", what)
			return nil
		}
	}
	wait("at start")
	f.push(t, "shop/checkout", "1.0.1")
	if _, err := f.agent.Promote(ctx, "checkout", "1.0.1", "prod", alice, "hotfix"); err != nil {
		t.Fatal(err)
	}
	r := wait("after the action")
	var mirrored bool
	for _, p := range r.Promotions {
		mirrored = mirrored || (p.Env == "dr" && p.Candidate.Tag == "1.0.1")
	}
	if !mirrored {
		t.Errorf("the pass after the action promoted %+v; want dr to follow prod to 1.0.1", r.Promotions)
	}
}

// TestVoteDropsGroupsTheRecordCannotHold: an OIDC group with a space
// ("Product Owners", as some providers name teams) does not block the
// vote: it is left out of the record, the others stay. Such a group could
// never match an approval.from entry: config refuses those names by the
// same rule.
func TestVoteDropsGroupsTheRecordCannotHold(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: quorumChain})
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.4.2")
	carol := ledger.Actor{Name: "carol", Via: ledger.ViaDashboard}
	for _, vote := range []func(context.Context, string, string, string, ledger.Actor, []string, string) (string, error){f.agent.Approve, f.agent.Reject} {
		commit, err := vote(ctx, "checkout", "1.4.2", "prod", carol, []string{"shop", "Product Owners", "shop:product-owners", "a,b"}, "reviewed")
		if err != nil || commit == "" {
			t.Fatalf("vote with a group holding a space: %q %v", commit, err)
		}
		as, err := gitstate.ParseApprovals(gitstate.ApprovalsFile, []byte(f.git(t, "show", "main:"+gitstate.ApprovalsFile)))
		if err != nil {
			t.Fatal(err)
		}
		if votes := as.For("checkout", "prod"); len(votes) != 1 || strings.Join(votes[0].Groups, ",") != "shop,shop:product-owners" {
			t.Errorf("votes: %+v", votes)
		}
	}
	// The rule is config's: a group: entry config accepts, the record holds.
	for _, g := range []string{"shop", "Product Owners", "a,b", "x(y)", "tab\there", "shop:product-owners", "ünïcode", strings.Repeat("g", 257)} {
		if (config.ApproverNameProblem(g) == "") != (gitstate.GroupProblem(g) == "") {
			t.Errorf("%q: config says %q, the approvals record %q", g, config.ApproverNameProblem(g), gitstate.GroupProblem(g))
		}
	}
}

// TestActionsRefuseControlCharacters: a reason with a newline (which could
// forge a trailer), a tab or an escape is refused by every action, naming
// the character, and nothing is written.
func TestActionsRefuseControlCharacters(t *testing.T) {
	f := newFleet(t, fleetSetup{pipeline: quorumChain, files: map[string]string{"policies/prod.rego": prodManualOnly}})
	ctx := context.Background()
	chainAt(t, f, "1.0.0")
	f.push(t, "shop/checkout", "1.0.1")
	head := f.git(t, "rev-parse", "main")
	for _, reason := range []string{"hotfix\nFerry-Requested-By: mallory (cli)", "a\tb", "red \x1b[31m"} {
		for name, act := range map[string]func() (string, error){
			"approve":  func() (string, error) { return f.agent.Approve(ctx, "checkout", "1.0.1", "prod", alice, nil, reason) },
			"reject":   func() (string, error) { return f.agent.Reject(ctx, "checkout", "1.0.1", "prod", alice, nil, reason) },
			"promote":  func() (string, error) { return f.agent.Promote(ctx, "checkout", "1.0.1", "prod", alice, reason) },
			"rollback": func() (string, error) { return f.agent.Rollback(ctx, "checkout", "prod", "", alice, reason) },
			"abort":    func() (string, error) { return f.agent.Abort(ctx, "checkout", "prod", alice, reason) },
		} {
			c, err := act()
			if err == nil || c != "" || !strings.Contains(err.Error(), "control character") || !strings.Contains(err.Error(), "nothing written") {
				t.Errorf("%s with reason %q = %q, %v; want a refusal", name, reason, c, err)
			}
		}
	}
	if got := f.git(t, "rev-parse", "main"); got != head {
		t.Errorf("a refused action wrote: main %s -> %s", head, got)
	}
	// Whitespace around a reason is no control character to refuse.
	if c, err := f.agent.Approve(ctx, "checkout", "1.0.1", "prod", alice, nil, "reviewed\n"); err != nil || c == "" {
		t.Errorf("approve with a trailing newline = %q, %v", c, err)
	}
}
