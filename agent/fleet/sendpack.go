package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// go-git's Remote.Push finds the objects to send by walking every object
// reachable from the remote's refs: on a fleet with 5,000 commits that is
// ~700 ms per push, against ~50 ms for the git CLI. ferry's pushes are
// almost always a few single-parent commits on top of the remote head, for
// which the objects to send are just those commits and the trees and blobs
// that differ from each one's parent. sendPack handles that case with
// go-git's transport and pack encoder and leaves anything else (a first
// commit, merges, a long or unrelated history) to go-git's general push.

// errGeneralPush sends a push down go-git's general path.
var errGeneralPush = errors.New("needs go-git's general push")

// maxShortcutFailures is how many pushes in a row may fail without the ref
// advertisement and succeed with it before sendPack stops skipping it.
const maxShortcutFailures = 3

// maxChain bounds the first-parent walk from the pushed commit to the
// remote head.
const maxChain = 1000

// sendPack pushes s when it is a linear descendant of the remote head.
// What the remote prints on its sideband (a pre-receive hook's reason)
// goes to remote.
//
// Over HTTP, once a push has seen the remote's receive-pack capabilities,
// later pushes skip the ref advertisement (GET info/refs) and send the
// update straight away with the remote-tracking ref as the old value: the
// server applies it only if the branch is still there (a compare-and-swap
// in receive-pack), so a remote that moved refuses it, never loses a
// commit. A refusal, a redirect or a 4xx sends the push down the advertised
// path below, which decides as before; a network or server error is the
// push's error, as it would be there.
func (r *Repo) sendPack(ctx context.Context, s *Snapshot, remote io.Writer) (err error) {
	ep, err := transport.NewEndpoint(r.ep.url)
	if err != nil {
		return err
	}
	cli, err := r.pushClient(ep)
	if err != nil {
		return err
	}
	sess, err := cli.NewReceivePackSession(ep, r.auth)
	if err != nil {
		return err
	}
	defer func() {
		// The first error is the one to report; a close error only when
		// nothing failed before it.
		if cerr := sess.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	var refused *refusal
	if caps := r.pushCaps; caps != nil && r.shortcutFailures < maxShortcutFailures {
		var done bool
		done, refused, err = r.sendKnown(ctx, sess, caps, s, remote)
		if done {
			if err == nil {
				r.shortcutFailures = 0
			}
			return err
		}
		defer func() {
			// The advertised path worked where the shortcut did not: a
			// passing fault, or a remote that wants the GET first (a
			// redirect). After a few in a row, keep to the advertised path.
			if err == nil && refused == nil {
				if r.shortcutFailures++; r.shortcutFailures == maxShortcutFailures {
					r.log.Info("pushes to this remote ask for its refs first from now on")
				}
			}
		}()
	}
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	if r.ep.scheme == "http" || r.ep.scheme == "https" {
		r.pushCaps = ar.Capabilities
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return err
	}
	var old plumbing.Hash
	if ref, ok := refs[r.branch]; ok {
		old = ref.Hash()
	}
	switch {
	// Already there: a retry after a push whose report was lost.
	case old == s.hash:
		return nil
	// The shortcut's refusal was not about a moved branch (a hook, a
	// protected branch): sending it again would only be refused again.
	case refused != nil && refused.old == old:
		_, _ = remote.Write(refused.msgs.b)
		return refused.err
	case old.IsZero():
		return errGeneralPush
	// A head the clone never fetched: someone else pushed since.
	case r.objs.HasEncodedObject(old) != nil:
		return fmt.Errorf("%w: the remote is at %s, which the local clone has not fetched", ErrNonFastForward, old.String()[:12])
	}
	chain, err := r.chainTo(s.hash, old)
	if err != nil || chain == nil {
		return errors.Join(errGeneralPush, err)
	}
	return r.send(ctx, sess, ar.Capabilities, old, s, chain, remote)
}

// refusal is the shortcut's push that the server refused, with what it
// said and the old value it was sent with.
type refusal struct {
	old  plumbing.Hash
	err  error
	msgs *remoteMessages
}

// sendKnown is the push without the ref advertisement, from the
// remote-tracking ref. done reports that err is the push's outcome; else
// the caller goes the advertised way, told of a refusal if there was one.
func (r *Repo) sendKnown(ctx context.Context, sess transport.ReceivePackSession, caps *capability.List, s *Snapshot, remote io.Writer) (done bool, refused *refusal, err error) {
	ref, err := r.wst.Reference(r.tracking)
	if err != nil || ref.Hash() == s.hash {
		return false, nil, nil
	}
	old := ref.Hash()
	chain, err := r.chainTo(s.hash, old)
	if err != nil || chain == nil {
		return false, nil, nil
	}
	// Its own buffer: what a refused attempt printed must not be shown as
	// the reason of the advertised push that follows.
	msgs := &remoteMessages{}
	err = r.send(ctx, sess, caps, old, s, chain, msgs)
	var report reportError
	switch {
	case err == nil:
		_, _ = remote.Write(msgs.b)
		return true, nil, nil
	case errors.As(err, &report):
		r.log.Debug("push without ref advertisement refused; asking for the remote's refs", "err", err)
		return false, &refusal{old: old, err: err, msgs: msgs}, nil
	case !wantsAdvertisement(err):
		// A network error or a server error (5xx): the push's outcome,
		// as it would be after the advertisement (Push then asks where
		// the branch is, for a push that landed but whose answer was lost).
		return true, nil, err
	default:
		r.log.Debug("push without ref advertisement failed; asking for the remote's refs", "err", err)
		return false, nil, nil
	}
}

// wantsAdvertisement tells an answer to a push sent without the ref
// advertisement that may mean the server wants it first: a redirect or a
// 4xx (a 401 or 404 is then reported from the advertised push).
func wantsAdvertisement(err error) bool {
	if errors.Is(err, transport.ErrRepositoryNotFound) || errors.Is(err, transport.ErrAuthenticationRequired) ||
		errors.Is(err, transport.ErrAuthorizationFailed) {
		return true
	}
	// go-git follows a redirect only on the advertisement's GET, and says
	// so in words (no error value to test for).
	if strings.Contains(err.Error(), "http redirect:") {
		return true
	}
	var ue *plumbing.UnexpectedError
	var he *githttp.Err
	if errors.As(err, &ue) && errors.As(ue.Err, &he) {
		return he.StatusCode() >= 300 && he.StatusCode() < 500
	}
	return errors.As(err, &he) && he.StatusCode() >= 300 && he.StatusCode() < 500
}

// send pushes chain (s down to old) as the update old -> s of the branch.
func (r *Repo) send(ctx context.Context, sess transport.ReceivePackSession, caps *capability.List, old plumbing.Hash, s *Snapshot, chain []*object.Commit, remote io.Writer) error {
	hashes, err := r.newObjects(chain)
	if err != nil {
		return err
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(caps)
	// Old is the head seen above: the server refuses the update if the
	// branch moved since, which is what makes this push no force push.
	req.Commands = []*packp.Command{{Name: r.branch, Old: old, New: s.hash}}
	// Ask for the sideband, as go-git's push does when given a Progress:
	// a refusing hook's reason comes on it.
	req.Progress = remote
	if caps.Supports(capability.Sideband64k) {
		_ = req.Capabilities.Set(capability.Sideband64k)
	} else if caps.Supports(capability.Sideband) {
		_ = req.Capabilities.Set(capability.Sideband)
	}
	// No progress counters, as git push --quiet: a hook's words still come.
	if caps.Supports(capability.Quiet) {
		_ = req.Capabilities.Set(capability.Quiet)
	}
	return r.receivePack(ctx, sess, req, hashes, !caps.Supports(capability.OFSDelta))
}

// reportError is a push the server received and refused: its report
// names the reason (a moved branch, a hook, a missing object).
type reportError struct{ err error }

func (e reportError) Error() string { return e.err.Error() }
func (e reportError) Unwrap() error { return e.err }

// chainTo returns the commits from "from" down to (not including) stop
// along single-parent links, or nil when the walk meets a merge, a root or
// maxChain commits first.
func (r *Repo) chainTo(from, stop plumbing.Hash) ([]*object.Commit, error) {
	var chain []*object.Commit
	for h := from; len(chain) < maxChain; {
		if h == stop {
			return chain, nil
		}
		c, err := r.objs.commit(h)
		if err != nil {
			return nil, err
		}
		if len(c.ParentHashes) != 1 {
			return nil, nil
		}
		chain = append(chain, c)
		h = c.ParentHashes[0]
	}
	return nil, nil
}

// newObjects lists the commits of chain and the trees and blobs each
// introduces over its parent, which the remote has.
func (r *Repo) newObjects(chain []*object.Commit) ([]plumbing.Hash, error) {
	// seen spans the chain: an object that recurs is sent once.
	seen := map[plumbing.Hash]bool{}
	var out []plumbing.Hash
	for _, c := range chain {
		out = append(out, c.Hash)
		parent, err := r.objs.commit(c.ParentHashes[0])
		if err != nil {
			return nil, err
		}
		if err := r.treeDelta(c.TreeHash, parent.TreeHash, seen, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *Repo) treeDelta(tree, base plumbing.Hash, seen map[plumbing.Hash]bool, out *[]plumbing.Hash) error {
	if tree == base || seen[tree] {
		return nil
	}
	seen[tree] = true
	*out = append(*out, tree)
	t, err := r.objs.tree(tree)
	if err != nil {
		return err
	}
	old := map[string]object.TreeEntry{}
	if !base.IsZero() {
		bt, err := r.objs.tree(base)
		if err != nil {
			return err
		}
		for _, e := range bt.Entries {
			old[e.Name] = e
		}
	}
	for _, e := range t.Entries {
		o, ok := old[e.Name]
		switch {
		case ok && o.Hash == e.Hash, e.Mode == filemode.Submodule:
			// The remote has it, or it lives in another repository.
		case e.Mode == filemode.Dir:
			var sub plumbing.Hash
			if ok && o.Mode == filemode.Dir {
				sub = o.Hash
			}
			if err := r.treeDelta(e.Hash, sub, seen, out); err != nil {
				return err
			}
		case !seen[e.Hash]:
			seen[e.Hash] = true
			*out = append(*out, e.Hash)
		}
	}
	return nil
}

// receivePack streams a pack of hashes with the update request, as go-git's
// own push does.
func (r *Repo) receivePack(ctx context.Context, sess transport.ReceivePackSession, req *packp.ReferenceUpdateRequest,
	hashes []plumbing.Hash, refDeltas bool) error {
	rd, wr := io.Pipe()
	req.Packfile = rd
	done := make(chan error, 1)
	go func() {
		// Window 0: no delta search; the pack holds a handful of objects.
		_, err := packfile.NewEncoder(wr, r.wst, refDeltas).Encode(hashes, 0)
		done <- err
		_ = wr.CloseWithError(err)
	}()
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		_ = rd.Close() // unblocks the encoder
		<-done
		if rs != nil && rs.Error() != nil {
			return reportError{err}
		}
		return err
	}
	if err := <-done; err != nil {
		return fmt.Errorf("encode pack: %w", err)
	}
	if rs != nil {
		if err := rs.Error(); err != nil {
			return reportError{err}
		}
	}
	return nil
}

// pushClient is the transport client for a push to ep.
func (r *Repo) pushClient(ep *transport.Endpoint) (transport.Transport, error) {
	return client.NewClient(ep)
}
