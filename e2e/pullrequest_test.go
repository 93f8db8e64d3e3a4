//go:build e2e

package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ferry-dev/ferry/e2e/gitea"
)

const prConfig = `apiVersion: ferry.dev/v1alpha1
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
  - {name: prod, overlay: overlays/prod, from: ppd, pullRequest: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// prodPolicy gives the gate report something to say.
const prodPolicy = `package ferry.promotion

deny contains msg if {
	input.environment.name == "prod"
	not startswith(input.candidate.digest, "sha256:")
	msg := "prod takes only images pinned by a sha256 digest"
}

warn contains msg if {
	input.environment.name == "prod"
	msg := sprintf("%s goes to prod: watch the error budget after the merge", [input.candidate.version])
}
`

// TestPullRequestPromotion: prod is promoted by a pull request on a real
// Gitea whose body is the gate report; a newer version updates the same pull
// request; merging it moves prod, and dr follows.
func TestPullRequestPromotion(t *testing.T) {
	srv := gitea.Start(t, gitea.Binary(t))
	reg := startRegistry(t, "", "")
	clone := srv.CreateRepo(t, "fleet")
	dir := t.TempDir()
	userFile := writeFile(t, filepath.Join(dir, "user"), srv.User()+"\n")
	tokenFile := writeFile(t, filepath.Join(dir, "token"), srv.Token()+"\n")
	cfg := strings.NewReplacer("FLEET", clone, "REGISTRY", reg.host, "GITEA", srv.URL(),
		"USERFILE", userFile, "TOKENFILE", tokenFile).Replace(prConfig)
	files := exampleFiles(t, reg.host)
	files["ferry.yaml"] = []byte(cfg)
	files["policies/prod.rego"] = []byte(prodPolicy)
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
	// FERRY_GIT_*_FILE let --config name the repo itself while it needs credentials.
	t.Setenv("FERRY_GIT_USERNAME_FILE", userFile)
	t.Setenv("FERRY_GIT_PASSWORD_FILE", tokenFile)

	reg.push(t, "shop/checkout", "1.0.0")
	out := run()
	if !strings.Contains(out, "opened pull request #1") {
		t.Fatalf("no pull request opened:\n%s", out)
	}
	pr := getPR(t, srv, 1)
	if pr.Title != "promote checkout 1.0.0 to prod" || pr.Head.Ref != "ferry/prod/checkout" {
		t.Fatalf("pull request: %q from %q", pr.Title, pr.Head.Ref)
	}
	for _, want := range []string{"Decision: allow", "1.0.0 goes to prod", "+  newTag: 1.0.0", "Merging this pull request is the approval"} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("the gate report lacks %q:\n%s", want, pr.Body)
		}
	}

	reg.push(t, "shop/checkout", "1.1.0")
	out = run()
	if !strings.Contains(out, "updated pull request #1") {
		t.Fatalf("the newer version did not update pull request #1:\n%s", out)
	}
	if pr := getPR(t, srv, 1); pr.Title != "promote checkout 1.1.0 to prod" || !strings.Contains(pr.Body, "newTag: 1.1.0") {
		t.Fatalf("pull request #1 was not updated: %q\n%s", pr.Title, pr.Body)
	}
	if out := run(); !strings.Contains(out, "pull request #1 is open") {
		t.Fatalf("an unchanged proposal should be left alone:\n%s", out)
	}

	srv.Merge(t, srv.User(), "fleet", 1)
	run()
	authed := authURL(t, clone, srv.User(), srv.Token())
	prod, dr := showRemote(t, authed, "overlays/prod/kustomization.yaml"), showRemote(t, authed, "overlays/dr/kustomization.yaml")
	if !strings.Contains(prod, "newTag: 1.1.0") || !strings.Contains(dr, "newTag: 1.1.0") {
		t.Fatalf("after the merge prod and dr should run 1.1.0:\nprod:\n%s\ndr:\n%s", prod, dr)
	}

	// Closing a pull request without merging refuses that version for prod.
	reg.push(t, "shop/checkout", "1.2.0")
	if out := run(); !strings.Contains(out, "opened pull request #2") {
		t.Fatalf("no pull request for 1.2.0:\n%s", out)
	}
	closed := sdk.StateClosed
	if _, _, err := srv.Client(context.Background()).EditPullRequest(srv.User(), "fleet", 2, sdk.EditPullRequestOption{State: &closed}); err != nil {
		t.Fatal(err)
	}
	if out := run(); !strings.Contains(out, "was closed without merging; not reopening it") {
		t.Fatalf("a closed pull request was not respected:\n%s", out)
	}
	if pr := getPR(t, srv, 2); pr.State != sdk.StateClosed || pr.HasMerged {
		t.Fatalf("pull request #2 reopened: %s", pr.State)
	}
}

func getPR(t *testing.T, srv *gitea.Server, n int64) *sdk.PullRequest {
	t.Helper()
	pr, _, err := srv.Client(context.Background()).GetPullRequest(srv.User(), "fleet", n)
	if err != nil {
		t.Fatalf("get pull request #%d: %v", n, err)
	}
	return pr
}

func authURL(t *testing.T, clone, user, token string) string {
	u, err := url.Parse(clone)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, token)
	return u.String()
}

// seedRemote makes the first commit of a hosted repo with the git CLI.
func seedRemote(t *testing.T, clone, user, token string, files map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	for p, data := range files {
		writeFile(t, filepath.Join(dir, p), string(data))
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "seed the fleet"},
		{"push", "-q", authURL(t, clone, user, token), "main"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=human@example.com",
			"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args[0], err, out)
		}
	}
}

// showRemote reads a file at the hosted repo's main.
func showRemote(t *testing.T, clone, path string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("git", "clone", "-q", "--depth", "1", clone, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
