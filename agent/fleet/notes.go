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

// NotesRef holds ferry's git notes: the verdict of each analysed commit.
// `git fetch origin refs/notes/ferry:refs/notes/ferry && git log --notes=ferry`
// shows them next to the commits.
const NotesRef = "refs/notes/ferry"

// notesTracking is where the local clone keeps the remote's notes.
var notesTracking = plumbing.ReferenceName("refs/remotes/" + remoteName + "/notes/ferry")

// Notes is the notes ref at one fetch; the zero value (no notes yet) is valid.
type Notes struct{ snap *Snapshot }

// FetchNotes fetches refs/notes/ferry; a remote without it gives empty Notes.
func (r *Repo) FetchNotes(ctx context.Context) (*Notes, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	err := r.remote.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + NotesRef + ":" + notesTracking.String())},
		Auth:       r.auth,
		Tags:       gogit.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, gogit.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return &Notes{}, nil
	default:
		return nil, r.netErr(ctx, "fetch "+NotesRef+" from "+r.ep.url, err)
	}
	ref, err := r.wst.Reference(notesTracking)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: read %s: %w", NotesRef, notesTracking, err)
	}
	s, err := r.snapshot(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", NotesRef, err)
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

// AddNote sets the note on commit to text and pushes refs/notes/ferry
// without force: when another writer moved the ref, it fetches and tries
// again on top, up to five times. Setting the note a commit already has
// is a no-op.
func (r *Repo) AddNote(ctx context.Context, commit, text string, when time.Time) error {
	if !plumbing.IsHash(commit) {
		return fmt.Errorf("note: %q is not a full commit hash", commit)
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		if err = r.addNote(ctx, commit, text, when); !errors.Is(err, ErrNonFastForward) {
			return err
		}
	}
	return err
}

func (r *Repo) addNote(ctx context.Context, commit, text string, when time.Time) error {
	notes, err := r.FetchNotes(ctx)
	if err != nil {
		return err
	}
	if old, ok, _ := notes.Get(commit); ok && old == text {
		return nil
	}
	files := map[string][]byte{commit: []byte(text)}
	if notes.snap != nil {
		for _, p := range notePaths(commit)[1:] { // one note per commit, whatever the layout
			if _, err := notes.snap.readFile(p); err == nil {
				files[p] = nil
			}
		}
	}
	s, err := r.commit(notes.snap, nil, files, Message{Subject: "Notes added by ferry"}, when)
	if errors.Is(err, ErrNoChange) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("note on %s: %w", commit[:12], err)
	}
	return r.pushRef(ctx, s, plumbing.ReferenceName(NotesRef), notesTracking)
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
	case errors.Is(err, gogit.ErrNonFastForwardUpdate), strings.Contains(err.Error(), "non-fast-forward"):
		return fmt.Errorf("%s: %w (%w)", what, ErrNonFastForward, err)
	default:
		return r.netErr(ctx, what, err)
	}
	return r.wst.SetReference(plumbing.NewHashReference(tracking, s.hash))
}
