package fleet

import (
	"context"
	"errors"
	"fmt"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// FetchBranch fetches another branch of the remote (a proposal branch such as
// ferry/prod/checkout) and returns its head, or nil when it does not exist.
func (r *Repo) FetchBranch(ctx context.Context, branch string) (*Snapshot, error) {
	if err := checkBranch(branch); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	what := fmt.Sprintf("fetch %s from %s", branch, r.ep.url)
	// The refspec forces only the local tracking copy: a person may rewrite
	// a proposal branch, and the copy just follows the remote.
	remote := plumbing.NewBranchReferenceName(branch)
	tracking := plumbing.NewRemoteReferenceName(remoteName, branch)
	err := r.remote.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", remote, tracking))},
		Auth:       r.auth,
		Tags:       gogit.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, gogit.NoErrAlreadyUpToDate):
	// No such branch yet: the first proposal creates it.
	case errors.Is(err, gogit.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return nil, nil
	default:
		return nil, r.netErr(ctx, what, err)
	}
	ref, err := r.wst.Reference(tracking)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", what, tracking, err)
	}
	return r.snapshot(ref.Hash())
}

// PushBranch sends s to another branch of the remote without force: s must
// descend from that branch's head, if it has one, or the push is refused
// with ErrNonFastForward.
func (r *Repo) PushBranch(ctx context.Context, s *Snapshot, branch string) error {
	if err := checkBranch(branch); err != nil {
		return err
	}
	// The main branch goes through Push: its fast path and its analysis of
	// a refused push.
	if branch == r.opts.Branch {
		return r.Push(ctx, s)
	}
	return r.pushRef(ctx, s, plumbing.NewBranchReferenceName(branch), plumbing.NewRemoteReferenceName(remoteName, branch))
}
