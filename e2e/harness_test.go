//go:build e2e

// Package e2e runs ferry as a process against real servers on 127.0.0.1:
// git http-backend (smart HTTP) and the CNCF distribution registry.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/internal/syncbuf"
	"github.com/ferry-dev/ferry/overlays"
)

// ferryBin is built once by TestMain.
var ferryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-e2e-bin-")
	if err != nil {
		panic(err)
	}
	ferryBin = filepath.Join(dir, "ferry")
	build := exec.Command("go", "build", "-o", ferryBin, "../cmd/ferry")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ferry: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// distRegistry is a real docker-registry process.
type distRegistry struct {
	host string
	cmd  *exec.Cmd
}

// startRegistry runs docker-registry; notify, when set, is the URL its
// notifications go to with a bearer token.
func startRegistry(t testing.TB, notify, token string) *distRegistry {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf(`version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http: {addr: "127.0.0.1:%d"}
`, filepath.Join(dir, "data"), port)
	if notify != "" {
		cfg += fmt.Sprintf(`notifications:
  endpoints:
    - name: ferry
      url: %s
      headers: {Authorization: ["Bearer %s"]}
      timeout: 2s
      threshold: 5
      backoff: 1s
`, notify, token)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry (run e2e/setup.sh): %v", err)
	}
	r := &distRegistry{host: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("docker-registry log:\n%s", logs.String())
		}
	})
	waitFor(t, 10*time.Second, "registry up", func() bool {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r
}

// push writes a new random image under repo:tag and returns its digest.
func (r *distRegistry) push(t testing.TB, repo, tag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(r.host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return d.String()
}

// fleetRepo is a bare repo served by git http-backend.
type fleetRepo struct {
	srv  *gitserver.Server
	bare string
	url  string
}

func startFleet(t testing.TB, regHost string, cfg string, opts ...gitserver.Option) *fleetRepo {
	t.Helper()
	return startFleetWith(t, regHost, cfg, nil, opts...)
}

// startFleetWith seeds the example fleet with extra files added or replaced
// (REGISTRY in them is the registry's host).
func startFleetWith(t testing.TB, regHost string, cfg string, extra map[string]string, opts ...gitserver.Option) *fleetRepo {
	t.Helper()
	root := t.TempDir()
	srv, err := gitserver.Start(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	files := exampleFiles(t, regHost)
	f := &fleetRepo{srv: srv, bare: bare, url: srv.RepoURL("fleet.git")}
	if cfg != "" {
		files["ferry.yaml"] = []byte(f.expand(cfg, regHost))
	}
	for name, content := range extra {
		files[name] = []byte(f.expand(content, regHost))
	}
	if err := gitserver.Seed(bare, files, "seed the fleet"); err != nil {
		t.Fatal(err)
	}
	return f
}

// exampleFiles is the example fleet without its demo ferry.yaml.
func exampleFiles(t testing.TB, regHost string) map[string][]byte {
	t.Helper()
	files, err := overlays.ExampleFleet(regHost)
	if err != nil {
		t.Fatal(err)
	}
	delete(files, "ferry.yaml")
	return files
}

// maxRSS is a finished process's peak resident set, in KiB.
func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}

func (f *fleetRepo) expand(cfg, regHost string) string {
	return strings.NewReplacer("FLEET", f.url, "REGISTRY", regHost).Replace(cfg)
}

// git runs the git CLI against the bare repo.
func (f *fleetRepo) git(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", f.bare}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// show returns a file at the branch head.
func (f *fleetRepo) show(t testing.TB, path string) string {
	return f.git(t, "show", "main:"+path)
}

// tryShow is show from a goroutine that must not fail the test.
func (f *fleetRepo) tryShow(path string) (string, error) {
	out, err := exec.Command("git", "-C", f.bare, "show", "main:"+path).Output()
	return string(out), err
}

// promotions lists "app env version" of every promotion commit, oldest first.
func (f *fleetRepo) promotions(t testing.TB) []string {
	out := f.git(t, "log", "--reverse", "--first-parent",
		"--format=%(trailers:key=Ferry-App,valueonly,separator=)|%(trailers:key=Ferry-Env,valueonly,separator=)|%(trailers:key=Ferry-Version,valueonly,separator=)|%s", "main")
	var res []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) == 4 && strings.HasPrefix(parts[3], "promote ") {
			res = append(res, parts[0]+" "+parts[1]+" "+parts[2])
		}
	}
	return res
}

// humanCommit clones the repo with the git CLI, lets edit change the tree, and pushes.
func (f *fleetRepo) humanCommit(t testing.TB, msg string, edit func(dir string)) {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=human@example.com",
			"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("clone", "-q", f.bare, ".")
	edit(dir)
	run("commit", "-qam", msg)
	// A person whose push is refused because ferry pushed first rebases and pushes again.
	for attempt := 1; ; attempt++ {
		cmd := exec.Command("git", "push", "-q", "origin", "HEAD:main")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		if attempt == 5 {
			t.Fatalf("git push: %v\n%s", err, out)
		}
		run("pull", "-q", "--rebase", "origin", "main")
	}
}

// ferryProc runs the ferry binary.
type ferryProc struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

func startFerry(t *testing.T, env []string, args ...string) *ferryProc {
	t.Helper()
	cmd := exec.Command(ferryBin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &ferryProc{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("ferry %v output:\n%s", args, p.out.String())
		}
	})
	return p
}

// runFerry runs ferry to completion and returns its output and exit code.
func runFerry(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, ferryBin, args...).CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("ferry %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func waitFor(t testing.TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
