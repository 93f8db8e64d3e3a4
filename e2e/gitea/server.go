// Package gitea runs a real Gitea server for tests: the binary built by
// build.sh, on a free loopback port, with a sqlite database in the test's
// temporary directory, an admin user and an API token. It exists so the
// pull-request code is tested against the forge itself rather than a mock.
package gitea

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Version is the Gitea release build.sh builds.
const Version = "1.26.0"

// EnvBinary names the variable holding the path of the Gitea binary.
const EnvBinary = "FERRY_GITEA"

// Bounds for one step of Start, generous for a loaded 2-core machine; a
// healthy start takes about 3 s in all.
const (
	cmdTimeout   = 2 * time.Minute
	startTimeout = 2 * time.Minute
)

// Server is a running Gitea. Its user is a site admin.
type Server struct {
	url      string
	token    string
	user     string
	password string
	dir      string
}

// Binary returns the Gitea binary named by $FERRY_GITEA, skipping the test
// when the variable is unset and failing it when the file is not there.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		t.Skipf("%s is unset: run e2e/gitea/build.sh and set %s to the path it prints", EnvBinary, EnvBinary)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: %v (run e2e/gitea/build.sh)", EnvBinary, bin, err)
	}
	return bin
}

// Start runs bin (see build.sh, which puts Gitea's static files in
// bin+".static") until the test ends: migrate, create the admin user and its
// token, then serve.
func Start(t testing.TB, bin string, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	static := bin + ".static"
	if _, err := os.Stat(filepath.Join(static, "options", "locale")); err != nil {
		t.Fatalf("gitea static files: %v (run e2e/gitea/build.sh)", err)
	}
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatalf("gitea: %v", err)
	}
	s := &Server{
		url:      "http://127.0.0.1:" + strconv.Itoa(port),
		user:     "ferry",
		password: randomHex(t, 16),
		dir:      dir,
	}
	ini := filepath.Join(dir, "app.ini")
	if err := os.WriteFile(ini, []byte(appINI(dir, static, port, o)), 0o600); err != nil {
		t.Fatalf("gitea: write %s: %v", ini, err)
	}

	s.run(t, bin, "migrate")
	s.run(t, bin, "admin", "user", "create", "--admin", "--username", s.user, "--password", s.password,
		"--email", s.user+"@example.com", "--must-change-password=false")
	out := s.run(t, bin, "admin", "user", "generate-access-token", "--username", s.user,
		"--token-name", "ferry-test", "--scopes", "all", "--raw")
	// The CLI's own log lines share stdout with the token.
	if found := tokenRE.FindAllString(string(out), -1); len(found) > 0 {
		s.token = found[len(found)-1]
	}
	if s.token == "" {
		t.Fatalf("gitea generate-access-token printed no token (%d bytes of output)", len(out))
	}

	s.serve(t, bin)
	return s
}

var tokenRE = regexp.MustCompile(`\b[0-9a-f]{40}\b`)

// URL is the server's base URL, without a trailing slash.
func (s *Server) URL() string { return s.url }

// Token is an API token of User with every scope.
func (s *Server) Token() string { return s.token }

// User is the admin user's name.
func (s *Server) User() string { return s.user }

// Password is the admin user's password.
func (s *Server) Password() string { return s.password }

// Dir is the server's work directory: app.ini, data, repositories, gitea.log.
func (s *Server) Dir() string { return s.dir }

// run runs one gitea CLI command against the server's config and returns
// its stdout; failures fail the test with the command's output.
func (s *Server) run(t testing.TB, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, s.globalArgs(args)...)
	cmd.Dir, cmd.Env = s.dir, s.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// The password is an argument of "user create": show only the subcommand.
		t.Fatalf("gitea %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args[:min(len(args), 3)], " "), err,
			s.redact(stdout.String()), s.redact(stderr.String()))
	}
	return stdout.Bytes()
}

// serve starts `gitea web`, waits until the API answers, and stops it when
// the test ends.
func (s *Server) serve(t testing.TB, bin string) {
	t.Helper()
	logPath := filepath.Join(s.dir, "gitea.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("gitea: %v", err)
	}
	cmd := exec.Command(bin, s.globalArgs([]string{"web"})...)
	cmd.Dir, cmd.Env = s.dir, s.env()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("gitea web: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		killGroup(cmd)
		<-exited
		logFile.Close()
		if t.Failed() {
			s.logTail(t, logPath)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.up(ctx) {
			return
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			s.logTail(t, logPath)
			t.Fatalf("gitea web exited before serving: %v", err)
		case <-ctx.Done():
			s.logTail(t, logPath)
			t.Fatalf("gitea web: %s/api/v1/version did not answer: %v", s.url, ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *Server) up(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/version", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *Server) logTail(t testing.TB, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("gitea log: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	t.Logf("gitea log (last lines of %s):\n%s", path, s.redact(strings.Join(lines[max(0, len(lines)-40):], "\n")))
}

func (s *Server) globalArgs(args []string) []string {
	return append([]string{"--config", filepath.Join(s.dir, "app.ini"), "--work-path", s.dir}, args...)
}

// env isolates Gitea from the caller's GITEA__* overrides and git config.
func (s *Server) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GITEA_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+s.dir, "GITEA_WORK_DIR="+s.dir)
}

func (s *Server) redact(out string) string {
	for _, secret := range []string{s.password, s.token} {
		if secret != "" {
			out = strings.ReplaceAll(out, secret, "<redacted>")
		}
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
