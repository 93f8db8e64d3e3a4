//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ferry-dev/ferry/e2e/gitea"
)

// approvalConfig is the README's "Approvals on pull requests" example: prod
// is promoted by a pull request that needs one approval from the team
// product-owners of the fleet repo's owner (the organization shop).
const approvalConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git:
  url: FLEET
  branch: main
  author: {name: ferry, email: ferry@example.com}
  auth: {usernameFile: USERFILE, passwordFile: TOKENFILE}
  provider: {kind: gitea, url: GITEA, tokenFile: TOKENFILE}
apps:
  - name: checkout
    image: REGISTRY/shop/checkout
    tags: {semver: ">=1.0.0"}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - name: prod
    overlay: overlays/prod
    from: ppd
    pullRequest: true
    approval:
      required: 1
      from: [team:product-owners]
      forbidSelf: true
      expires: 72h
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// TestApprovalOnPullRequest: with approval:, prod's pull request opens while
// it awaits approval and its body says so; the pull request's author's own
// approval (forbidSelf) and an expired one do not count; an approving review
// by someone outside the team does not count; a request for changes by a member blocks;
// once a member approves, ferry merges the pull request itself and the merge
// commit on main is the promotion record naming the approver.
func TestApprovalOnPullRequest(t *testing.T) {
	srv := gitea.Start(t, gitea.Binary(t))
	srv.AddUser(t, "alice")
	srv.AddUser(t, "bob")
	srv.AddOrg(t, "shop")
	// ferry's own forge account, which opens the pull requests, is in the
	// team too: only forbidSelf keeps its vote from counting.
	srv.AddTeam(t, "shop", "product-owners", "bob", srv.User())
	clone := srv.CreateOrgRepo(t, "shop", "fleet")
	reg := startRegistry(t, "", "")
	dir := t.TempDir()
	userFile := writeFile(t, filepath.Join(dir, "user"), srv.User()+"\n")
	tokenFile := writeFile(t, filepath.Join(dir, "token"), srv.Token()+"\n")
	cfg := strings.NewReplacer("FLEET", clone, "REGISTRY", reg.host, "GITEA", srv.URL(),
		"USERFILE", userFile, "TOKENFILE", tokenFile).Replace(approvalConfig)
	files := exampleFiles(t, reg.host)
	files["ferry.yaml"] = []byte(cfg)
	files["policies/common.rego"] = readRepoFile(t, "policies/common.rego")
	files["policies/approvals.rego"] = approvalRules(t)
	seedRemote(t, clone, srv.User(), srv.Token(), files)

	work := t.TempDir()
	run := func() string {
		t.Helper()
		out, code := runFerry(t, "run", "--once", "--config", clone, "--work-dir", work)
		if code != 0 {
			t.Fatalf("ferry run --once exited %d:\n%s", code, out)
		}
		return out
	}
	t.Setenv("FERRY_GIT_USERNAME_FILE", userFile)
	t.Setenv("FERRY_GIT_PASSWORD_FILE", tokenFile)
	pr := func() *sdk.PullRequest {
		t.Helper()
		p, _, err := srv.Client(context.Background()).GetPullRequest("shop", "fleet", 1)
		if err != nil {
			t.Fatalf("get pull request #1: %v", err)
		}
		return p
	}

	reg.push(t, "shop/checkout", "1.0.0")
	out := run()
	if !strings.Contains(out, "opened pull request #1: awaiting approval: 0 of 1 (needs team:product-owners)") {
		t.Fatalf("no pull request opened while awaiting approval:\n%s", out)
	}
	p := pr()
	for _, want := range []string{"### Decision: awaiting approval", "### Approvals: 0 of 1: awaiting approval (needs team:product-owners)",
		"`ferry approve checkout 1.0.0 --env prod", "ferry merges this pull request itself"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the body lacks %q:\n%s", want, p.Body)
		}
	}

	// The pull request's author (ferry's account, a team member) approves
	// with ferry approve: forbidSelf keeps it from counting.
	if out, code := runFerry(t, "approve", "checkout", "1.0.0", "--env", "prod", "--as", srv.User(), "--config", clone,
		"--work-dir", t.TempDir(), "--reason", "I opened it"); code != 0 {
		t.Fatalf("ferry approve exited %d:\n%s", code, out)
	}
	// bob's vote in the approvals file, cast 4 days ago: past expires (72h).
	authed := authURL(t, clone, srv.User(), srv.Token())
	hostedPersonCommit(t, authed, ".ferry/approvals.yaml", func(old string) string {
		return old + "  - {app: checkout, env: prod, version: 1.0.0, by: bob, via: cli, decision: approve, at: \"" +
			time.Now().Add(-96*time.Hour).UTC().Format(time.RFC3339) + "\"}\n"
	})
	out = run()
	if !strings.Contains(out, "pull request #1: awaiting approval: 0 of 1") {
		t.Fatalf("the author's own and an expired approval should not count:\n%s", out)
	}
	if p = pr(); p.HasMerged || !strings.Contains(p.Body, "- "+srv.User()+" (cli): the requester's own (forbidSelf)") ||
		!strings.Contains(p.Body, "- bob (cli): expired: cast 96h ago, votes count for 72h") {
		t.Fatalf("merged %v; the body should say why the author's and the expired vote do not count:\n%s", p.HasMerged, p.Body)
	}

	// alice is in no team: her approval is listed, and does not count.
	srv.Review(t, "alice", "shop", "fleet", 1, sdk.ReviewStateApproved, "looks fine to me")
	out = run()
	if !strings.Contains(out, "pull request #1 is open: awaiting approval: 0 of 1") {
		t.Fatalf("alice's approval should not count:\n%s", out)
	}
	if p = pr(); p.HasMerged || !strings.Contains(p.Body, "- alice (review): not in from (team:product-owners)") {
		t.Fatalf("merged %v; the body should say why alice's approval does not count:\n%s", p.HasMerged, p.Body)
	}

	// bob, of product-owners, requests changes: that blocks.
	srv.Review(t, "bob", "shop", "fleet", 1, sdk.ReviewStateRequestChanges, "not before the migration")
	out = run()
	if !strings.Contains(out, "rejected by bob (review)") {
		t.Fatalf("bob's request for changes should block:\n%s", out)
	}
	if p = pr(); p.HasMerged || !strings.Contains(p.Body, "Rejected by (blocks until withdrawn):\n- bob (review)") {
		t.Fatalf("merged %v; the body should show bob's rejection:\n%s", p.HasMerged, p.Body)
	}

	// bob approves: the quorum is met, ferry merges.
	srv.Review(t, "bob", "shop", "fleet", 1, sdk.ReviewStateApproved, "migration done")
	out = run()
	if !strings.Contains(out, "merged pull request #1 (approved by bob (review, team:product-owners))") {
		t.Fatalf("ferry did not merge after bob's approval:\n%s", out)
	}
	if p = pr(); !p.HasMerged {
		t.Fatalf("pull request #1 is not merged: %s", p.State)
	}
	if p.MergedCommitID == nil {
		t.Fatal("pull request #1 names no merge commit")
	}
	// The merge commit is on main's first-parent history, where ferry's
	// history reading finds it.
	msg := gitLogMessage(t, authed, *p.MergedCommitID)
	if fp := gitFirstParents(t, authed); !strings.Contains(fp, *p.MergedCommitID) {
		t.Errorf("main's first parents %s lack the merge %s", fp, *p.MergedCommitID)
	}
	for _, want := range []string{"promote checkout 1.0.0 to prod\n", "Ferry-Version: 1.0.0\n", "Ferry-Approved-By: bob (review, team:product-owners)\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("main's merge commit lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "alice") {
		t.Errorf("alice's approval did not count, yet the commit names her:\n%s", msg)
	}

	// The next pass reads the merge: prod runs 1.0.0 and dr follows it.
	run()
	if dr := showRemote(t, authed, "overlays/dr/kustomization.yaml"); !strings.Contains(dr, "newTag: 1.0.0") {
		t.Fatalf("dr should follow prod to 1.0.0:\n%s", dr)
	}

	// A person who merges before the quorum makes a manual promotion: prod
	// moves, and main's merge commit carries no approvals.
	reg.push(t, "shop/checkout", "1.1.0")
	if out := run(); !strings.Contains(out, "opened pull request #2: awaiting approval: 0 of 1") {
		t.Fatalf("no pull request for 1.1.0:\n%s", out)
	}
	srv.Merge(t, "shop", "fleet", 2)
	run()
	if prod := showRemote(t, authed, "overlays/prod/kustomization.yaml"); !strings.Contains(prod, "newTag: 1.1.0") {
		t.Fatalf("a person's merge should move prod to 1.1.0:\n%s", prod)
	}
	merged, _, err := srv.Client(context.Background()).GetPullRequest("shop", "fleet", 2)
	if err != nil || merged.MergedCommitID == nil {
		t.Fatalf("pull request #2: %v", err)
	}
	if msg := gitLogMessage(t, authed, *merged.MergedCommitID); strings.Contains(msg, "Ferry-Approved-By") || strings.Contains(msg, "Ferry-App:") {
		t.Errorf("a person's merge is no ferry record:\n%s", msg)
	}
	// The proposal commit under the person's merge says it awaited approval.
	if msg := gitLogMessage(t, authed, *merged.MergedCommitID+"^2"); !strings.Contains(msg, "Ferry-Awaiting: approval: 0 of 1 (needs team:product-owners)\n") ||
		strings.Contains(msg, "Ferry-Approved-By") {
		t.Errorf("the awaiting proposal's commit does not say it awaited approval:\n%s", msg)
	}

	// bob approves 1.2.0's pull request; the tag is then pushed again with
	// another image: his review was given for the old digest and does not
	// count for the new one, and ferry does not merge (red team F2).
	first := reg.push(t, "shop/checkout", "1.2.0")
	if out := run(); !strings.Contains(out, "opened pull request #3: awaiting approval: 0 of 1") {
		t.Fatalf("no pull request for 1.2.0:\n%s", out)
	}
	srv.Review(t, "bob", "shop", "fleet", 3, sdk.ReviewStateApproved, "1.2.0 is fine")
	second := reg.push(t, "shop/checkout", "1.2.0")
	if first == second {
		t.Fatal("the re-push kept the digest")
	}
	for range 4 {
		run()
	}
	p3, _, err := srv.Client(context.Background()).GetPullRequest("shop", "fleet", 3)
	if err != nil {
		t.Fatal(err)
	}
	if prod := showRemote(t, authed, "overlays/prod/kustomization.yaml"); p3.HasMerged || strings.Contains(prod, second) {
		t.Fatalf("bob's approval of %s was carried over to %s: merged %v\n%s", first, second, p3.HasMerged, prod)
	}
	if !strings.Contains(p3.Body, "- bob (review): given for another digest ("+first[:len("sha256:")+12]+")") {
		t.Errorf("the body should say bob's review was for another digest:\n%s", p3.Body)
	}
}

