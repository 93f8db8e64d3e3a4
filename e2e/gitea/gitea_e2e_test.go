//go:build e2e

package gitea_test

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/e2e/gitea"
)

// TestPullRequestFlow is ferry's gated promotion against a real Gitea: the
// branch is pushed with the git CLI, the pull request is opened and updated
// through agent/pullrequest, a reviewer merges it, and Find then reports it
// merged with the merge commit that is now main's head.
func TestPullRequestFlow(t *testing.T) {
	s := gitea.Start(t, gitea.Binary(t))
	ctx := t.Context()
	clone := s.CreateRepo(t, "fleet")
	remote, err := url.Parse(clone)
	if err != nil {
		t.Fatal(err)
	}
	remote.User = url.UserPassword(s.User(), s.Token())

	work := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+work, "GIT_TERMINAL_PROMPT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", args[0], err, strings.ReplaceAll(string(out), s.Token(), "<token>"))
		}
		return strings.TrimSpace(string(out))
	}
	write := func(path, content string) {
		t.Helper()
		full := filepath.Join(work, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	git("init", "-q", "-b", "main")
	git("config", "user.name", "ferry")
	git("config", "user.email", "ferry@example.com")
	git("remote", "add", "origin", remote.String())
	write("overlays/prod/kustomization.yaml", "images:\n- name: shop/checkout\n  newTag: 1.4.1\n")
	git("add", ".")
	git("commit", "-q", "-m", "prod: checkout 1.4.1")
	git("push", "-q", "origin", "main")

	const head = "ferry/prod/checkout"
	git("checkout", "-q", "-b", head)
	write("overlays/prod/kustomization.yaml", "images:\n- name: shop/checkout\n  newTag: 1.4.2\n")
	git("commit", "-q", "-am", "prod: checkout 1.4.2")
	headCommit := git("rev-parse", "HEAD")
	git("push", "-q", "origin", head)

	p, err := pullrequest.New(pullrequest.Config{
		Kind: pullrequest.KindGitea, URL: s.URL(), Token: s.Token(), Repo: s.User() + "/fleet",
	})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := p.Open(ctx, head, "main", "Promote checkout 1.4.2 to prod", "## Gate report\n- soak: pending")
	if err != nil {
		t.Fatal(err)
	}
	if pr.State != pullrequest.StateOpen || pr.Head != head || pr.Base != "main" {
		t.Fatalf("Open = %+v", pr)
	}
	if _, err := p.Update(ctx, pr.Number, "", "## Gate report\n- soak: passed"); err != nil {
		t.Fatal(err)
	}
	found, err := p.Find(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Number != pr.Number || found[0].State != pullrequest.StateOpen ||
		found[0].Body != "## Gate report\n- soak: passed" || found[0].Title != "Promote checkout 1.4.2 to prod" {
		t.Fatalf("Find after Update = %+v; want #%d open with the new body", found, pr.Number)
	}

	s.Merge(t, s.User(), "fleet", pr.Number)

	found, err = p.Find(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].State != pullrequest.StateMerged || found[0].MergeCommit == "" {
		t.Fatalf("Find after merge = %+v; want #%d merged with its merge commit", found, pr.Number)
	}
	git("fetch", "-q", "origin", "main")
	if mainHead := git("rev-parse", "origin/main"); found[0].MergeCommit != mainHead {
		t.Fatalf("merge commit %s, but main is at %s", found[0].MergeCommit, mainHead)
	}
	// A merge commit (not a fast-forward): its second parent is the pushed branch.
	if parent := git("rev-parse", found[0].MergeCommit+"^2"); parent != headCommit {
		t.Fatalf("merge commit's second parent %s, want the branch head %s", parent, headCommit)
	}
}
