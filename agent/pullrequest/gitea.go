package pullrequest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"code.gitea.io/sdk/gitea"
)

// giteaPageSize is Gitea's default MAX_RESPONSE_ITEMS; asking for more is
// capped. A variable so the tests can page through a handful.
var giteaPageSize = 50

type giteaProvider struct {
	cfg         Config
	owner, name string
}

func newGitea(c Config) (forge, error) {
	if c.URL == "" {
		return nil, fmt.Errorf("gitea pull-request provider for %q: url is empty", c.Repo)
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitea pull-request provider for %q: url %q: want http(s)://host[/path]", c.Repo, c.URL)
	}
	owner, name, err := splitRepo(KindGitea, c.Repo, false)
	if err != nil {
		return nil, err
	}
	return &giteaProvider{cfg: c, owner: owner, name: name}, nil
}

// client builds a client bound to ctx: the SDK keeps one context per client
// rather than per call, so a shared client could not honour each caller's.
// Building one is free: the server-version probe is switched off.
func (p *giteaProvider) client(ctx context.Context) (*gitea.Client, error) {
	opts := []gitea.ClientOption{
		gitea.SetToken(p.cfg.Token),
		gitea.SetContext(ctx),
		gitea.SetGiteaVersion(""),
	}
	if p.cfg.HTTPClient != nil {
		opts = append(opts, gitea.SetHTTPClient(p.cfg.HTTPClient))
	}
	c, err := gitea.NewClient(p.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("gitea client for %s: %w", p.cfg.URL, err)
	}
	return c, nil
}

// find lists every pull request of the repository and keeps those from head:
// Gitea's list API has no head-branch filter.
func (p *giteaProvider) find(ctx context.Context, head string) ([]PR, error) {
	if head == "" {
		return nil, fmt.Errorf("gitea %s: find pull requests in %s: empty head branch", p.cfg.URL, p.cfg.Repo)
	}
	c, err := p.client(ctx)
	if err != nil {
		return nil, err
	}
	var out []PR
	for page := 1; ; page++ {
		if page > MaxPages {
			return nil, pageLimit("gitea "+p.cfg.URL, p.cfg.Repo)
		}
		prs, resp, err := c.ListRepoPullRequests(p.owner, p.name, gitea.ListPullRequestsOptions{
			ListOptions: gitea.ListOptions{Page: page, PageSize: giteaPageSize},
			State:       gitea.StateAll,
		})
		if err != nil {
			return nil, p.wrap(ctx, "list pull requests", resp, err)
		}
		for _, pr := range prs {
			if pr.Head != nil && pr.Head.Name == head && pr.Base != nil && pr.Head.RepoID == pr.Base.RepoID {
				out = append(out, fromGitea(pr))
			}
		}
		if len(prs) == 0 || resp == nil || resp.NextPage == 0 {
			break
		}
	}
	return newestFirst(out), nil
}

func (p *giteaProvider) open(ctx context.Context, head, base, title, body string) (PR, error) {
	c, err := p.client(ctx)
	if err != nil {
		return PR{}, err
	}
	pr, resp, err := c.CreatePullRequest(p.owner, p.name, gitea.CreatePullRequestOption{
		Head: head, Base: base, Title: title, Body: body,
	})
	if err != nil {
		return PR{}, p.wrap(ctx, fmt.Sprintf("open pull request %s -> %s", head, base), resp, err)
	}
	return fromGitea(pr), nil
}

func (p *giteaProvider) update(ctx context.Context, number int, title, body string) (PR, error) {
	c, err := p.client(ctx)
	if err != nil {
		return PR{}, err
	}
	// An empty title is left out by Gitea, which is what Update promises.
	pr, resp, err := c.EditPullRequest(p.owner, p.name, int64(number), gitea.EditPullRequestOption{
		Title: title, Body: &body,
	})
	if err != nil {
		return PR{}, p.wrap(ctx, fmt.Sprintf("update pull request #%d", number), resp, err)
	}
	return fromGitea(pr), nil
}

// wrap names the operation, repository and HTTP status: the SDK's error is
// often only the server's message.
func (p *giteaProvider) wrap(ctx context.Context, op string, resp *gitea.Response, err error) error {
	if resp != nil && resp.Response != nil && resp.StatusCode >= http.StatusBadRequest {
		return fmt.Errorf("gitea %s: %s in %s: HTTP %d: %w", p.cfg.URL, op, p.cfg.Repo, resp.StatusCode, err)
	}
	return fmt.Errorf("gitea %s: %s in %s: %w", p.cfg.URL, op, p.cfg.Repo, ctxErr(ctx, err))
}

func fromGitea(pr *gitea.PullRequest) PR {
	out := PR{
		Number: int(pr.Index),
		URL:    pr.HTMLURL,
		Title:  pr.Title,
		Body:   pr.Body,
		State:  StateOpen,
	}
	if pr.Head != nil {
		out.Head = pr.Head.Name // Ref turns into refs/pull/N/head once the branch is deleted
	}
	if pr.Base != nil {
		out.Base = pr.Base.Name
	}
	switch {
	case pr.HasMerged:
		out.State = StateMerged
		if pr.MergedCommitID != nil {
			out.MergeCommit = *pr.MergedCommitID
		}
	case pr.State == gitea.StateClosed:
		out.State = StateClosed
	}
	if pr.Updated != nil {
		out.UpdatedAt = pr.Updated.UTC()
	}
	if pr.Poster != nil {
		out.Author = pr.Poster.UserName
	}
	return out
}

