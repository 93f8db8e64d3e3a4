package fleet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit is one commit of the history.
type Commit struct {
	Hash    string
	Time    time.Time // committer time
	Author  Signature
	Message string // raw; agent/ledger reads it
	Parents []string
}

// Log calls fn for from and its first-parent ancestors, newest first, until
// fn returns false or an error (which Log returns) or the root is reached.
// First-parent only: a merged branch counts as its merge, as the branch saw it.
func (r *Repo) Log(ctx context.Context, from *Snapshot, fn func(Commit) (more bool, err error)) error {
	return r.walk(ctx, from, func(c *object.Commit) (bool, error) { return fn(toCommit(c)) })
}

// LogPath is Log limited to the commits that changed path (a file or a
// directory) compared with their first parent; a root commit counts when it
// holds path.
func (r *Repo) LogPath(ctx context.Context, from *Snapshot, path string, fn func(Commit) (more bool, err error)) error {
	if !fs.ValidPath(path) || path == "." {
		return fmt.Errorf("log %s: invalid path", path)
	}
	// Along the first-parent chain a commit's parent is the next commit
	// visited, so each tree is looked at once.
	var (
		cur      pathState
		curKnown bool
	)
	return r.walk(ctx, from, func(c *object.Commit) (bool, error) {
		if !curKnown {
			st, err := r.entryAt(c.TreeHash, path)
			if err != nil {
				return false, err
			}
			cur = st
		}
		var parent pathState
		if len(c.ParentHashes) > 0 {
			pc, err := r.objs.commit(c.ParentHashes[0])
			if err != nil {
				return false, err
			}
			if parent, err = r.entryAt(pc.TreeHash, path); err != nil {
				return false, err
			}
		}
		changed := cur != parent
		cur, curKnown = parent, true
		if !changed {
			return true, nil
		}
		return fn(toCommit(c))
	})
}

// pathState is what git compares to decide whether a commit touched a
// path: the entry's hash and mode, zero when absent.
type pathState struct {
	hash plumbing.Hash
	mode filemode.FileMode
}

// entryAt finds the tree entry at path. Like git log -- path, it takes the
// path literally: symbolic links are entries like any other.
func (r *Repo) entryAt(tree plumbing.Hash, path string) (pathState, error) {
	cur := pathState{hash: tree, mode: filemode.Dir}
	for _, part := range strings.Split(path, "/") {
		if cur.mode != filemode.Dir {
			return pathState{}, nil
		}
		t, err := r.objs.tree(cur.hash)
		if err != nil {
			return pathState{}, fmt.Errorf("look up %s: %w", path, err)
		}
		e, ok := findEntry(t, part)
		if !ok {
			return pathState{}, nil
		}
		cur = pathState{hash: e.Hash, mode: e.Mode}
	}
	return cur, nil
}

func (r *Repo) walk(ctx context.Context, from *Snapshot, fn func(*object.Commit) (bool, error)) error {
	if from.objs != r.objs {
		return errors.New("log: the snapshot comes from another Repo")
	}
	h := from.hash
	// The context is checked per commit: a long history stops when asked.
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("log from %s: %w", from.short(), err)
		}
		c, err := r.objs.commit(h)
		if err != nil {
			return fmt.Errorf("log from %s: %w", from.short(), err)
		}
		more, err := fn(c)
		if err != nil || !more {
			return err
		}
		if len(c.ParentHashes) == 0 {
			return nil
		}
		h = c.ParentHashes[0]
	}
}

func toCommit(c *object.Commit) Commit {
	parents := make([]string, len(c.ParentHashes))
	for i, p := range c.ParentHashes {
		parents[i] = p.String()
	}
	return Commit{
		Hash:    c.Hash.String(),
		Time:    c.Committer.When,
		Author:  Signature{Name: c.Author.Name, Email: c.Author.Email},
		Message: c.Message,
		Parents: parents,
	}
}

// SignedCommit is a commit as its signature sees it.
type SignedCommit struct {
	Commit
	Committer Signature
	// Payload is the commit object without its gpgsig header, byte for
	// byte as it was signed.
	Payload []byte
	// Signature is the armored signature from the gpgsig header; "" when
	// the commit is not signed.
	Signature string
}

// SignedCommit reads commit hash with its signature and signed bytes.
func (r *Repo) SignedCommit(hash string) (SignedCommit, error) {
	if !plumbing.IsHash(hash) {
		return SignedCommit{}, fmt.Errorf("signed commit: %q is not a full commit hash", hash)
	}
	c, err := r.objs.commit(plumbing.NewHash(hash))
	if err != nil {
		return SignedCommit{}, err
	}
	obj := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(obj); err != nil {
		return SignedCommit{}, fmt.Errorf("signed commit %s: %w", hash[:12], err)
	}
	payload, err := objectBytes(obj)
	if err != nil {
		return SignedCommit{}, fmt.Errorf("signed commit %s: %w", hash[:12], err)
	}
	return SignedCommit{Commit: toCommit(c), Committer: Signature{Name: c.Committer.Name, Email: c.Committer.Email},
		Payload: payload, Signature: c.PGPSignature}, nil
}
