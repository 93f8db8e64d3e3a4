package pullrequest_test

import (
	"errors"
	"strings"
	"testing"

	sdk "code.gitea.io/sdk/gitea"

	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/e2e/gitea"
)

// TestGiteaApprovals: reviews, team membership and the merge, against a real
// Gitea with an organization, a team and two reviewers.
func TestGiteaApprovals(t *testing.T) {
	s := gitea.Start(t, gitea.Binary(t))
	ctx := t.Context()
	s.AddUser(t, "alice")
	s.AddUser(t, "bob")
	s.AddOrg(t, "shop")
	s.AddTeam(t, "shop", "product-owners", "bob")
	s.AddTeam(t, "shop", "product-owners-emeritus", "alice") // a search for product-owners finds it too
	s.CreateOrgRepo(t, "shop", "fleet")
	c := s.Client(ctx)
	commit(t, c, "shop", "fleet", "main", "", "README.md")
	commit(t, c, "shop", "fleet", "main", head, "overlays/prod/1.txt")

	p, err := pullrequest.New(pullrequest.Config{Kind: pullrequest.KindGitea, URL: s.URL(), Token: s.Token(), Repo: "shop/fleet"})
	if err != nil {
		t.Fatal(err)
	}
	pr := open(t, p, head, "promote checkout 1.0.0 to prod", "report")
	if got, err := p.Reviews(ctx, pr.Number); err != nil || len(got) != 0 {
		t.Fatalf("Reviews before any = %+v, %v; want none", got, err)
	}
	s.Review(t, "alice", "shop", "fleet", pr.Number, sdk.ReviewStateApproved, "lgtm")
	s.Review(t, "bob", "shop", "fleet", pr.Number, sdk.ReviewStateRequestChanges, "not yet")
	s.Review(t, "bob", "shop", "fleet", pr.Number, sdk.ReviewStateComment, "looking again")
	s.Review(t, "bob", "shop", "fleet", pr.Number, sdk.ReviewStateApproved, "ok now")

	pullrequest.SetGiteaPageSize(t, 3) // four reviews: two pages
	got, err := p.Reviews(ctx, pr.Number)
	if err != nil {
		t.Fatal(err)
	}
	branch, _, err := c.GetRepoBranch("shop", "fleet", head)
	if err != nil {
		t.Fatal(err)
	}
	// Gitea itself dismisses bob's request for changes once he approves.
	want := []struct{ user, state string }{
		{"alice", pullrequest.ReviewApproved}, {"bob", "dismissed"}, {"bob", "comment"}, {"bob", pullrequest.ReviewApproved},
	}
	if len(got) != len(want) {
		t.Fatalf("Reviews = %+v; want %d", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.User != w.user || g.State != w.state || g.SubmittedAt.IsZero() || g.Commit != branch.Commit.ID {
			t.Errorf("Reviews[%d] = %+v; want %s %s on %s", i, g, w.user, w.state, branch.Commit.ID)
		}
		if i > 0 && g.SubmittedAt.Before(got[i-1].SubmittedAt) {
			t.Errorf("Reviews not oldest first: %+v", got)
		}
	}

	for _, tt := range []struct {
		team, user string
		want       bool
	}{
		{"product-owners", "bob", true},
		{"product-owners", "alice", false}, // in product-owners-emeritus, which the search also finds
		{"Product-Owners", "bob", true},    // Gitea team names are case-insensitive
		{"product-owners", "nobody", false},
	} {
		if got, err := p.TeamMember(ctx, "shop", tt.team, tt.user); err != nil || got != tt.want {
			t.Errorf("TeamMember(shop, %s, %s) = %v, %v; want %v", tt.team, tt.user, got, err, tt.want)
		}
	}
	if _, err := p.TeamMember(ctx, "shop", "release", "bob"); !errors.Is(err, pullrequest.ErrNoTeam) || !strings.Contains(err.Error(), "release in organization shop") {
		t.Errorf("TeamMember of an unknown team: %v; want ErrNoTeam naming it", err)
	}
	if _, err := p.TeamMember(ctx, "shop", "../admin", "bob"); err == nil || !strings.Contains(err.Error(), "not a valid name") {
		t.Errorf("TeamMember with a path in the team: %v; want refused", err)
	}
	if _, err := p.TeamMember(ctx, "nope", "product-owners", "bob"); err == nil || !strings.Contains(err.Error(), "HTTP 404") || strings.Contains(err.Error(), s.Token()) {
		t.Errorf("TeamMember of an unknown organization: %v; want HTTP 404, no token", err)
	}

	const title = "promote checkout 1.0.0 to prod"
	const message = "Ferry-App: checkout\nFerry-Env: prod\nFerry-Approved-By: bob (review, team:product-owners)"
	if err := p.Merge(ctx, pr.Number, title, message); err != nil {
		t.Fatal(err)
	}
	main, _, err := c.GetSingleCommit("shop", "fleet", "main")
	if err != nil {
		t.Fatal(err)
	}
	if msg := strings.TrimSpace(main.RepoCommit.Message); msg != title+"\n\n"+message {
		t.Errorf("merge commit message = %q; want %q", msg, title+"\n\n"+message)
	}
	if len(main.Parents) != 2 || main.Parents[1].SHA != branch.Commit.ID {
		t.Errorf("merge commit parents = %+v; want main and %s", main.Parents, branch.Commit.ID)
	}
	found, err := p.Find(ctx, head)
	if err != nil || len(found) != 1 || found[0].State != pullrequest.StateMerged || found[0].MergeCommit != main.SHA {
		t.Fatalf("Find after Merge = %+v, %v; want merged by %s", found, err, main.SHA)
	}
	if err := p.Merge(ctx, pr.Number, title, message); err == nil || !strings.Contains(err.Error(), "merge pull request #") {
		t.Errorf("Merge of a merged pull request: %v; want an error naming it", err)
	}
}
