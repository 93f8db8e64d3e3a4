package gitserver

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func newRepo(t *testing.T, files map[string][]byte) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	dir, err := InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	if files != nil {
		if err := Seed(dir, files, "seed"); err != nil {
			t.Fatal(err)
		}
	}
	return root, dir
}

func start(t *testing.T, root string, opts ...Option) *Server {
	t.Helper()
	srv, err := Start(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func TestCloneCommitPush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root, bare := newRepo(t, map[string][]byte{"overlays/dev/kustomization.yaml": []byte("images: []\n")})
	srv := start(t, root)

	work := filepath.Join(t.TempDir(), "work")
	if _, err := Git(ctx, "", "clone", "--quiet", srv.RepoURL("fleet.git"), work); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(work, "overlays/dev/kustomization.yaml"))
	if err != nil || string(got) != "images: []\n" {
		t.Fatalf("cloned file = %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "README"}, {"commit", "-qm", "second"}, {"push", "-q", "origin", "main"}} {
		if _, err := Git(ctx, work, args...); err != nil {
			t.Fatal(err)
		}
	}
	log, err := Git(ctx, bare, "log", "--format=%s", "main")
	if err != nil {
		t.Fatal(err)
	}
	if log != "second\nseed\n" {
		t.Fatalf("bare log = %q, want second then seed", log)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	root, _ := newRepo(t, map[string][]byte{"a": []byte("a")})
	srv := start(t, root, WithBasicAuth("bot", "s3cret"))
	tests := []struct {
		name       string
		user, pass string
		set        bool
		want       int
	}{
		{"no credentials", "", "", false, http.StatusUnauthorized},
		{"wrong password", "bot", "nope", true, http.StatusUnauthorized},
		{"wrong user", "other", "s3cret", true, http.StatusUnauthorized},
		{"right credentials", "bot", "s3cret", true, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.RepoURL("fleet.git")+"/info/refs?service=git-upload-pack", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.set {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}

	// The git CLI gets through with the credentials in the URL.
	u, err := url.Parse(srv.RepoURL("fleet.git"))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("bot", "s3cret")
	if _, err := Git(context.Background(), "", "ls-remote", u.String()); err != nil {
		t.Fatalf("ls-remote with credentials: %v", err)
	}
	u.User = url.UserPassword("bot", "wrong")
	if _, err := Git(context.Background(), "", "ls-remote", u.String()); err == nil {
		t.Fatal("ls-remote with a wrong password succeeded")
	}
}

func TestHook(t *testing.T) {
	t.Parallel()
	root, _ := newRepo(t, map[string][]byte{"a": []byte("a")})
	var calls, fail atomic.Int32
	srv := start(t, root, WithHook(func(r *http.Request) bool {
		calls.Add(1)
		return fail.Load() == 0
	}))
	ctx := context.Background()
	out, err := Git(ctx, "", "ls-remote", srv.RepoURL("fleet.git"), "refs/heads/main")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "refs/heads/main") {
		t.Fatalf("ls-remote = %q, %v", out, err)
	}
	if calls.Load() == 0 {
		t.Fatal("hook was not called")
	}
	fail.Store(1)
	resp, err := http.Get(srv.RepoURL("fleet.git") + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status with failing hook = %d, want 503", resp.StatusCode)
	}
	if _, err := Git(ctx, "", "ls-remote", srv.RepoURL("fleet.git")); err == nil {
		t.Fatal("ls-remote succeeded while the hook fails requests")
	}
}

func TestInitBare(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir, err := InitBare(root, "team/fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for key, want := range map[string]string{"core.bare": "true", "http.receivepack": "true"} {
		got, err := Git(ctx, dir, "config", key)
		if err != nil || strings.TrimSpace(got) != want {
			t.Errorf("config %s = %q, %v; want %s", key, got, err, want)
		}
	}
	head, err := Git(ctx, dir, "symbolic-ref", "HEAD")
	if err != nil || strings.TrimSpace(head) != "refs/heads/main" {
		t.Errorf("HEAD = %q, %v; want refs/heads/main", head, err)
	}

	for _, bad := range []string{"", ".", "../escape.git", "/abs.git"} {
		if _, err := InitBare(root, bad); err == nil {
			t.Errorf("InitBare(%q) succeeded", bad)
		}
	}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	_, dir := newRepo(t, map[string][]byte{
		"ferry.yaml":                      []byte("apps: []\n"),
		"overlays/qa/kustomization.yaml":  []byte("resources: [../../base]\n"),
		"overlays/dev/kustomization.yaml": []byte("resources: [../../base]\n"),
	})
	out, err := Git(context.Background(), dir, "ls-tree", "-r", "--name-only", "main")
	if err != nil {
		t.Fatal(err)
	}
	want := "ferry.yaml\noverlays/dev/kustomization.yaml\noverlays/qa/kustomization.yaml\n"
	if out != want {
		t.Fatalf("tree = %q, want %q", out, want)
	}
	if err := Seed(dir, map[string][]byte{"x": []byte("x")}, "again"); err == nil {
		t.Fatal("second Seed onto an existing main succeeded")
	}
	if err := Seed(dir, map[string][]byte{"../x": []byte("x")}, "bad"); err == nil {
		t.Fatal("Seed with a path outside the worktree succeeded")
	}
}

// The command prints a URL that serves the root.
func TestCommand(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	root, _ := newRepo(t, map[string][]byte{"a": []byte("a")})
	bin := filepath.Join(t.TempDir(), "gitserver")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gitserver")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-root", root, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSpace(line)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("printed %q, want an http://127.0.0.1 URL", base)
	}
	if _, err := Git(context.Background(), "", "ls-remote", base+"/fleet.git"); err != nil {
		t.Fatal(err)
	}
}
