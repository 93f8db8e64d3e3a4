package pullrequest

import (
	"context"
	"fmt"

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
	return out
}
