package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNotesRoundTripWithGit(t *testing.T) {
	f := newFixture(t, seedFiles)
	ctx := context.Background()
	r := mustOpen(t, testOptions(t, f.httpURL()))
	head := mustFetch(t, r).Hash()

	notes, err := r.FetchNotes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := notes.Get(head); ok || err != nil {
		t.Fatalf("note before any was written: ok=%v err=%v", ok, err)
	}
	text := "Ferry-Analysis: smoke\nFerry-Verdict: Successful\n"
	if err := r.AddNote(ctx, head, text, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// git itself reads the note ferry wrote.
	if got := strings.TrimSpace(git(t, f.bare, "notes", "--ref", "ferry", "show", head)); got != strings.TrimSpace(text) {
		t.Errorf("git notes show = %q, want %q", got, text)
	}
	// ferry reads a note git wrote, on another commit, after git fanned the tree out.
	second := f.cliPush(t, map[string]string{"overlays/dev/kustomization.yaml": "images:\n- name: checkout\n  newTag: 1.0.1\n"}, "bump")
	git(t, f.bare, "notes", "--ref", "ferry", "add", "-m", "by git", second)
	notes, err = r.FetchNotes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for commit, want := range map[string]string{head: text, second: "by git\n"} {
		got, ok, err := notes.Get(commit)
		if err != nil || !ok || got != want {
			t.Errorf("Get(%s) = %q, %v, %v; want %q", commit[:8], got, ok, err, want)
		}
	}
	// Replacing a note keeps one note per commit, and the push is never forced.
	if err := r.AddNote(ctx, second, "replaced", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(git(t, f.bare, "notes", "--ref", "ferry", "show", second)); got != "replaced" {
		t.Errorf("after replace: %q", got)
	}
	if got := strings.TrimSpace(git(t, f.bare, "notes", "--ref", "ferry", "show", head)); got != strings.TrimSpace(text) {
		t.Errorf("the other note changed: %q", got)
	}
	if err := r.AddNote(ctx, second, "replaced", time.Time{}); err != nil {
		t.Fatalf("same note again: %v", err)
	}
}

func TestAddNoteRetriesWhenAnotherWriterMovedTheRef(t *testing.T) {
	f := newFixture(t, seedFiles)
	ctx := context.Background()
	a := mustOpen(t, testOptions(t, f.httpURL()))
	b := mustOpen(t, testOptions(t, f.httpURL()))
	head := mustFetch(t, a).Hash()
	mustFetch(t, b)
	if err := a.AddNote(ctx, head, "from a", time.Time{}); err != nil {
		t.Fatal(err)
	}
	second := f.cliPush(t, map[string]string{"x": "1"}, "x")
	mustFetch(t, b)
	// b never saw a's notes commit: it builds on the remote's notes, so a's note survives.
	if err := b.AddNote(ctx, second, "from b", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for commit, want := range map[string]string{head: "from a", second: "from b"} {
		if got := strings.TrimSpace(git(t, f.bare, "notes", "--ref", "ferry", "show", commit)); got != want {
			t.Errorf("note on %s = %q, want %q", commit[:8], got, want)
		}
	}
	if err := a.AddNote(ctx, "nothex", "x", time.Time{}); err == nil || errors.Is(err, ErrNonFastForward) {
		t.Errorf("bad hash: %v", err)
	}
}
