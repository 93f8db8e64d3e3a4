package state

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// CheckPath says who signed the newest commit that changed p (a file or
// directory of the fleet repo, such as ferry.yaml) at snap; found is false
// when no commit did. A configuration that verifies people's commits must
// not be switched off, or pointed at other signers, by an unverified one.
func (s *Signatures) CheckPath(ctx context.Context, snap *fleet.Snapshot, p string) (sb SignedBy, found bool, err error) {
	// A link would let an unverified commit change what it points to while
	// the commit that last changed p itself stays a verified one.
	if link := linkIn(snap, p); link != "" {
		return SignedBy{Commit: snap.Hash(), Reason: fmt.Sprintf("%s is a symlink: under git.verifyCommits, %s must hold regular files, so that the commit that changed them is the one checked", link, p)}, true, nil
	}
	var last fleet.Commit
	err = s.repo.LogPath(ctx, snap, p, func(c fleet.Commit) (bool, error) {
		last = c
		return false, nil
	})
	if err != nil {
		return SignedBy{}, false, fmt.Errorf("the commit that changed %s at %s: %w", p, ledger.ShortHash(snap.Hash()), err)
	}
	if last.Hash == "" {
		return SignedBy{}, false, nil
	}
	sb, err = s.Check(ctx, snap, last.Hash)
	return sb, err == nil, err
}

// linkIn is the first symlink on the way to p or, for a directory, under
// it; "" when there is none (or p does not exist).
func linkIn(snap *fleet.Snapshot, p string) string {
	fsys := snap.FS()
	parts := strings.Split(path.Clean(p), "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		info, err := fs.Lstat(fsys, sub)
		if err != nil {
			return ""
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return sub
		}
		if sub == path.Clean(p) && info.IsDir() {
			link := ""
			_ = fs.WalkDir(fsys, sub, func(q string, d fs.DirEntry, err error) error {
				if err == nil && d.Type()&fs.ModeSymlink != 0 {
					link = q
					return fs.SkipAll
				}
				return nil
			})
			return link
		}
	}
	return ""
}
