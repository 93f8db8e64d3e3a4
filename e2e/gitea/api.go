package gitea

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
)

// apiTimeout bounds one helper call, retries included.
const apiTimeout = time.Minute

// Client returns an SDK client acting as User under ctx (the SDK binds a
// context per client, not per call).
func (s *Server) Client(ctx context.Context) *gitea.Client {
	// With the version probe off, NewClient makes no request and these
	// options cannot fail.
	c, err := gitea.NewClient(s.url, gitea.SetToken(s.token), gitea.SetContext(ctx), gitea.SetGiteaVersion(""))
	if err != nil {
		panic(fmt.Sprintf("gitea client: %v", err))
	}
	return c
}

// CreateRepo creates an empty repository owned by User, default branch main,
// and returns its HTTP clone URL.
func (s *Server) CreateRepo(t testing.TB, name string) (cloneURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	repo, _, err := s.Client(ctx).CreateRepo(gitea.CreateRepoOption{Name: name, AutoInit: false, DefaultBranch: "main"})
	if err != nil {
		t.Fatalf("gitea: create repo %s/%s: %v", s.user, name, err)
	}
	return repo.CloneURL
}

// Merge merges pull request number with a merge commit, as a reviewer
// approving a promotion would. Gitea answers 405 while it is still checking
// whether the pull request can merge, so that is retried.
func (s *Server) Merge(t testing.TB, owner, repo string, number int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	c := s.Client(ctx)
	for {
		merged, resp, err := c.MergePullRequest(owner, repo, int64(number), gitea.MergePullRequestOption{Style: gitea.MergeStyleMerge})
		if err == nil && merged {
			return
		}
		if resp == nil || resp.StatusCode != http.StatusMethodNotAllowed || ctx.Err() != nil {
			t.Fatalf("gitea: merge %s/%s#%d: merged=%v: %v", owner, repo, number, merged, errors.Join(err, ctx.Err()))
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
