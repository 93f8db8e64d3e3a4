package fleet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

func TestOpenCommitPush(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"http", "file", "path"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, seedFiles)
			url := f.transports()[name]
			r := mustOpen(t, testOptions(t, url))
			head := mustFetch(t, r)
			if head.Hash() != f.head(t) {
				t.Fatalf("fetched %s, remote main is %s", head.Hash(), f.head(t))
			}
			got, err := head.ReadFile("overlays/dev/kustomization.yaml")
			if err != nil || !bytes.Equal(got, seedFiles["overlays/dev/kustomization.yaml"]) {
				t.Fatalf("ReadFile = %q, %v", got, err)
			}

			version := "1.1.0-" + name
			s, err := r.Commit(head, map[string][]byte{"overlays/dev/kustomization.yaml": bump(version)}, promote("checkout", "dev", version), t0)
			if err != nil {
				t.Fatal(err)
			}
			if f.head(t) != head.Hash() {
				t.Fatal("Commit changed the remote before Push")
			}
			if err := r.Push(ctx, s); err != nil {
				t.Fatal(err)
			}
			if f.head(t) != s.Hash() {
				t.Fatalf("remote main = %s, want pushed %s", f.head(t), s.Hash())
			}
			if got := git(t, f.bare, "show", "main:overlays/dev/kustomization.yaml"); got != string(bump(version)) {
				t.Fatalf("remote file = %q", got)
			}
			meta := git(t, f.bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%ct|%P|%(trailers:key=Ferry-Version,valueonly)", "main")
			want := "ferry bot <ferry@example.com>|ferry bot <ferry@example.com>|" +
				strconv.FormatInt(t0.Unix(), 10) + "|" + head.Hash() + "|" + version + "\n\n"
			if meta != want {
				t.Fatalf("commit metadata = %q, want %q", meta, want)
			}
			git(t, f.bare, "fsck", "--strict", "--no-dangling")
			if got := strings.TrimSpace(git(t, r.Dir(), "rev-parse", "refs/remotes/origin/main")); got != s.Hash() {
				t.Fatalf("tracking ref after Push = %s, want %s", got, s.Hash())
			}

			// The tracking ref moved, so a Fetch finds nothing new.
			again := mustFetch(t, r)
			if again.Hash() != s.Hash() {
				t.Fatalf("Fetch after Push = %s, want %s", again.Hash(), s.Hash())
			}
			// Pushing what the remote already has is a no-op.
			if err := r.Push(ctx, s); err != nil {
				t.Fatalf("re-push: %v", err)
			}
		})
	}
}

func TestReopenFetches(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		uploads [][]byte
	)
	f := newFixture(t, seedFiles, gitserver.WithHook(func(r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			mu.Lock()
			uploads = append(uploads, body)
			mu.Unlock()
		}
		return true
	}))
	o := testOptions(t, f.httpURL())
	first := mustFetch(t, mustOpen(t, o))
	packs := packFiles(t, o.Dir)
	theirs := f.cliPush(t, map[string]string{"overlays/qa/kustomization.yaml": "next\n"}, "next")

	mu.Lock()
	uploads = nil
	mu.Unlock()
	r := mustOpen(t, o)
	head := mustFetch(t, r)
	if head.Hash() != theirs {
		t.Fatalf("head after reopen = %s, want %s", head.Hash(), theirs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(uploads) == 0 || !bytes.Contains(uploads[0], []byte("have "+first.Hash())) {
		t.Fatalf("reopen did not negotiate from the existing clone; upload-pack requests: %q", uploads)
	}
	for _, p := range packs {
		if !slices.Contains(packFiles(t, o.Dir), p) {
			t.Fatalf("pack %s of the first clone is gone: the clone was redone", p)
		}
	}
	// The old snapshot is still readable from the reopened clone.
	if _, err := r.Snapshot(first.Hash()); err != nil {
		t.Fatal(err)
	}
}

func packFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no packs in %s: %v", dir, err)
	}
	return m
}

func TestOpenRefusesOtherDirs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	o := testOptions(t, f.httpURL())
	mustOpen(t, o)

	other := o
	other.URL = f.fileURL()
	if _, err := Open(context.Background(), other); err == nil || !strings.Contains(err.Error(), "clone of") {
		t.Fatalf("Open of a clone of another URL: err = %v", err)
	}

	junk := testOptions(t, f.httpURL())
	if err := os.MkdirAll(junk.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(junk.Dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), junk); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Open of a non-empty directory: err = %v", err)
	}
}

