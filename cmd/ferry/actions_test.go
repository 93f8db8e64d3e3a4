package main

import (
	"os"
	"os/user"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
)

// actionsPipeline is a chain whose prod needs a sign-off.
const actionsPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, approval: {required: 1}}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// TestActionCommands: each command writes its commit naming the person
// (--as, else $FERRY_USER, else the OS user, all "(cli)") and prints it.
func TestActionCommands(t *testing.T) {
	f := newCmdFleet(t, actionsPipeline, nil)
	f.push(t, "shop/checkout", "1.0.0")
	t.Setenv("FERRY_USER", "carol")
	code, out, stderr, err := f.ferry(t, "approve", "checkout", "1.0.0", "--env", "prod", "--reason", "release notes reviewed")
	if code != 0 || !strings.HasPrefix(out, "pushed "+f.head(t)[:12]) {
		t.Fatalf("approve: exit %d, %v, stdout %q\n%s", code, err, out, stderr)
	}
	msg := f.git(t, "log", "-1", "--format=%B", "main")
	if !strings.Contains(msg, "approve checkout 1.0.0 for prod\n") || !strings.Contains(msg, "Ferry-Approver: carol (cli)") {
		t.Errorf("approve commit:\n%s", msg)
	}
	if code, _, _, err := f.ferry(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once: %v", err)
	}
	f.push(t, "shop/checkout", "1.1.0")
	if code, _, _, err := f.ferry(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once: %v", err)
	}

	// --as wins over $FERRY_USER.
	code, _, stderr, err = f.ferry(t, "reject", "checkout", "1.1.0", "--env", "prod", "--reason", "legal sign-off missing", "--as", "dave")
	if code != 0 {
		t.Fatalf("reject: exit %d, %v\n%s", code, err, stderr)
	}
	if msg := f.git(t, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, "reject checkout 1.1.0 for prod\n") || !strings.Contains(msg, "Ferry-Approver: dave (cli)") {
		t.Errorf("reject commit:\n%s", msg)
	}
	if a := f.git(t, "show", "main:"+gitstate.ApprovalsFile); !strings.Contains(a, "decision: reject") || !strings.Contains(a, `reason: "legal sign-off missing"`) && !strings.Contains(a, "reason: legal sign-off missing") {
		t.Errorf("approvals file:\n%s", a)
	}

	// Without $FERRY_USER the OS user acts (set blank, it is refused).
	t.Setenv("FERRY_USER", "")
	os.Unsetenv("FERRY_USER")
	u, err := user.Current()
	if err != nil {
		t.Skip("no OS user:", err)
	}
	code, _, stderr, err = f.ferry(t, "promote", "checkout", "1.1.0", "--env", "dev", "--reason", "again")
	if code != 1 || err == nil || !strings.Contains(err.Error(), "dev runs checkout 1.1.0") {
		t.Errorf("promote of what dev runs: exit %d, %v\n%s", code, err, stderr)
	}
	f.push(t, "shop/checkout", "1.2.0")
	code, out, stderr, err = f.ferry(t, "promote", "checkout", "1.2.0", "--env", "dev", "--reason", "hotfix")
	if code != 0 || !strings.HasPrefix(out, "pushed ") {
		t.Fatalf("promote: exit %d, %v, %q\n%s", code, err, out, stderr)
	}
	msg = f.git(t, "log", "-1", "--format=%B", "main")
	if !strings.Contains(msg, "promote checkout 1.2.0 to dev\n") || !strings.Contains(msg, "Ferry-From: manual") || !strings.Contains(msg, "Ferry-Requested-By: "+u.Username+" (cli)") {
		t.Errorf("promote commit:\n%s", msg)
	}

	code, _, stderr, err = f.ferry(t, "rollback", "checkout", "--env", "dev", "--to", "1.0.0", "--reason", "1.1.0 and 1.2.0 share the bug", "--as", "alice")
	if code != 0 {
		t.Fatalf("rollback: exit %d, %v\n%s", code, err, stderr)
	}
	msg = f.git(t, "log", "-1", "--format=%B", "main")
	for _, want := range []string{"rollback checkout in dev to 1.0.0\n", "Ferry-Rejects: 1.2.0", "Ferry-Reason: 1.1.0 and 1.2.0 share the bug", "Ferry-Requested-By: alice (cli)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("rollback commit lacks %q:\n%s", want, msg)
		}
	}
}

