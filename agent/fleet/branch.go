package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	if branch == r.opts.Branch {
		return r.Push(ctx, s)
	}
	what := fmt.Sprintf("push %s to %s of %s", s.short(), branch, r.ep.url)
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	err := r.remote.PushContext(ctx, &gogit.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(s.hash.String() + ":" + plumbing.NewBranchReferenceName(branch).String())},
		Auth:       r.auth,
	})
	switch {
	case err == nil, errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, gogit.ErrNonFastForwardUpdate), strings.Contains(err.Error(), "non-fast-forward"):
		return fmt.Errorf("%s: %w (%w)", what, ErrNonFastForward, err)
	default:
		return r.netErr(ctx, what, err)
	}
	return r.wst.SetReference(plumbing.NewHashReference(plumbing.NewRemoteReferenceName(remoteName, branch), s.hash))
}
