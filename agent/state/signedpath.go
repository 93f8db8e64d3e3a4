package state

import (
	"context"
	"fmt"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// CheckPath says who signed the newest commit that changed p (a file or
// directory of the fleet repo, such as ferry.yaml) at snap; found is false
// when no commit did. A configuration that verifies people's commits must
// not be switched off, or pointed at other signers, by an unverified one.
func (s *Signatures) CheckPath(ctx context.Context, snap *fleet.Snapshot, p string) (sb SignedBy, found bool, err error) {
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