// TestActionCommandRefusals: bad names, missing flags, a bad --as and the
// agent's refusals exit 1 with the reason and write nothing.
func TestActionCommandRefusals(t *testing.T) {
	f := newCmdFleet(t, actionsPipeline, nil)
	f.push(t, "shop/checkout", "1.0.0")
	t.Setenv("FERRY_USER", "alice")
	head := f.head(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"approve", "checkout", "1.0.0", "--env", "prd"}, `--env "prd": no such environment in ` + f.cfg + ` (environments: dev, prod, dr)`},
		{[]string{"approve", "chekout", "1.0.0", "--env", "prod"}, `app "chekout": no such app in ` + f.cfg + ` (apps: checkout)`},
		{[]string{"approve", "checkout", "1.0.0", "--env", "dev"}, "dev has no approval: in"},
		{[]string{"approve", "checkout", "9.9.9", "--env", "prod"}, "checkout has no tag 9.9.9"},
		{[]string{"approve", "checkout", "1.0.0"}, `required flag(s) "env" not set`},
		{[]string{"approve", "checkout", "1.0.0", "--env", "prod", "--as", "al ice"}, `--as "al ice": a name without spaces`},
		{[]string{"reject", "checkout", "1.0.0", "--env", "prod"}, `required flag(s) "reason" not set`},
		{[]string{"promote", "checkout", "1.0.0", "--env", "prod"}, `required flag(s) "reason" not set`},
		{[]string{"promote", "checkout", "1.0.0", "--env", "dr", "--reason", "x"}, "dr mirrors prod"},
		{[]string{"promote", "checkout", "1.0.0", "--env", "prod", "--reason", "   "}, "--reason is empty"},
		{[]string{"rollback", "checkout", "--env", "prod"}, `required flag(s) "reason" not set`},
		{[]string{"rollback", "checkout", "--env", "prod", "--reason", "x"}, "no earlier good version of checkout in prod to roll back to from 0.0.0 (x); nothing changed"},
		{[]string{"abort", "checkout", "--env", "prod", "--reason", "x"}, "prod has no progressive delivery"},
		{[]string{"abort", "checkout", "--env", "prod"}, `required flag(s) "reason" not set`},
		{[]string{"promote", "checkout", "1.0.0", "--env", "prod", "--reason", "hotfix\nFerry-Requested-By: mallory (cli)"}, "the reason has a control character (U+000A"},
		{[]string{"approve", "checkout", "1.0.0", "--env", "prod", "--reason", "ok\x1b[2J"}, "the reason has a control character (U+001B"},
	} {
		code, out, _, err := f.ferry(t, tc.args...)
		if code != 1 || err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("%v: exit %d, error %v, stdout %q; want exit 1 and an error containing %q", tc.args, code, err, out, tc.want)
		}
	}
	if got := f.head(t); got != head {
		t.Errorf("a refused action wrote: main %.12s -> %.12s", head, got)
	}
}

// TestVoteOnUnverifiedFile (red team): under verifyCommits require, a vote
// is refused when a person last changed .ferry/approvals.yaml without a
// signature (ferry's signed commit would adopt their change, such as a
// rejection removed), and nothing is written.
func TestVoteOnUnverifiedFile(t *testing.T) {
	key := gitsigtest.NewSSHKey(t, "ferry")
	pipeline := signedPipeline(key, "require", "  - {name: prod, overlay: overlays/prod, from: dev, auto: true, approval: {required: 1}}\n")
	f := newCmdFleet(t, pipeline, map[string]string{".ferry/allowed_signers": "# nobody yet\n",
		gitstate.ApprovalsFile: "apiVersion: ferry.dev/v1alpha1\nkind: Approvals\napprovals:\n- {app: checkout, env: prod, version: 1.0.0, by: bob, decision: approve, at: \"2026-12-07T08:00:00Z\"}\n"})
	f.push(t, "shop/checkout", "1.0.0")
	before := f.head(t)
	code, out, _, err := f.ferry(t, "approve", "checkout", "1.0.0", "--env", "prod", "--as", "carol")
	if code != 1 || err == nil || !strings.Contains(err.Error(), gitstate.ApprovalsFile+" was last changed by an unverified commit") || out != "" {
		t.Fatalf("approve on an unverified approvals file: exit %d, %v, %q", code, err, out)
	}
	if after := f.head(t); after != before {
		t.Errorf("ferry approve wrote %s", after)
	}
}
