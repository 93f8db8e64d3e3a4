package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Push sends s to the remote branch without force. When the remote holds
// commits s does not descend from — whether the local clone knew them or
// not, and whether go-git or the server noticed — the error satisfies
// errors.Is(err, ErrNonFastForward). On success the local remote-tracking
// ref points at s.
func (r *Repo) Push(ctx context.Context, s *Snapshot) error {
	what := fmt.Sprintf("push %s to %s", s.short(), r.ep.url)
	if s.objs != r.objs {
		return fmt.Errorf("%s: the snapshot comes from another Repo", what)
	}
	// go-git quietly pushes nothing for a commit it cannot read, which
	// would look like success.
	if err := r.wst.HasEncodedObject(s.hash); err != nil {
		return fmt.Errorf("%s: commit not in the local clone: %w", what, err)
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	path := "linear"
	remote := &remoteMessages{}
	err := r.sendPack(pctx, s, remote)
	if errors.Is(err, errGeneralPush) {
		path = "general"
		err = r.pushGeneral(pctx, s, remote)
	}
	if err != nil && !errors.Is(err, errGeneralPush) {
		err = remote.wrap(err) // the hook's reason, as git shows it ("remote: ...")
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrNonFastForward):
		return fmt.Errorf("%s: %w", what, err)
	default:
		if err := r.pushFailed(ctx, what, s, r.netErr(pctx, "", err)); err != nil {
			return err
		}
	}
	// The tracking ref moves only once the push landed: the next commit
	// builds on what the remote really has.
	if err := r.wst.SetReference(plumbing.NewHashReference(r.tracking, s.hash)); err != nil {
		return fmt.Errorf("%s: pushed, but updating %s failed: %w", what, r.tracking, err)
	}
	r.log.Debug("pushed", "commit", s.Hash(), "path", path, "took", time.Since(start))
	r.upkeep()
	return nil
}

// pushGeneral is go-git's own push, for what sendPack does not handle.
func (r *Repo) pushGeneral(ctx context.Context, s *Snapshot, remote io.Writer) error {
	err := r.remote.PushContext(ctx, &gogit.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(s.hash.String() + ":" + r.branch.String())},
		Auth:       r.auth,
		Progress:   remote,
	})
	// Already up to date is success: the remote has s.
	if errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

// pushFailed looks at where the remote branch is now to tell a remote that
// moved on (ErrNonFastForward) from other failures. go-git refuses a push
// it can see is not a fast-forward, but the server may also reject it (it
// moved between go-git's look and the update), and each says so in its own
// words. It returns nil when the remote is at s after all: the push landed
// but its report was lost.
func (r *Repo) pushFailed(ctx context.Context, what string, s *Snapshot, err error) error {
	// A timeout of its own: the push's may be what ran out.
	lctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	head, lerr := r.remoteHead(lctx)
	switch {
	// The remote cannot be asked: the error's own words are all there is.
	case lerr != nil:
		if strings.Contains(err.Error(), "non-fast-forward") {
			return fmt.Errorf("%s: %w (%w)", what, ErrNonFastForward, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	case head == s.hash:
		r.log.Warn("push reported a failure but the remote is at the pushed commit", "commit", s.Hash(), "err", err)
		return nil
	case head.IsZero():
		return fmt.Errorf("%s: %w", what, err)
	}
	ok, aerr := r.isAncestor(head, s)
	switch {
	case aerr != nil:
		return fmt.Errorf("%s: %w (and checking whether the remote's %s is an ancestor failed: %w)", what, err, head.String()[:12], aerr)
	case !ok:
		return fmt.Errorf("%s: %w: the remote is at %s (%w)", what, ErrNonFastForward, head.String()[:12], err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// remoteHead asks the remote where the branch is; zero when it has none.
func (r *Repo) remoteHead(ctx context.Context) (plumbing.Hash, error) {
	refs, err := r.remote.ListContext(ctx, &gogit.ListOptions{Auth: r.auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	for _, ref := range refs {
		if ref.Name() == r.branch {
			return ref.Hash(), nil
		}
	}
	return plumbing.ZeroHash, nil
}

// isAncestor tells whether commit h is s or one of its ancestors. A commit
// the local clone lacks cannot be one.
func (r *Repo) isAncestor(h plumbing.Hash, s *Snapshot) (bool, error) {
	if r.objs.HasEncodedObject(h) != nil {
		return false, nil
	}
	// Every parent, not the first only: a merge may have brought the
	// remote's head in.
	seen := map[plumbing.Hash]bool{s.hash: true}
	queue := []plumbing.Hash{s.hash}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == h {
			return true, nil
		}
		commit, err := r.objs.commit(c)
		if err != nil {
			return false, err
		}
		for _, p := range commit.ParentHashes {
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false, nil
}

// maxRemoteMessage bounds what is kept of the remote's messages for an
// error: a hook's reason is a few lines, not a log.
const maxRemoteMessage = 4 << 10

// remoteMessages keeps the first lines the remote sends on its sideband
// (a pre-receive hook's stderr), so a refused push says why.
type remoteMessages struct{ b []byte }

// Write never fails: a full buffer must not break the push's sideband.
func (m *remoteMessages) Write(p []byte) (int, error) {
	if room := maxRemoteMessage - len(m.b); room > 0 {
		m.b = append(m.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// wrap adds the remote's words to err, one "remote: " line each, as git
// shows them; it keeps errors.Is working.
func (m *remoteMessages) wrap(err error) error {
	var lines []string
	// A hook may print any bytes; the error must be text.
	for _, l := range strings.FieldsFunc(strings.ToValidUTF8(string(m.b), "?"), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" && !progressLine(l) {
			lines = append(lines, "remote: "+l)
		}
	}
	if len(lines) == 0 {
		return err
	}
	return fmt.Errorf("%w\n%s", err, strings.Join(lines, "\n"))
}

// progressLine tells git's own counters ("Resolving deltas: 100%") from a
// hook's words.
func progressLine(l string) bool {
	for _, p := range []string{"Resolving deltas", "Counting objects", "Compressing objects", "Writing objects", "Total "} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}
