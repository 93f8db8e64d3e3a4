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

	notes, err := r.FetchNotes(ctx, testNotes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := notes.Get(head); ok || err != nil {
		t.Fatalf("note before any was written: ok=%v err=%v", ok, err)
	}
	text := "Ferry-Analysis: smoke\nFerry-Verdict: Successful\n"
	if err := r.EditNote(ctx, testNotes, head, set(text), time.Time{}); err != nil {
		t.Fatal(err)
	}
	// git itself reads the note ferry wrote.
	if got := strings.TrimSpace(git(t, f.bare, "notes", "--ref", "ferry", "show", head)); got != strings.TrimSpace(text) {
		t.Errorf("git notes show = %q, want %q", got, text)
	}
	// ferry reads a note git wrote, on another commit, after git fanned the tree out.
	second := f.cliPush(t, map[string]string{"overlays/dev/kustomization.yaml": "images:\n- name: checkout\n  newTag: 1.0.1\n"}, "bump")
	git(t, f.bare, "notes", "--ref", "ferry", "add", "-m", "by git", second)
	notes, err = r.FetchNotes(ctx, testNotes)
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
	if err := r.EditNote(ctx, testNotes, second, set("replaced"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(git(t, f.bare, "notes", "--ref", "ferry", "show", second)); got != "replaced" {
		t.Errorf("after replace: %q", got)
	}
	if got := strings.TrimSpace(git(t, f.bare, "notes", "--ref", "ferry", "show", head)); got != strings.TrimSpace(text) {
		t.Errorf("the other note changed: %q", got)
	}
	if err := r.EditNote(ctx, testNotes, second, set("replaced"), time.Time{}); err != nil {
		t.Fatalf("same note again: %v", err)
	}
}

func TestEditNoteBuildsOnTheRemotesNotes(t *testing.T) {
	f := newFixture(t, seedFiles)
	ctx := context.Background()
	a := mustOpen(t, testOptions(t, f.httpURL()))
	b := mustOpen(t, testOptions(t, f.httpURL()))
	head := mustFetch(t, a).Hash()
	mustFetch(t, b)
	if err := a.EditNote(ctx, testNotes, head, set("from a"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	second := f.cliPush(t, map[string]string{"x": "1"}, "x")
	mustFetch(t, b)
	// b never saw a's notes commit: it builds on the remote's notes, so a's note survives.
	if err := b.EditNote(ctx, testNotes, second, set("from b"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for commit, want := range map[string]string{head: "from a", second: "from b"} {
		if got := strings.TrimSpace(git(t, f.bare, "notes", "--ref", "ferry", "show", commit)); got != want {
			t.Errorf("note on %s = %q, want %q", commit[:8], got, want)
		}
	}
	if err := a.EditNote(ctx, testNotes, "nothex", set("x"), time.Time{}); err == nil || errors.Is(err, ErrNonFastForward) {
		t.Errorf("bad hash: %v", err)
	}
}

const testNotes = "refs/notes/ferry"

// set is an edit that replaces the note with text.
func set(text string) func(string) (string, bool) {
	return func(string) (string, bool) { return text, true }
}

func TestEditNoteSeesTheOldNote(t *testing.T) {
	f := newFixture(t, seedFiles)
	ctx := context.Background()
	r := mustOpen(t, testOptions(t, f.fileURL()))
	head := mustFetch(t, r).Hash()
	appendLine := func(line string) func(string) (string, bool) {
		return func(old string) (string, bool) { return old + line + "\n", true }
	}
	for _, l := range []string{"qa: Successful", "stage: Failed"} {
		if err := r.EditNote(ctx, testNotes, head, appendLine(l), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := git(t, f.bare, "notes", "--ref", "ferry", "show", head); got != "qa: Successful\nstage: Failed\n" {
		t.Fatalf("note = %q: an edit lost the other verdict", got)
	}
	before := git(t, f.bare, "rev-parse", testNotes)
	if err := r.EditNote(ctx, testNotes, head, func(old string) (string, bool) { return old, false }, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if after := git(t, f.bare, "rev-parse", testNotes); after != before {
		t.Fatal("an edit that changed nothing pushed a notes commit")
	}
	if _, err := r.FetchNotes(ctx, "refs/heads/main"); err == nil {
		t.Fatal("a branch was taken for a notes ref")
	}
}