// approvalRules is the approval part of the default prod policy
// (policies/prod.rego from "# Approvals," on), without the production
// tier's scan and soak rules this test has no evidence for.
func approvalRules(t *testing.T) []byte {
	t.Helper()
	prod := string(readRepoFile(t, "policies/prod.rego"))
	i := strings.Index(prod, "# Approvals,")
	if i < 0 {
		t.Fatal("policies/prod.rego has no approvals section")
	}
	return []byte("package ferry.promotion\n\n" + prod[i:])
}

// hostedPersonCommit changes one file of the hosted repo's main as a person's
// commit (git CLI, not ferry): edit gets the old content, "" when absent.
func hostedPersonCommit(t *testing.T, clone, path string, edit func(old string) string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=human@example.com",
			"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("clone", "-q", clone, ".")
	old, _ := os.ReadFile(filepath.Join(dir, path))
	writeFile(t, filepath.Join(dir, path), edit(string(old)))
	git("add", "-A")
	git("commit", "-qm", "a person edits "+path)
	git("push", "-q", "origin", "HEAD:main")
}

func readRepoFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gitLogMessage is the full message of rev (main, or a commit) in the
// hosted repo.
func gitLogMessage(t *testing.T, clone, rev string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("git", "clone", "-q", clone, dir).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	out, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%B", rev).CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v\n%s", err, out)
	}
	return string(out)
}

// gitFirstParents lists main's first-parent history in the hosted repo.
func gitFirstParents(t *testing.T, clone string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("git", "clone", "-q", clone, dir).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	out, err := exec.Command("git", "-C", dir, "log", "--first-parent", "--format=%H", "main").CombinedOutput()
	if err != nil {
		t.Fatalf("git log: %v\n%s", err, out)
	}
	return string(out)
}
