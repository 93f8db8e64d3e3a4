package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Identity used for commits made by Seed and Git, so results do not depend
// on the host's git configuration.
const (
	AuthorName  = "gitserver"
	AuthorEmail = "gitserver@example.invalid"
)

// Env is the environment Git runs the git CLI with: the host's environment
// without its git configuration, plus a fixed identity and no prompts.
func Env() []string {
	env := make([]string, 0, len(os.Environ())+8)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME="+AuthorName,
		"GIT_AUTHOR_EMAIL="+AuthorEmail,
		"GIT_COMMITTER_NAME="+AuthorName,
		"GIT_COMMITTER_EMAIL="+AuthorEmail,
	)
}

// Git runs the git CLI in dir with Env and returns its stdout. The error
// carries git's stderr.
func Git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = Env()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("git %s (in %s): %w: %s",
			strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// InitBare creates the bare repository root/name with default branch main,
// accepting pushes over HTTP, and returns its path.
func InitBare(root, name string) (string, error) {
	if !fs.ValidPath(filepath.ToSlash(name)) || name == "." {
		return "", fmt.Errorf("init bare repo: invalid name %q", name)
	}
	dir := filepath.Join(root, filepath.FromSlash(name))
	ctx := context.Background()
	if _, err := Git(ctx, root, "init", "--quiet", "--bare", "--initial-branch=main", dir); err != nil {
		return "", fmt.Errorf("init bare repo %s: %w", name, err)
	}
	if _, err := Git(ctx, dir, "config", "http.receivepack", "true"); err != nil {
		return "", fmt.Errorf("init bare repo %s: %w", name, err)
	}
	return dir, nil
}

// Seed makes an initial commit holding files (slash-separated paths) in a
// temporary worktree and pushes it to main of the bare repository repoDir.
// It fails when main already exists there.
func Seed(repoDir string, files map[string][]byte, msg string) (err error) {
	if len(files) == 0 {
		return errors.New("seed: no files")
	}
	tmp, err := os.MkdirTemp("", "gitserver-seed-")
	if err != nil {
		return fmt.Errorf("seed %s: %w", repoDir, err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("seed %s: clean up: %w", repoDir, rerr)
		}
	}()
	for name, data := range files {
		if !fs.ValidPath(name) || name == "." {
			return fmt.Errorf("seed %s: invalid path %q", repoDir, name)
		}
		p := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("seed %s: %w", repoDir, err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("seed %s: %w", repoDir, err)
		}
	}
	abs, err := filepath.Abs(repoDir)
	if err != nil {
		return fmt.Errorf("seed %s: %w", repoDir, err)
	}
	ctx := context.Background()
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=main"},
		{"add", "--all"},
		{"commit", "--quiet", "--message", msg},
		{"push", "--quiet", abs, "main:refs/heads/main"},
	} {
		if _, err := Git(ctx, tmp, args...); err != nil {
			return fmt.Errorf("seed %s: %w", repoDir, err)
		}
	}
	return nil
}
