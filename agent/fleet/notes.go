package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// notesTracking is where the local clone keeps the remote's notes ref
// refs/notes/NAME: refs/remotes/origin/notes/NAME.
func notesTracking(ref string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/remotes/" + remoteName + "/notes/" + strings.TrimPrefix(ref, "refs/notes/"))
}

// checkNotesRef wants refs/notes/NAME: EditNote pushes there, and must
// never be pointed at a branch.
func checkNotesRef(ref string) error {
	name, ok := strings.CutPrefix(ref, "refs/notes/")
	if !ok || checkBranch(name) != nil {
		return fmt.Errorf("notes ref %q is not refs/notes/NAME", ref)
	}
	return nil
}

// Notes is the notes ref at one fetch; the zero value (no notes yet) is valid.
type Notes struct{ snap *Snapshot }

// FetchNotes fetches a notes ref (refs/notes/NAME); a remote without it
// gives empty Notes.
func (r *Repo) FetchNotes(ctx context.Context, ref string) (*Notes, error) {
	if err := checkNotesRef(ref); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	// "+" forces the local tracking copy only, as for the branch.
	tracking := notesTracking(ref)
	err := r.remote.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + ref + ":" + tracking.String())},
		Auth:       r.auth,
		Tags:       gogit.NoTags,
	})
	switch {
	case err == nil:
		r.packsChanged = true // upkeep looks at the packs after the next Push or Fetch
	case errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, gogit.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return &Notes{}, nil
	default:
		return nil, r.netErr(ctx, "fetch "+ref+" from "+r.ep.url, err)
	}
	head, err := r.wst.Reference(tracking)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: read %s: %w", ref, tracking, err)
	}
	s, err := r.snapshot(head.Hash())
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", ref, err)
	}
	return &Notes{snap: s}, nil
}

// Get returns the note on commit (a full hash), reading both git's flat
// layout and its fan-out directories (ab/cdef..., ab/cd/ef...).
func (n *Notes) Get(commit string) (string, bool, error) {
	if n == nil || n.snap == nil {
		return "", false, nil
	}
	if !plumbing.IsHash(commit) {
		return "", false, fmt.Errorf("note: %q is not a full commit hash", commit)
	}
	for _, p := range notePaths(commit) {
		data, err := n.snap.readFile(p)
		if err == nil {
			return string(data), true, nil
		}
	}
	return "", false, nil
}

func notePaths(h string) []string {
	out := []string{h}
	for i := 2; i <= 8; i += 2 {
		var parts []string
		for j := 0; j < i; j += 2 {
			parts = append(parts, h[j:j+2])
		}
		out = append(out, strings.Join(parts, "/")+"/"+h[i:])
	}
	return out
}

// EditNote sets the note on commit (a full hash) in ref to what edit makes
// of the current one ("" when there is none), and pushes the ref without
// force. edit returns false to change nothing. When another writer moved
// the ref meanwhile, it returns ErrNonFastForward: the caller fetches and
// edits again (agent/publish retries).
func (r *Repo) EditNote(ctx context.Context, ref, commit string, edit func(old string) (string, bool), when time.Time) error {
	if !plumbing.IsHash(commit) {
		return fmt.Errorf("note: %q is not a full commit hash", commit)
	}
	// Always from the remote's newest notes: an edit of a stale copy would
	// drop the verdicts others wrote meanwhile.
	notes, err := r.FetchNotes(ctx, ref)
	if err != nil {
		return err
	}
	old, _, err := notes.Get(commit)
	if err != nil {
		return err
	}
	text, changed := edit(old)
	if !changed || text == old {
		return nil
	}
	// A final newline, as `git notes` writes one.
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	files := map[string][]byte{commit: []byte(text)}
	if notes.snap != nil {
		for _, p := range notePaths(commit)[1:] { // one note per commit, whatever the layout
			if _, err := notes.snap.readFile(p); err == nil {
				files[p] = nil
			}
		}
	}
	// With no notes yet this is the notes ref's root commit. ErrNoChange:
	// the same note is there already, nothing to push.
	s, err := r.commit(notes.snap, nil, files, "Notes added by ferry\n", when)
	if errors.Is(err, ErrNoChange) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("note on %s: %w", commit[:12], err)
	}
	return r.pushRef(ctx, s, plumbing.ReferenceName(ref), notesTracking(ref))
}

// pushRef sends s to ref of the remote without force and moves tracking.
func (r *Repo) pushRef(ctx context.Context, s *Snapshot, ref, tracking plumbing.ReferenceName) error {
	what := fmt.Sprintf("push %s to %s of %s", s.short(), ref, r.ep.url)
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	err := r.remote.PushContext(ctx, &gogit.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(s.hash.String() + ":" + ref.String())},
		Auth:       r.auth,
	})
	switch {
	case err == nil, errors.Is(err, gogit.NoErrAlreadyUpToDate):
	// A refused update is reported in words as often as by a sentinel
	// (servers differ), so both are read.
	case errors.Is(err, gogit.ErrNonFastForwardUpdate), strings.Contains(err.Error(), "non-fast-forward"), strings.Contains(err.Error(), "failed to update ref"):
		return fmt.Errorf("%s: %w (%w)", what, ErrNonFastForward, err)
	default:
		return r.netErr(ctx, what, err)
	}
	return r.wst.SetReference(plumbing.NewHashReference(tracking, s.hash))
}
