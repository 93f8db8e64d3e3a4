package fleet

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// richBase pushes, with the git CLI, a tree with what a worktree-less
// writer must keep intact: an executable file and a symbolic link.
func richBase(t *testing.T, f *fixture) {
	t.Helper()
	work := filepath.Join(t.TempDir(), "work")
	git(t, "", "init", "--quiet", "--initial-branch=main", work)
	files := map[string]string{
		"ferry.yaml":                      "apps: [checkout]\n",
		"overlays/dev/kustomization.yaml": "images:\n- name: checkout\n  newTag: 1.0.0\n",
		"overlays/qa/kustomization.yaml":  "images:\n- name: checkout\n  newTag: 0.9.0\n",
		"scripts/deploy.sh":               "#!/bin/sh\necho deploy\n",
	}
	for name, content := range files {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(work, "scripts/deploy.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("overlays/dev", filepath.Join(work, "current")); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", "--all")
	git(t, work, "commit", "--quiet", "--message", "rich base")
	git(t, work, "push", "--quiet", f.bare, "main:refs/heads/main")
}

func TestCommitTrees(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	richBase(t, f)
	o := testOptions(t, f.fileURL())
	r := mustOpen(t, o)
	base := mustFetch(t, r)

	tests := []struct {
		name  string
		files map[string][]byte
	}{
		{"bump", map[string][]byte{"overlays/dev/kustomization.yaml": bump("1.1.0")}},
		{"add-nested", map[string][]byte{
			"overlays/prod/kustomization.yaml":    []byte("resources: [../../base]\n"),
			"overlays/prod/patches/replicas.yaml": []byte("replicas: 3\n"),
		}},
		{"delete-last-file-of-dir", map[string][]byte{"overlays/qa/kustomization.yaml": nil}},
		{"delete-dir", map[string][]byte{"overlays": nil}},
		{"executable-stays-executable", map[string][]byte{"scripts/deploy.sh": []byte("#!/bin/sh\necho v2\n")}},
		{"symlink-replaced-by-dir", map[string][]byte{"current/kustomization.yaml": []byte("x\n")}},
		{"dir-replaced-by-file", map[string][]byte{"scripts": []byte("no more scripts\n")}},
		{"delete-below-a-file-is-a-no-op", map[string][]byte{"ferry.yaml/x": nil, "README.md": []byte("hi\n")}},
		{"delete-missing-is-a-no-op", map[string][]byte{"nope/nothing": nil, "nothing": nil, "README.md": []byte("hi\n")}},
		{"git-sort-order", map[string][]byte{
			"overlays-x":    []byte("dash sorts before dot before slash\n"),
			"overlays.d/a":  []byte("a\n"),
			"overlays0":     []byte("0 sorts after slash\n"),
			"overlays/dev0": []byte("file next to dir dev\n"),
		}},
		{"everything-deleted", map[string][]byte{"ferry.yaml": nil, "overlays": nil, "scripts": nil, "current": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := r.Commit(base, tt.files, tt.name, t0)
			if err != nil {
				t.Fatal(err)
			}
			got := git(t, o.Dir, "ls-tree", "-r", "--full-tree", s.Hash())
			golden := filepath.Join("testdata", "commit", tt.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("tree of %s:\n%s\nwant (%s):\n%s", tt.name, got, golden, want)
			}
			// Each path's content reads back through the snapshot.
			for p, data := range tt.files {
				b, err := s.ReadFile(p)
				switch {
				case data == nil && err == nil && !strings.HasPrefix(p, "ferry.yaml/"):
					t.Errorf("%s was deleted but reads %q", p, b)
				case data != nil && string(b) != string(data):
					t.Errorf("%s = %q, %v; want %q", p, b, err, data)
				}
			}
		})
	}
	// git checks what go-git wrote: tree order, modes, object format.
	git(t, o.Dir, "fsck", "--strict", "--no-dangling")
}

func TestCommitMetadata(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	o := testOptions(t, f.fileURL())
	r := mustOpen(t, o)
	base := mustFetch(t, r)
	when := time.Date(2026, 11, 25, 17, 30, 5, 0, time.FixedZone("CET", 3600))
	msg := promote("checkout", "qa", "1.4.2")
	s, err := r.Commit(base, map[string][]byte{"overlays/qa/kustomization.yaml": bump("1.4.2")}, msg, when)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Time().Equal(when) {
		t.Errorf("Time = %v, want %v", s.Time(), when)
	}
	got := git(t, o.Dir, "log", "-1", "--format=%P%n%an|%ae|%ad%n%cn|%ce|%cd%n%B", "--date=iso-strict", s.Hash())
	want := base.Hash() + "\n" +
		"ferry bot|ferry@example.com|2026-11-25T17:30:05+01:00\n" +
		"ferry bot|ferry@example.com|2026-11-25T17:30:05+01:00\n" +
		msg + "\n"
	if got != want {
		t.Fatalf("commit:\n%s\nwant:\n%s", got, want)
	}
}

func TestCommitErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	r := mustOpen(t, testOptions(t, f.fileURL()))
	base := mustFetch(t, r)
	other := mustOpen(t, testOptions(t, f.fileURL()))
	otherHead := mustFetch(t, other)
	ok := "ok"

	tests := []struct {
		name   string
		parent *Snapshot
		files  map[string][]byte
		msg    string
		want   string
		is     error
	}{
		{"absolute path", base, map[string][]byte{"/etc/passwd": []byte("x")}, ok, `"/etc/passwd"`, nil},
		{"dot-dot", base, map[string][]byte{"overlays/../x": []byte("x")}, ok, `"overlays/../x"`, nil},
		{"trailing slash", base, map[string][]byte{"overlays/": []byte("x")}, ok, `"overlays/"`, nil},
		{"empty path", base, map[string][]byte{"": []byte("x")}, ok, `""`, nil},
		{"into .git", base, map[string][]byte{"sub/.git/config": []byte("x")}, ok, ".git", nil},
		{"NUL", base, map[string][]byte{"a\x00b": []byte("x")}, ok, `"a\x00b"`, nil},
		{"file and dir", base, map[string][]byte{"a": []byte("x"), "a/b": []byte("y")}, ok, `"a" is both a file and the directory of "a/b"`, nil},
		{"no message", base, map[string][]byte{"a": []byte("x")}, " \n", "empty commit message", nil},
		{"no change", base, map[string][]byte{"ferry.yaml": seedFiles["ferry.yaml"]}, ok, "nothing to commit", ErrNoChange},
		{"nothing at all", base, nil, ok, "nothing to commit", ErrNoChange},
		{"parent of another repo", otherHead, map[string][]byte{"a": []byte("x")}, ok, "another Repo", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Commit(tt.parent, tt.files, tt.msg, t0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %s", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}
