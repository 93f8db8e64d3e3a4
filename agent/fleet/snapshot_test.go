package fleet

import (
	"context"
	"errors"
	"io/fs"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestSnapshotFS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	richBase(t, f)
	r := mustOpen(t, testOptions(t, f.fileURL()))
	base := mustFetch(t, r)
	s, err := r.Commit(base, map[string][]byte{"docs/readme.md": []byte("# fleet\n")}, "docs", t0)
	if err != nil {
		t.Fatal(err)
	}
	fsys := s.FS()
	if err := fstest.TestFS(fsys,
		"ferry.yaml", "overlays/dev/kustomization.yaml", "overlays/qa/kustomization.yaml",
		"scripts/deploy.sh", "docs/readme.md", "current",
	); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		op   func() (string, error)
		want string
		err  error
	}{
		{"read through a linked dir", func() (string, error) {
			b, err := fs.ReadFile(fsys, "current/kustomization.yaml")
			return string(b), err
		}, "images:\n- name: checkout\n  newTag: 1.0.0\n", nil},
		{"readlink", func() (string, error) { return fsys.(fs.ReadLinkFS).ReadLink("current") }, "overlays/dev", nil},
		{"stat follows", func() (string, error) {
			fi, err := fs.Stat(fsys, "current")
			return modeOf(fi), err
		}, "drwxr-xr-x", nil},
		{"lstat does not", func() (string, error) {
			fi, err := fsys.(fs.ReadLinkFS).Lstat("current")
			return modeOf(fi), err
		}, "Lrwxrwxrwx", nil},
		{"executable", func() (string, error) {
			fi, err := fs.Stat(fsys, "scripts/deploy.sh")
			return modeOf(fi), err
		}, "-rwxr-xr-x", nil},
		{"missing", func() (string, error) { _, err := fs.ReadFile(fsys, "nope.yaml"); return "", err }, "", fs.ErrNotExist},
		{"below a file", func() (string, error) { _, err := fs.ReadFile(fsys, "ferry.yaml/x"); return "", err }, "", fs.ErrNotExist},
		{"invalid", func() (string, error) { _, err := fsys.Open("../x"); return "", err }, "", fs.ErrInvalid},
		{"Snapshot.ReadFile missing", func() (string, error) { _, err := s.ReadFile("overlays/prod/kustomization.yaml"); return "", err }, "", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.op()
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := s.ReadFile("overlays"); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("ReadFile of a directory: %v", err)
	}
	if _, err := s.ReadFile("nope"); err == nil || !strings.Contains(err.Error(), s.Hash()[:12]) {
		t.Errorf("ReadFile error does not name the commit: %v", err)
	}
}

func modeOf(fi fs.FileInfo) string {
	if fi == nil {
		return ""
	}
	return fi.Mode().String()
}

// Links that leave the repository or loop are errors rather than escaping
// or hanging; a link that leaves is a broken link, not an absent file, so
// a policies/ or rejected.yaml link to /etc does not read as "none".
func TestSnapshotBadLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	work := t.TempDir() + "/w"
	git(t, "", "clone", "--quiet", f.bare, work)
	for target, link := range map[string]string{"../../etc/passwd": "escape", "/etc/passwd": "absolute", "loop-b": "loop-a"} {
		h := strings.TrimSpace(gitStdin(t, work, target, "hash-object", "-w", "--stdin"))
		git(t, work, "update-index", "--add", "--cacheinfo", "120000,"+h+","+link)
	}
	h := strings.TrimSpace(gitStdin(t, work, "loop-a", "hash-object", "-w", "--stdin"))
	git(t, work, "update-index", "--add", "--cacheinfo", "120000,"+h+",loop-b")
	git(t, work, "commit", "--quiet", "-m", "bad links")
	git(t, work, "push", "--quiet", "origin", "HEAD:main")

	r := mustOpen(t, testOptions(t, f.fileURL()))
	s := mustFetch(t, r)
	for _, name := range []string{"escape", "absolute"} {
		if _, err := s.ReadFile(name); !errors.Is(err, ErrBrokenLink) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%s) = %v, want ErrBrokenLink", name, err)
		}
	}
	if _, err := s.ReadFile("loop-a"); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("ReadFile(loop-a) = %v, want a link loop error", err)
	}
	if target, err := s.FS().(fs.ReadLinkFS).ReadLink("escape"); err != nil || target != "../../etc/passwd" {
		t.Errorf("ReadLink(escape) = %q, %v", target, err)
	}
}

