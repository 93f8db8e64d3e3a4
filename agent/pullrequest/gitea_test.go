package pullrequest_test

// These tests run against a real Gitea (e2e/gitea), built once by
// e2e/gitea/build.sh; they skip only when FERRY_GITEA is unset.

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/e2e/gitea"
)

const head = "ferry/prod/checkout"

func TestGitea(t *testing.T) {
	s := gitea.Start(t, gitea.Binary(t))
	ctx := t.Context()
	owner, repo := s.User(), "fleet"
	s.CreateRepo(t, repo)
	c := s.Client(ctx)
	commit(t, c, owner, repo, "main", "", "README.md")
	commit(t, c, owner, repo, "main", head, "overlays/prod/1.txt")
	commit(t, c, owner, repo, "main", "ferry/qa/checkout", "overlays/qa/1.txt")

	p, err := pullrequest.New(pullrequest.Config{Kind: pullrequest.KindGitea, URL: s.URL(), Token: s.Token(), Repo: owner + "/" + repo})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.Find(ctx, head); err != nil || len(got) != 0 {
		t.Fatalf("Find before any pull request = %+v, %v; want none", got, err)
	}

	pr1 := open(t, p, head, "Promote checkout 1.0.0 to prod", "report 1")
	state := sdk.StateClosed
	if _, _, err := c.EditPullRequest(owner, repo, int64(pr1.Number), sdk.EditPullRequestOption{State: &state}); err != nil {
		t.Fatalf("close #%d: %v", pr1.Number, err)
	}

	pr2 := open(t, p, head, "Promote checkout 1.1.0 to prod", "report 2")
	upd, err := p.Update(ctx, pr2.Number, "", "report 2: gates passed")
	if err != nil {
		t.Fatal(err)
	}
	if upd.Title != pr2.Title || upd.Body != "report 2: gates passed" || upd.UpdatedAt.Before(pr2.UpdatedAt) {
		t.Fatalf("Update with no title = %+v; want title kept, body replaced", upd)
	}
	if upd, err = p.Update(ctx, pr2.Number, "Promote checkout 1.1.0 to prod (soaked)", "final report"); err != nil {
		t.Fatal(err)
	}
	if upd.Title != "Promote checkout 1.1.0 to prod (soaked)" || upd.Body != "final report" {
		t.Fatalf("Update = %+v; want both replaced", upd)
	}
	s.Merge(t, owner, repo, pr2.Number)
	mainHead, _, err := c.GetRepoBranch(owner, repo, "main")
	if err != nil {
		t.Fatal(err)
	}

	commit(t, c, owner, repo, head, "", "overlays/prod/2.txt")
	pr3 := open(t, p, head, "Promote checkout 1.2.0 to prod", "report 3")
	open(t, p, "ferry/qa/checkout", "Promote checkout 1.2.0 to qa", "qa report") // another head: not found below

	pullrequest.SetGiteaPageSize(t, 2) // four pull requests: two pages
	got, err := p.Find(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		number      int
		state, body string
		mergeCommit string
	}{
		{pr3.Number, pullrequest.StateOpen, "report 3", ""},
		{pr2.Number, pullrequest.StateMerged, "final report", mainHead.Commit.ID},
		{pr1.Number, pullrequest.StateClosed, "report 1", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("Find(%s) = %+v; want %d pull requests", head, got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Number != w.number || g.State != w.state || g.Body != w.body || g.MergeCommit != w.mergeCommit ||
			g.Head != head || g.Base != "main" || g.UpdatedAt.IsZero() || g.Author != owner {
			t.Errorf("Find(%s)[%d] = %+v; want #%d %s body %q merge commit %q", head, i, g, w.number, w.state, w.body, w.mergeCommit)
		}
	}

	t.Run("errors", func(t *testing.T) {
		bad, err := pullrequest.New(pullrequest.Config{Kind: pullrequest.KindGitea, URL: s.URL(), Token: "0123456789abcdef0123456789abcdef01234567", Repo: owner + "/" + repo})
		if err != nil {
			t.Fatal(err)
		}
		missing, err := pullrequest.New(pullrequest.Config{Kind: pullrequest.KindGitea, URL: s.URL(), Token: s.Token(), Repo: owner + "/nope"})
		if err != nil {
			t.Fatal(err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		tests := []struct {
			name    string
			do      func() error
			wantErr []string
			is      error
		}{
			{"pull request already open", func() error { _, err := p.Open(ctx, head, "main", "dup", "dup"); return err },
				[]string{"open pull request " + head + " -> main in " + owner + "/" + repo, "HTTP 409"}, nil},
			{"no such branch", func() error { _, err := p.Open(ctx, "no/such/branch", "main", "t", "b"); return err },
				[]string{"open pull request no/such/branch -> main", "HTTP 404"}, nil},
			{"bad token", func() error { _, err := bad.Find(ctx, head); return err },
				[]string{"list pull requests in " + owner + "/" + repo, "HTTP 401"}, nil},
			{"missing repo", func() error { _, err := missing.Update(ctx, 1, "", "x"); return err },
				[]string{"update pull request #1 in " + owner + "/nope", "HTTP 404"}, nil},
			{"canceled", func() error { _, err := p.Find(canceled, head); return err },
				[]string{"list pull requests"}, context.Canceled},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.do()
				if err == nil {
					t.Fatal("want an error")
				}
				t.Logf("error: %v", err)
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("error %q is not %v", err, tt.is)
				}
				if strings.Contains(err.Error(), s.Token()) {
					t.Errorf("error shows the token: %v", err)
				}
			})
		}
	})
}

// open opens a pull request and checks what Open reports against the request.
func open(t *testing.T, p *pullrequest.Client, head, title, body string) pullrequest.PR {
	t.Helper()
	pr, err := p.Open(t.Context(), head, "main", title, body)
	if err != nil {
		t.Fatal(err)
	}
	want := pullrequest.PR{Number: pr.Number, Title: title, Body: body, Head: head, Base: "main", State: pullrequest.StateOpen,
		URL: pr.URL, UpdatedAt: pr.UpdatedAt, Author: "ferry"}
	if !reflect.DeepEqual(pr, want) || pr.Number == 0 || !strings.HasSuffix(pr.URL, "/pulls/"+strconv.Itoa(pr.Number)) || pr.UpdatedAt.IsZero() {
		t.Fatalf("Open = %+v; want an open pull request %s -> main titled %q", pr, head, title)
	}
	return pr
}

// commit adds a file through Gitea's contents API: on branch, or on a new
// branch newBranch started from branch.
func commit(t *testing.T, c *sdk.Client, owner, repo, branch, newBranch, path string) {
	t.Helper()
	_, _, err := c.CreateFile(owner, repo, path, sdk.CreateFileOptions{
		FileOptions: sdk.FileOptions{Message: "add " + path, BranchName: branch, NewBranchName: newBranch},
		Content:     base64.StdEncoding.EncodeToString([]byte(path + "\n")),
	})
	if err != nil {
		t.Fatalf("commit %s to %s/%s %s%s: %v", path, owner, repo, branch, newBranch, err)
	}
}
