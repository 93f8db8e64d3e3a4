package pullrequest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

const gitlabPageSize = 100 // GitLab's maximum per_page

type gitlabProvider struct {
	c    *gitlab.Client
	repo string // the project path, which the API accepts in place of its ID
}

func newGitLab(c Config) (forge, error) {
	if _, _, err := splitRepo(KindGitLab, c.Repo, true); err != nil {
		return nil, err
	}
	var opts []gitlab.ClientOptionFunc
	if c.URL != "" {
		opts = append(opts, gitlab.WithBaseURL(c.URL)) // the SDK appends /api/v4/
	}
	if c.HTTPClient != nil {
		opts = append(opts, gitlab.WithHTTPClient(c.HTTPClient))
	}
	gl, err := gitlab.NewClient(c.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("gitlab pull-request provider for %q: url %q: %w", c.Repo, c.URL, err)
	}
	return &gitlabProvider{c: gl, repo: c.Repo}, nil
}

// find asks for the merge requests whose source branch is head, in every
// state (GitLab's default), newest first; forks' merge requests into this
// project are dropped.
func (p *gitlabProvider) find(ctx context.Context, head string) ([]PR, error) {
	if head == "" {
		return nil, fmt.Errorf("gitlab: find merge requests in %s: empty head branch", p.repo)
	}
	opts := &gitlab.ListProjectMergeRequestsOptions{
		ListOptions:  gitlab.ListOptions{PerPage: gitlabPageSize},
		SourceBranch: gitlab.Ptr(head),
		OrderBy:      gitlab.Ptr("created_at"),
		Sort:         gitlab.Ptr("desc"),
	}
	var out []PR
	for pages := 1; ; pages++ {
		if pages > MaxPages {
			return nil, pageLimit("gitlab", p.repo)
		}
		mrs, resp, err := p.c.MergeRequests.ListProjectMergeRequests(p.repo, opts, gitlab.WithContext(ctx))
		if err != nil {
			return nil, p.wrap(ctx, "list merge requests from "+head, err)
		}
		for _, mr := range mrs {
			if mr.SourceBranch == head && mr.SourceProjectID == mr.TargetProjectID {
				out = append(out, fromGitLab(mr))
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return newestFirst(out), nil
}

func (p *gitlabProvider) open(ctx context.Context, head, base, title, body string) (PR, error) {
	mr, _, err := p.c.MergeRequests.CreateMergeRequest(p.repo, &gitlab.CreateMergeRequestOptions{
		Title: &title, Description: &body, SourceBranch: &head, TargetBranch: &base,
	}, gitlab.WithContext(ctx))
	if err != nil {
		return PR{}, p.wrap(ctx, fmt.Sprintf("open merge request %s -> %s", head, base), err)
	}
	return fromGitLab(&mr.BasicMergeRequest), nil
}

func (p *gitlabProvider) update(ctx context.Context, number int, title, body string) (PR, error) {
	opts := &gitlab.UpdateMergeRequestOptions{Description: &body}
	if title != "" {
		opts.Title = &title
	}
	mr, _, err := p.c.MergeRequests.UpdateMergeRequest(p.repo, int64(number), opts, gitlab.WithContext(ctx))
	if err != nil {
		return PR{}, p.wrap(ctx, fmt.Sprintf("update merge request !%d", number), err)
	}
	return fromGitLab(&mr.BasicMergeRequest), nil
}

// wrap names the operation and project. The SDK's errors carry the method,
// URL and status but never the PRIVATE-TOKEN header.
func (p *gitlabProvider) wrap(ctx context.Context, op string, err error) error {
	return fmt.Errorf("gitlab: %s in %s: %w", op, p.repo, ctxErr(ctx, err))
}

// fromGitLab maps a merge request; its number is the project-scoped IID,
// the one shown in the web UI and used by the API paths.
func fromGitLab(mr *gitlab.BasicMergeRequest) PR {
	out := PR{
		Number: int(mr.IID),
		URL:    mr.WebURL,
		Title:  mr.Title,
		Body:   mr.Description,
		Head:   mr.SourceBranch,
		Base:   mr.TargetBranch,
		State:  StateOpen, // opened, and locked (an open MR mid-merge)
	}
	switch mr.State {
	case "merged":
		out.State = StateMerged
		// A squash merge leaves merge_commit_sha empty when no merge commit is made.
		out.MergeCommit = mr.MergeCommitSHA
		if out.MergeCommit == "" {
			out.MergeCommit = mr.SquashCommitSHA
		}
	case "closed":
		out.State = StateClosed
	}
	if mr.UpdatedAt != nil {
		out.UpdatedAt = mr.UpdatedAt.UTC()
	}
	if mr.Author != nil {
		out.Author = mr.Author.Username
	}
	return out
}

// reviews reads GET /projects/:id/merge_requests/:iid/approvals. GitLab's
// approvals API lists who approved (approved_by[].user.username) and
// nothing else: no time (SubmittedAt is zero), no commit, and no "request
// changes" (a rejection on GitLab is `ferry reject` or the dashboard).
func (p *gitlabProvider) reviews(ctx context.Context, number int) ([]Review, error) {
	a, _, err := p.c.MergeRequestApprovals.GetConfiguration(p.repo, int64(number), gitlab.WithContext(ctx))
	if err != nil {
		return nil, p.wrap(ctx, fmt.Sprintf("approvals of merge request !%d", number), err)
	}
	var out []Review
	for _, u := range a.ApprovedBy {
		if u == nil || u.User == nil || u.User.Username == "" {
			continue
		}
		out = append(out, Review{User: u.User.Username, State: ReviewApproved})
	}
	return out, nil
}

// teamMember is the group org/team (a subgroup of the owner's group):
// GET /users?username= finds the user's ID, then
// GET /groups/:id/members/all/:user_id (inherited members too) says whether
// they belong; 404 there asks GET /groups/:id whether the group exists.
func (p *gitlabProvider) teamMember(ctx context.Context, org, team, user string) (bool, error) {
	if err := pathSegments(team, user); err != nil {
		return false, fmt.Errorf("gitlab: group %s/%s: %w", org, team, err)
	}
	for _, seg := range strings.Split(org, "/") {
		if err := pathSegments(seg); err != nil {
			return false, fmt.Errorf("gitlab: group %s/%s: %w", org, team, err)
		}
	}
	group := org + "/" + team
	users, _, err := p.c.Users.ListUsers(&gitlab.ListUsersOptions{Username: gitlab.Ptr(user)}, gitlab.WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("gitlab: look up user %s: %w", user, ctxErr(ctx, err))
	}
	var id int64 = -1
	for _, u := range users {
		if strings.EqualFold(u.Username, user) {
			id = u.ID
		}
	}
	if id < 0 {
		return false, nil // no such user: no member of anything
	}
	m, resp, err := p.c.GroupMembers.GetInheritedGroupMember(group, id, gitlab.WithContext(ctx))
	if err == nil {
		return m.State == "" || m.State == "active", nil
	}
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		_, gresp, gerr := p.c.Groups.GetGroup(group, nil, gitlab.WithContext(ctx))
		switch {
		case gerr == nil:
			return false, nil
		case gresp != nil && gresp.StatusCode == http.StatusNotFound:
			return false, fmt.Errorf("gitlab: %w: group %s (or the token may not read it)", ErrNoTeam, group)
		}
		err = gerr
	}
	return false, fmt.Errorf("gitlab: is %s a member of group %s: %w", user, group, ctxErr(ctx, err))
}

// merge is PUT /projects/:id/merge_requests/:iid/merge; GitLab takes one
// merge_commit_message, title and body together.
func (p *gitlabProvider) merge(ctx context.Context, number int, title, message string) error {
	msg := title
	if message != "" {
		msg += "\n\n" + message
	}
	_, _, err := p.c.MergeRequests.AcceptMergeRequest(p.repo, int64(number), &gitlab.AcceptMergeRequestOptions{
		MergeCommitMessage: &msg,
	}, gitlab.WithContext(ctx))
	if err != nil {
		return p.wrap(ctx, fmt.Sprintf("merge merge request !%d", number), err)
	}
	return nil
}
