package pullrequest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v82/github"
)

const githubPageSize = 100 // GitHub's maximum per_page

type githubProvider struct {
	c           *github.Client
	repo        string
	owner, name string
}

func newGitHub(c Config) (forge, error) {
	owner, name, err := splitRepo(KindGitHub, c.Repo, false)
	if err != nil {
		return nil, err
	}
	gh := github.NewClient(c.HTTPClient).WithAuthToken(c.Token)
	if c.URL != "" {
		// Enterprise serves the API under /api/v3/ and uploads under
		// /api/uploads/; the SDK appends both to the server's URL.
		if gh, err = gh.WithEnterpriseURLs(c.URL, c.URL); err != nil {
			return nil, fmt.Errorf("github pull-request provider for %q: url %q: %w", c.Repo, c.URL, err)
		}
	}
	return &githubProvider{c: gh, repo: c.Repo, owner: owner, name: name}, nil
}

// find asks GitHub for the pull requests from owner:head only, then checks
// the branch again since a fork owned by the same account would match too.
func (p *githubProvider) find(ctx context.Context, head string) ([]PR, error) {
	if head == "" {
		return nil, fmt.Errorf("github: find pull requests in %s: empty head branch", p.repo)
	}
	opts := &github.PullRequestListOptions{
		State:       "all",
		Head:        p.owner + ":" + head,
		ListOptions: github.ListOptions{PerPage: githubPageSize},
	}
	var out []PR
	for pages := 1; ; pages++ {
		if pages > MaxPages {
			return nil, pageLimit("github", p.repo)
		}
		prs, resp, err := p.c.PullRequests.List(ctx, p.owner, p.name, opts)
		if err != nil {
			return nil, p.wrap(ctx, "list pull requests from "+head, err)
		}
		for _, pr := range prs {
			if pr.GetHead().GetRef() == head && pr.GetHead().GetRepo().GetFullName() == pr.GetBase().GetRepo().GetFullName() {
				out = append(out, fromGitHub(pr))
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return newestFirst(out), nil
}

func (p *githubProvider) open(ctx context.Context, head, base, title, body string) (PR, error) {
	pr, _, err := p.c.PullRequests.Create(ctx, p.owner, p.name, &github.NewPullRequest{
		Title: &title, Head: &head, Base: &base, Body: &body,
	})
	if err != nil {
		return PR{}, p.wrap(ctx, fmt.Sprintf("open pull request %s -> %s", head, base), err)
	}
	return fromGitHub(pr), nil
}

func (p *githubProvider) update(ctx context.Context, number int, title, body string) (PR, error) {
	edit := &github.PullRequest{Body: &body}
	if title != "" {
		edit.Title = &title
	}
	pr, _, err := p.c.PullRequests.Edit(ctx, p.owner, p.name, number, edit)
	if err != nil {
		return PR{}, p.wrap(ctx, fmt.Sprintf("update pull request #%d", number), err)
	}
	return fromGitHub(pr), nil
}

// wrap names the operation and repository. The SDK's errors carry the method,
// URL and status but never the Authorization header.
func (p *githubProvider) wrap(ctx context.Context, op string, err error) error {
	return fmt.Errorf("github: %s in %s: %w", op, p.repo, ctxErr(ctx, err))
}

func fromGitHub(pr *github.PullRequest) PR {
	out := PR{
		Number:    pr.GetNumber(),
		URL:       pr.GetHTMLURL(),
		Title:     pr.GetTitle(),
		Body:      pr.GetBody(),
		Head:      pr.GetHead().GetRef(),
		Base:      pr.GetBase().GetRef(),
		State:     StateOpen,
		UpdatedAt: pr.GetUpdatedAt().UTC(),
		Author:    pr.GetUser().GetLogin(),
	}
	switch {
	// The list endpoint leaves out "merged"; merged_at is in every shape.
	case pr.GetMerged() || pr.MergedAt != nil:
		out.State = StateMerged
		out.MergeCommit = pr.GetMergeCommitSHA()
	case pr.GetState() == "closed":
		out.State = StateClosed
	}
	return out
}

// reviews pages through GET /repos/{o}/{r}/pulls/{n}/reviews (chronological).
func (p *githubProvider) reviews(ctx context.Context, number int) ([]Review, error) {
	opts := &github.ListOptions{PerPage: githubPageSize}
	var out []Review
	for pages := 1; ; pages++ {
		if pages > MaxPages {
			return nil, fmt.Errorf("github: reviews of pull request #%d in %s: %w: stopped after %d pages", number, p.repo, ErrTooManyPages, MaxPages)
		}
		rs, resp, err := p.c.PullRequests.ListReviews(ctx, p.owner, p.name, number, opts)
		if err != nil {
			return nil, p.wrap(ctx, fmt.Sprintf("reviews of pull request #%d", number), err)
		}
		for _, r := range rs {
			if r.GetUser().GetLogin() == "" {
				continue
			}
			out = append(out, Review{User: r.GetUser().GetLogin(), State: githubReviewState(r.GetState()),
				SubmittedAt: r.GetSubmittedAt().UTC(), Commit: r.GetCommitID()})
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// githubReviewState maps APPROVED and CHANGES_REQUESTED; COMMENTED,
// DISMISSED and PENDING count for nothing.
func githubReviewState(s string) string {
	switch s {
	case "APPROVED":
		return ReviewApproved
	case "CHANGES_REQUESTED":
		return ReviewRejected
	}
	return strings.ToLower(s)
}

// teamMember is GET /orgs/{org}/teams/{slug}/memberships/{user}: state
// "active" is a member, "pending" (an invitation) is not. GitHub answers 404
// both for a person outside the team and for an unknown team, so a 404 asks
// GET /orgs/{org}/teams/{slug} which of the two it was.
func (p *githubProvider) teamMember(ctx context.Context, org, team, user string) (bool, error) {
	if err := pathSegments(org, team, user); err != nil {
		return false, fmt.Errorf("github: team %s/%s: %w", org, team, err)
	}
	m, resp, err := p.c.Teams.GetTeamMembershipBySlug(ctx, org, team, user)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			_, tresp, terr := p.c.Teams.GetTeamBySlug(ctx, org, team)
			switch {
			case terr == nil:
				return false, nil
			case tresp != nil && tresp.StatusCode == http.StatusNotFound:
				return false, fmt.Errorf("github: %w %s in organization %s (or the token may not read it)", ErrNoTeam, team, org)
			}
			err = terr
		}
		return false, fmt.Errorf("github: is %s a member of team %s/%s: %w", user, org, team, ctxErr(ctx, err))
	}
	return m.GetState() == "active", nil
}

// merge is PUT /repos/{o}/{r}/pulls/{n}/merge with merge_method merge.
func (p *githubProvider) merge(ctx context.Context, number int, title, message string) error {
	res, _, err := p.c.PullRequests.Merge(ctx, p.owner, p.name, number, message, &github.PullRequestOptions{
		CommitTitle: title, MergeMethod: "merge", DontDefaultIfBlank: true,
	})
	if err != nil {
		return p.wrap(ctx, fmt.Sprintf("merge pull request #%d", number), err)
	}
	if !res.GetMerged() {
		return fmt.Errorf("github: merge pull request #%d in %s: not merged: %s", number, p.repo, res.GetMessage())
	}
	return nil
}