// Snapshots are read from many goroutines while the one writer fetches,
// commits and pushes (run with -race).
func TestConcurrentReads(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	r := mustOpen(t, testOptions(t, f.httpURL()))
	ctx := context.Background()
	first := mustFetch(t, r)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	readers := make([]error, 4)
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := fs.WalkDir(first.FS(), ".", func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					_, err = fs.ReadFile(first.FS(), p)
					return err
				})
				if err == nil {
					err = r.Log(ctx, first, func(Commit) (bool, error) { return true, nil })
				}
				if err != nil {
					readers[i] = err
					return
				}
			}
		}()
	}
	head := first
	for i := range 5 {
		// Another writer forces a fetch of a new pack now and then.
		if i%2 == 1 {
			f.cliPush(t, map[string]string{"other": strings.Repeat("x", i)}, "other writer")
			head = mustFetch(t, r)
		}
		next, err := r.Commit(head, map[string][]byte{"overlays/dev/kustomization.yaml": bump("1.0." + string(rune('1'+i)))}, "bump", t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Push(ctx, next); err != nil {
			t.Fatal(err)
		}
		head = next
		if _, err := head.ReadFile("ferry.yaml"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for i, err := range readers {
		if err != nil {
			t.Errorf("reader %d: %v", i, err)
		}
	}
}

func TestObjectID(t *testing.T) {
	dir := t.TempDir() + "/fleet.git"
	files := map[string][]byte{"policies/a.rego": []byte("package a\n"), "overlays/dev/k.yaml": []byte("x: 1\n")}
	if err := InitBare(context.Background(), dir, "main", files, "seed", Signature{Name: "t", Email: "t@e"}, time.Unix(1, 0), nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), Options{URL: dir, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, err := exec.Command("git", "-C", dir, "rev-parse", "main:policies").Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ObjectID("policies")
	if err != nil || got != strings.TrimSpace(string(want)) {
		t.Fatalf("ObjectID(policies) = %q, %v; want %s", got, err, want)
	}
	next, err := r.Commit(s, map[string][]byte{"overlays/dev/k.yaml": []byte("x: 2\n")}, "bump", time.Unix(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := next.ObjectID("policies"); again != got {
		t.Fatalf("an unrelated change moved the policies tree: %s != %s", again, got)
	}
	if _, err := s.ObjectID("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("absent path: %v", err)
	}
}

// TestSnapshotDanglingLink: a link whose target is gone (renamed in a later
// commit) is ErrBrokenLink, not an absent file, whether read as a file or
// walked into as a directory (a policies/ link to a renamed directory must
// not read as "no policies"); a link to an existing directory that lacks
// the rest of the path is plain absence.
func TestSnapshotDanglingLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	work := t.TempDir() + "/w"
	git(t, "", "clone", "--quiet", f.bare, work)
	for target, link := range map[string]string{"gates-old": "policies", "ops/rejected-old.yaml": "rejected.yaml", "overlays": "ov"} {
		h := strings.TrimSpace(gitStdin(t, work, target, "hash-object", "-w", "--stdin"))
		git(t, work, "update-index", "--add", "--cacheinfo", "120000,"+h+","+link)
	}
	git(t, work, "commit", "--quiet", "-m", "links")
	git(t, work, "push", "--quiet", "origin", "HEAD:main")

	s := mustFetch(t, mustOpen(t, testOptions(t, f.fileURL())))
	for _, name := range []string{"rejected.yaml", "policies/gate.rego"} {
		if _, err := s.ReadFile(name); !errors.Is(err, ErrBrokenLink) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%s) = %v, want ErrBrokenLink", name, err)
		}
	}
	if _, err := s.ObjectID("policies"); !errors.Is(err, ErrBrokenLink) {
		t.Errorf("ObjectID(policies) = %v, want ErrBrokenLink", err)
	}
	if _, err := s.ReadFile("ov/nope.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(ov/nope.yaml) = %v, want ErrNotExist (the link's directory exists)", err)
	}
}
