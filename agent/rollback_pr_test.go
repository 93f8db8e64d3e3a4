package agent

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/e2e/gitea"
	"github.com/ferry-dev/ferry/overlays"
)

// TestRollbackByPullRequest: with rollback.pullRequest, a pull-request
// environment's rollback is a pull request on a real Gitea; main is untouched
// until it is merged.
func TestRollbackByPullRequest(t *testing.T) {
	srv := gitea.Start(t, gitea.Binary(t))
	clone := srv.CreateRepo(t, "fleet")
	ctx := context.Background()
	files, err := overlays.ExampleFleet("127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	delete(files, "ferry.yaml")
	auth := fleet.Auth{Username: srv.User(), Password: srv.Token()}
	repo, err := fleet.Open(ctx, fleet.Options{URL: clone, Branch: "main", Dir: filepath.Join(t.TempDir(), "clone"), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	// A person promotes prod by hand: 1.0.0, then 1.1.0.
	var head *fleet.Snapshot
	for i, v := range []Version{{Tag: "1.0.0", Digest: "sha256:" + strings.Repeat("a", 64)}, {Tag: "1.1.0", Digest: "sha256:" + strings.Repeat("b", 64)}} {
		data := files["overlays/prod/kustomization.yaml"]
		if head != nil {
			if data, err = head.ReadFile("overlays/prod/kustomization.yaml"); err != nil {
				t.Fatal(err)
			}
		}
		next, _, err := overlays.SetImage(data, overlays.Image{Name: "registry.example/shop/checkout", NewTag: v.Tag, Digest: v.Digest})
		if err != nil {
			t.Fatal(err)
		}
		change := map[string][]byte{"overlays/prod/kustomization.yaml": next}
		if i == 0 {
			change = files
			change["overlays/prod/kustomization.yaml"] = next
		}
		if head, err = repo.Commit(head, change, "prod "+v.Tag, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := repo.Push(ctx, head); err != nil {
			t.Fatal(err)
		}
	}
	p, err := config.Parse("ferry.yaml", []byte(`apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "`+clone+`", provider: {kind: gitea, url: "`+srv.URL()+`"}}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: prod, overlay: overlays/prod, pullRequest: true}
rollback: {pullRequest: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	owner, name, _ := pullrequest.RepoFromURL(clone)
	prs, err := pullrequest.New(pullrequest.Config{Kind: "gitea", URL: srv.URL(), Token: srv.Token(), Repo: owner + "/" + name})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: p, Fleet: repo, Registry: registry.NewClient(registry.Options{}), PullRequests: prs, Branches: repo})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.RollbackAlert(ctx, Alert{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "fp1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Reason, "pull request #1") || res.To.Tag != "1.0.0" {
		t.Fatalf("rollback: %+v", res)
	}
	found, err := prs.Find(ctx, "ferry/rollback/prod/checkout")
	if err != nil || len(found) != 1 || found[0].Title != "rollback checkout in prod to 1.0.0" {
		t.Fatalf("pull requests: %+v %v", found, err)
	}
	snap, err := repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Hash() != head.Hash() {
		t.Fatal("main moved before the rollback pull request was merged")
	}
}