// reviews pages through GET /repos/{o}/{r}/pulls/{n}/reviews. A dismissed
// review counts for nothing whatever its state.
func (p *giteaProvider) reviews(ctx context.Context, number int) ([]Review, error) {
	c, err := p.client(ctx)
	if err != nil {
		return nil, err
	}
	var out []Review
	for page := 1; ; page++ {
		if page > MaxPages {
			return nil, fmt.Errorf("gitea %s: reviews of pull request #%d in %s: %w: stopped after %d pages", p.cfg.URL, number, p.cfg.Repo, ErrTooManyPages, MaxPages)
		}
		rs, resp, err := c.ListPullReviews(p.owner, p.name, int64(number), gitea.ListPullReviewsOptions{
			ListOptions: gitea.ListOptions{Page: page, PageSize: giteaPageSize},
		})
		if err != nil {
			return nil, p.wrap(ctx, fmt.Sprintf("reviews of pull request #%d", number), resp, err)
		}
		for _, r := range rs {
			if r.Reviewer == nil {
				continue // a review requested from a team has no person yet
			}
			out = append(out, Review{User: r.Reviewer.UserName, State: giteaReviewState(r), SubmittedAt: r.Submitted.UTC(), Commit: r.CommitID})
		}
		// This endpoint sends no Link header: a short page is the last.
		if len(rs) < giteaPageSize && (resp == nil || resp.NextPage == 0) {
			break
		}
	}
	return out, nil
}

func giteaReviewState(r *gitea.PullReview) string {
	switch {
	case r.Dismissed:
		return "dismissed"
	case r.State == gitea.ReviewStateApproved:
		return ReviewApproved
	case r.State == gitea.ReviewStateRequestChanges:
		return ReviewRejected
	}
	return strings.ToLower(string(r.State))
}

// teamMember finds the team by name (GET /orgs/{org}/teams/search?q=, which
// matches substrings, so the name is compared again), then asks
// GET /teams/{id}/members/{user}: 404 is "not a member".
func (p *giteaProvider) teamMember(ctx context.Context, org, team, user string) (bool, error) {
	if err := pathSegments(org, team, user); err != nil {
		return false, fmt.Errorf("gitea %s: team %s/%s: %w", p.cfg.URL, org, team, err)
	}
	c, err := p.client(ctx)
	if err != nil {
		return false, err
	}
	op := fmt.Sprintf("team %s/%s", org, team)
	id := int64(-1)
	for page := 1; id < 0; page++ {
		if page > MaxPages {
			return false, fmt.Errorf("gitea %s: %s: %w: stopped after %d pages", p.cfg.URL, op, ErrTooManyPages, MaxPages)
		}
		teams, resp, err := c.SearchOrgTeams(org, &gitea.SearchTeamsOptions{
			ListOptions: gitea.ListOptions{Page: page, PageSize: giteaPageSize}, Query: team,
		})
		if err != nil {
			return false, p.wrapOrg(ctx, "search "+op, resp, err)
		}
		for _, t := range teams {
			if strings.EqualFold(t.Name, team) {
				id = t.ID
			}
		}
		if id < 0 && (len(teams) == 0 || resp == nil || resp.NextPage == 0) {
			return false, fmt.Errorf("gitea %s: %w %s in organization %s", p.cfg.URL, ErrNoTeam, team, org)
		}
	}
	_, resp, err := c.GetTeamMember(id, user)
	switch {
	case err == nil:
		return true, nil
	case resp != nil && resp.Response != nil && resp.StatusCode == http.StatusNotFound:
		return false, nil
	}
	return false, p.wrapOrg(ctx, fmt.Sprintf("is %s a member of %s", user, op), resp, err)
}

// giteaMergeRetries bounds the 405s Gitea answers while it still checks
// whether a just-pushed pull request can merge.
const giteaMergeRetries = 20

// merge is POST /repos/{o}/{r}/pulls/{n}/merge with Do: merge and the commit
// message's title and body.
func (p *giteaProvider) merge(ctx context.Context, number int, title, message string) error {
	c, err := p.client(ctx)
	if err != nil {
		return err
	}
	op := fmt.Sprintf("merge pull request #%d", number)
	for try := 1; ; try++ {
		merged, resp, err := c.MergePullRequest(p.owner, p.name, int64(number), gitea.MergePullRequestOption{
			Style: gitea.MergeStyleMerge, Title: title, Message: message,
		})
		if err != nil {
			return p.wrap(ctx, op, resp, err)
		}
		if merged {
			return nil
		}
		status := 0
		if resp != nil && resp.Response != nil {
			status = resp.StatusCode
		}
		if status != http.StatusMethodNotAllowed || try >= giteaMergeRetries {
			return fmt.Errorf("gitea %s: %s in %s: HTTP %d: not merged (a conflict, a branch protection rule, or the pull request is not mergeable yet)", p.cfg.URL, op, p.cfg.Repo, status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gitea %s: %s in %s: %w", p.cfg.URL, op, p.cfg.Repo, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// wrapOrg is wrap for the calls about an organization, not the repository.
func (p *giteaProvider) wrapOrg(ctx context.Context, op string, resp *gitea.Response, err error) error {
	if resp != nil && resp.Response != nil && resp.StatusCode >= http.StatusBadRequest {
		return fmt.Errorf("gitea %s: %s: HTTP %d: %w", p.cfg.URL, op, resp.StatusCode, err)
	}
	return fmt.Errorf("gitea %s: %s: %w", p.cfg.URL, op, ctxErr(ctx, err))
}
