package gitea

import (
	"context"
	"testing"

	"code.gitea.io/sdk/gitea"
)

// People and organizations for the approval tests: reviewers act through
// the admin token with Sudo, so no extra tokens or passwords are needed.

// AddUser creates a user (a random password they never use).
func (s *Server) AddUser(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	no := false
	if _, _, err := s.Client(ctx).AdminCreateUser(gitea.CreateUserOption{
		Username: name, Email: name + "@example.com", Password: randomHex(t, 16), MustChangePassword: &no,
	}); err != nil {
		t.Fatalf("gitea: create user %s: %v", name, err)
	}
}

// AddOrg creates a public organization owned by User.
func (s *Server) AddOrg(t testing.TB, org string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	if _, _, err := s.Client(ctx).CreateOrg(gitea.CreateOrgOption{Name: org, Visibility: gitea.VisibleTypePublic}); err != nil {
		t.Fatalf("gitea: create organization %s: %v", org, err)
	}
}

// AddTeam creates a team of org with read access to its repositories and
// adds members to it.
func (s *Server) AddTeam(t testing.TB, org, team string, members ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	c := s.Client(ctx)
	tm, _, err := c.CreateTeam(org, gitea.CreateTeamOption{
		Name: team, Permission: gitea.AccessModeRead, IncludesAllRepositories: true,
		Units: []gitea.RepoUnitType{gitea.RepoUnitCode, gitea.RepoUnitPulls},
	})
	if err != nil {
		t.Fatalf("gitea: create team %s/%s: %v", org, team, err)
	}
	for _, m := range members {
		if _, err := c.AddTeamMember(tm.ID, m); err != nil {
			t.Fatalf("gitea: add %s to team %s/%s: %v", m, org, team, err)
		}
	}
}

// CreateOrgRepo creates an empty repository of org, default branch main,
// and returns its HTTP clone URL.
func (s *Server) CreateOrgRepo(t testing.TB, org, name string) (cloneURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	repo, _, err := s.Client(ctx).CreateOrgRepo(org, gitea.CreateRepoOption{Name: name, DefaultBranch: "main"})
	if err != nil {
		t.Fatalf("gitea: create repo %s/%s: %v", org, name, err)
	}
	return repo.CloneURL
}

// Review submits a review of pull request number as user: state is
// gitea.ReviewStateApproved, ReviewStateRequestChanges or ReviewStateComment.
func (s *Server) Review(t testing.TB, user, owner, repo string, number int, state gitea.ReviewStateType, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	c, err := gitea.NewClient(s.url, gitea.SetToken(s.token), gitea.SetContext(ctx), gitea.SetGiteaVersion(""), gitea.SetSudo(user))
	if err != nil {
		t.Fatalf("gitea client as %s: %v", user, err)
	}
	if _, _, err := c.CreatePullReview(owner, repo, int64(number), gitea.CreatePullReviewOptions{State: state, Body: body}); err != nil {
		t.Fatalf("gitea: %s reviews %s/%s#%d %s: %v", user, owner, repo, number, state, err)
	}
}
