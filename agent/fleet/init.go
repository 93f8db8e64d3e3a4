package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// InitBare creates a bare repository at dir whose branch holds one commit
// with files: a new fleet repo, as `ferry demo` and tests make one.
// log may be nil (slog.Default).
func InitBare(ctx context.Context, dir, branch string, files map[string][]byte, msg string, author Signature, when time.Time, log *slog.Logger) error {
	if branch == "" {
		branch = defaultBranch
	}
	repo, err := gogit.PlainInit(dir, true)
	if err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	// HEAD names the branch, so `git clone` checks it out whatever the
	// cloner's default branch is.
	head := plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch))
	if err := repo.Storer.SetReference(head); err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	// The first commit is pushed from a clone, as any writer's commit is,
	// so the bare repository gets exactly what a push sends.
	work, err := os.MkdirTemp("", "ferry-init-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	r, err := Open(ctx, Options{URL: dir, Branch: branch, Dir: filepath.Join(work, "clone"), Author: author, Logger: log})
	if err != nil {
		return err
	}
	s, err := r.Commit(nil, files, msg, when)
	if err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	return r.Push(ctx, s)
}