func TestCrashBetweenCommitAndPush(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	o := testOptions(t, f.httpURL())
	before := f.head(t)
	{
		r := mustOpen(t, o)
		s, err := r.Commit(mustFetch(t, r), map[string][]byte{"lost": []byte("x")}, "never pushed", t0)
		if err != nil {
			t.Fatal(err)
		}
		_ = s // the process dies here
	}
	if f.head(t) != before {
		t.Fatal("an unpushed commit reached the remote")
	}
	r := mustOpen(t, o)
	head := mustFetch(t, r)
	if head.Hash() != before {
		t.Fatalf("after restart head = %s, want %s", head.Hash(), before)
	}
	if _, err := head.ReadFile("lost"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the unpushed change shows in the fetched head: %v", err)
	}
	s, err := r.Commit(head, map[string][]byte{"kept": []byte("y")}, "after restart", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got := git(t, f.bare, "log", "--format=%s", "main"); got != "after restart\nseed\n" {
		t.Fatalf("remote log = %q", got)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	const pass = "tok-3f9a7c"
	f := newFixture(t, seedFiles, gitserver.WithBasicAuth("git", pass))
	tests := []struct {
		name string
		url  string
		auth Auth
		ok   bool
	}{
		{"user and password", f.httpURL(), Auth{Username: "git", Password: pass}, true},
		{"token only", f.httpURL(), Auth{Password: pass}, true},
		{"credentials in URL", strings.Replace(f.httpURL(), "http://", "http://git:"+pass+"@", 1), Auth{}, true},
		{"wrong password", f.httpURL(), Auth{Password: pass + "-wrong"}, false},
		{"wrong password in URL", strings.Replace(f.httpURL(), "http://", "http://git:"+pass+"-wrong@", 1), Auth{}, false},
		{"no credentials", f.httpURL(), Auth{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logBuffer{}
			o := testOptions(t, tt.url)
			o.Auth = tt.auth
			o.Logger = testLogger(t, logs)
			r, err := Open(context.Background(), o)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				head := mustFetch(t, r)
				s, err := r.Commit(head, map[string][]byte{"auth": []byte(tt.name)}, tt.name, t0)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Push(context.Background(), s); err != nil {
					t.Fatal(err)
				}
				cfg, err := os.ReadFile(filepath.Join(o.Dir, "config"))
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(cfg, []byte(pass)) {
					t.Fatalf("the clone's config holds the password:\n%s", cfg)
				}
			} else {
				if err == nil {
					t.Fatal("Open succeeded with bad credentials")
				}
				if strings.Contains(err.Error(), pass) {
					t.Fatalf("error shows the password: %v", err)
				}
				if !strings.Contains(err.Error(), "authentication required") && !strings.Contains(err.Error(), "authorization failed") {
					t.Errorf("error does not say authentication failed: %v", err)
				}
			}
			if strings.Contains(logs.String(), pass) {
				t.Fatalf("logs show the password:\n%s", logs)
			}
		})
	}
}

func TestEmptyRemote(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	r := mustOpen(t, testOptions(t, f.httpURL()))
	if _, err := r.Fetch(context.Background()); !errors.Is(err, ErrEmptyRemote) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Fetch of an empty remote: err = %v, want ErrEmptyRemote", err)
	}
	root, err := r.Commit(nil, map[string][]byte{"ferry.yaml": []byte("apps: []\n")}, "bootstrap", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	if head := mustFetch(t, r); head.Hash() != root.Hash() || f.head(t) != root.Hash() {
		t.Fatalf("after bootstrap: fetched %s, remote %s, pushed %s", head.Hash(), f.head(t), root.Hash())
	}

	o := testOptions(t, f.httpURL())
	o.Branch = "release"
	r2 := mustOpen(t, o)
	if _, err := r2.Fetch(context.Background()); !errors.Is(err, ErrEmptyRemote) || !strings.Contains(err.Error(), `"release"`) {
		t.Fatalf("Fetch of a missing branch: err = %v, want ErrEmptyRemote naming it", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	var block atomic.Bool
	f := newFixture(t, seedFiles, gitserver.WithHook(func(r *http.Request) bool {
		if block.Load() {
			<-r.Context().Done() // hold the request until the client gives up
			return false
		}
		return true
	}))
	r := mustOpen(t, testOptions(t, f.httpURL()))
	r.opts.Timeout = 50 * time.Millisecond // the test asserts the outcome, not the time
	block.Store(true)
	_, err := r.Fetch(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch against a hanging server: err = %v, want context.DeadlineExceeded", err)
	}
}

func TestOptionsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no URL", Options{Dir: t.TempDir()}, "URL is empty"},
		{"no Dir", Options{URL: "http://example.invalid/x.git"}, "Dir is empty"},
		{"bad branch", Options{URL: "http://example.invalid/x.git", Dir: t.TempDir(), Branch: "a..b"}, "invalid branch"},
		{"bad scheme", Options{URL: "ftp://example.invalid/x.git", Dir: t.TempDir()}, "unsupported protocol"},
		{"missing ssh key", Options{URL: "ssh://git@127.0.0.1:1/x.git", Dir: t.TempDir(), Auth: Auth{SSHKeyFile: "/nonexistent/key"}}, "/nonexistent/key"},
		{"bad author", Options{URL: "http://example.invalid/x.git", Dir: t.TempDir(), Author: Signature{Name: "a <b>"}}, "author"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
