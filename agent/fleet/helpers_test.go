package fleet

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// fixture is a bare fleet repository served over HTTP by git http-backend.
type fixture struct {
	root string // the server's root
	bare string // the bare repository
	srv  *gitserver.Server
}

var seedFiles = map[string][]byte{
	"ferry.yaml":                      []byte("apps: [checkout]\n"),
	"overlays/dev/kustomization.yaml": []byte("images:\n- name: checkout\n  newTag: 1.0.0\n"),
	"overlays/qa/kustomization.yaml":  []byte("images:\n- name: checkout\n  newTag: 0.9.0\n"),
}

func newFixture(t testing.TB, seed map[string][]byte, opts ...gitserver.Option) *fixture {
	t.Helper()
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	// The server checks every object pushed to it, and that each push
	// leaves the repository connected.
	git(t, bare, "config", "receive.fsckObjects", "true")
	if seed != nil {
		if err := gitserver.Seed(bare, seed, "seed"); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := gitserver.Start(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &fixture{root: root, bare: bare, srv: srv}
}

func (f *fixture) httpURL() string { return f.srv.RepoURL("fleet.git") }
func (f *fixture) fileURL() string { return "file://" + f.bare }

// transports are the ways to reach the fixture that every test of network
// behaviour runs against.
func (f *fixture) transports() map[string]string {
	return map[string]string{"http": f.httpURL(), "file": f.fileURL(), "path": f.bare}
}

// head is where the bare repository's main is, per the git CLI.
func (f *fixture) head(t testing.TB) string {
	t.Helper()
	return strings.TrimSpace(git(t, f.bare, "rev-parse", "refs/heads/main"))
}

// cliPush commits files on top of main with the git CLI in a scratch
// worktree and pushes straight into the bare repository, as a human or
// another agent would. It returns the new commit.
func (f *fixture) cliPush(t testing.TB, files map[string]string, msg string) string {
	t.Helper()
	work := filepath.Join(t.TempDir(), "work")
	git(t, "", "clone", "--quiet", f.bare, work)
	for name, content := range files {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, work, "add", "--all")
	git(t, work, "commit", "--quiet", "--message", msg)
	git(t, work, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	return strings.TrimSpace(git(t, work, "rev-parse", "HEAD"))
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitserver.Git(context.Background(), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// logBuffer collects a Repo's log lines so tests can check what was logged.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t testing.TB, extra io.Writer) *slog.Logger {
	var w io.Writer = io.Discard
	if tt, ok := t.(*testing.T); ok {
		w = tt.Output()
	}
	if extra != nil {
		w = io.MultiWriter(w, extra)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testOptions(t testing.TB, url string) Options {
	return Options{
		URL:    url,
		Dir:    filepath.Join(t.TempDir(), "clone.git"),
		Author: Signature{Name: "ferry bot", Email: "ferry@example.com"},
		Logger: testLogger(t, nil),
	}
}

func mustOpen(t testing.TB, o Options) *Repo {
	t.Helper()
	r, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustFetch(t testing.TB, r *Repo) *Snapshot {
	t.Helper()
	s, err := r.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)

func promote(app, env, version string) string {
	return "promote " + app + " " + version + " to " + env + "\n\nFerry-App: " + app + "\nFerry-Env: " + env + "\nFerry-Version: " + version + "\n"
}

func bump(version string) []byte {
	return []byte("images:\n- name: checkout\n  newTag: " + version + "\n")
}

// isReceivePack tells the push request of the smart-HTTP protocol.
func isReceivePack(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack")
}

// gitStdin runs the git CLI in dir with stdin.
func gitStdin(t testing.TB, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitserver.Env()
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, stderr.String())
	}
	return string(out)
}
