package fleet

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// history builds a fleet history mixing ferry's commits with human ones,
// including a merge and a mode-only change, and returns its head.
func history(t *testing.T) (*fixture, *Repo, *Snapshot) {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, seedFiles)
	r := mustOpen(t, testOptions(t, f.fileURL()))
	steps := []map[string][]byte{
		{"overlays/dev/kustomization.yaml": bump("1.1.0")},
		{"overlays/qa/kustomization.yaml": bump("1.1.0")},
		{"overlays/prod/kustomization.yaml": bump("1.0.0")},
		{"overlays/dev/kustomization.yaml": bump("1.2.0"), "ferry.yaml": []byte("apps: [checkout, cart]\n")},
		{"overlays/prod/kustomization.yaml": nil},
		{"overlays/prod/kustomization.yaml": bump("1.1.0")},
		{"overlays/dev/kustomization.yaml": bump("1.1.0")}, // back to an earlier content
	}
	for i, files := range steps {
		head := mustFetch(t, r)
		s, err := r.Commit(head, files, promote("checkout", "env", "v"+string(rune('0'+i))), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Push(ctx, s); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			// A human merges a side branch and flips a mode.
			work := filepath.Join(t.TempDir(), "w")
			git(t, "", "clone", "--quiet", f.bare, work)
			git(t, work, "checkout", "--quiet", "-b", "side", "HEAD~2")
			gitWrite(t, work, "overlays/qa/kustomization.yaml", "side\n")
			git(t, work, "commit", "--quiet", "-am", "side change")
			git(t, work, "checkout", "--quiet", "main")
			git(t, work, "merge", "--quiet", "--no-ff", "-m", "merge side", "side")
			git(t, work, "update-index", "--chmod=+x", "ferry.yaml")
			git(t, work, "commit", "--quiet", "-m", "chmod")
			git(t, work, "push", "--quiet", "origin", "main")
		}
	}
	return f, r, mustFetch(t, r)
}

func gitWrite(t *testing.T, work, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(work, filepath.FromSlash(name)), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLog(t *testing.T) {
	t.Parallel()
	f, r, head := history(t)
	ctx := context.Background()
	var got []string
	var msgs []string
	err := r.Log(ctx, head, func(c Commit) (bool, error) {
		got = append(got, c.Hash)
		msgs = append(msgs, c.Message)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(git(t, f.bare, "rev-list", "--first-parent", head.Hash()))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Log = %v\nwant (git rev-list --first-parent) %v", got, want)
	}
	if !strings.Contains(msgs[0], "Ferry-Version: v6\n") || !strings.HasPrefix(msgs[len(msgs)-1], "seed") {
		t.Errorf("messages not read: first %q, last %q", msgs[0], msgs[len(msgs)-1])
	}

	// Stopping early and errors from fn.
	n := 0
	if err := r.Log(ctx, head, func(Commit) (bool, error) { n++; return n < 3, nil }); err != nil || n != 3 {
		t.Errorf("stop after 3: n = %d, err = %v", n, err)
	}
	boom := errors.New("boom")
	if err := r.Log(ctx, head, func(Commit) (bool, error) { return true, boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Log(cctx, head, func(Commit) (bool, error) { return true, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestLogPath(t *testing.T) {
	t.Parallel()
	f, r, head := history(t)
	for _, path := range []string{
		"overlays/dev/kustomization.yaml",
		"overlays/qa/kustomization.yaml",
		"overlays/prod/kustomization.yaml",
		"overlays/prod",
		"overlays",
		"ferry.yaml",
		"missing/file",
		"ferry.yaml/below-a-file",
	} {
		t.Run(path, func(t *testing.T) {
			var got []string
			err := r.LogPath(context.Background(), head, path, func(c Commit) (bool, error) {
				got = append(got, c.Hash)
				return true, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Fields(git(t, f.bare, "log", "--first-parent", "--format=%H", head.Hash(), "--", path))
			if !slices.Equal(got, want) {
				t.Fatalf("LogPath(%s) = %v\nwant (git log --first-parent -- path) %v", path, got, want)
			}
		})
	}
	if err := r.LogPath(context.Background(), head, "../x", func(Commit) (bool, error) { return true, nil }); err == nil {
		t.Error("LogPath accepted an invalid path")
	}
}

func TestSnapshotByHash(t *testing.T) {
	t.Parallel()
	f, r, head := history(t)
	old := strings.TrimSpace(git(t, f.bare, "rev-parse", "main~3"))
	s, err := r.Snapshot(old)
	if err != nil {
		t.Fatal(err)
	}
	want := git(t, f.bare, "show", old+":overlays/dev/kustomization.yaml")
	if got, err := s.ReadFile("overlays/dev/kustomization.yaml"); err != nil || string(got) != want {
		t.Fatalf("ReadFile at %s = %q, %v; want %q", old, got, err, want)
	}
	for _, bad := range []string{"main", head.Hash()[:12], strings.Repeat("0", 40)} {
		if _, err := r.Snapshot(bad); err == nil {
			t.Errorf("Snapshot(%q) succeeded", bad)
		}
	}
}

// TestReadFileUpTo: a file over the bound is a *TooLargeError naming its
// size, not its content; one within it reads as ReadFile does.
func TestReadFileUpTo(t *testing.T) {
	t.Parallel()
	_, _, head := history(t)
	const name = "overlays/dev/kustomization.yaml"
	want, err := head.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := head.ReadFileUpTo(name, int64(len(want))); err != nil || string(got) != string(want) {
		t.Fatalf("within the bound: %q, %v", got, err)
	}
	_, err = head.ReadFileUpTo(name, int64(len(want))-1)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Size != int64(len(want)) || tl.Max != int64(len(want))-1 {
		t.Fatalf("over the bound: %v", err)
	}
	if _, err := head.ReadFileUpTo("no/such/file", 10); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("absent file: %v", err)
	}
}
