package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/internal/syncbuf"
)

const freezePipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: REGISTRY/shop/cart, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: prod, overlay: overlays/prod, from: qa,  auto: true}
`

// TestFreezeRefusals runs `ferry freeze` against a real fleet repo: a
// freeze that would not hold what its author meant (a typo in an
// environment or app, a window already over) is refused with exit 1 and
// the names ferry.yaml has, and nothing is committed: main does not move
// and .ferry/freeze.yaml is not created. A freeze that is right is
// committed, so the check is not passing for want of a working command.
func TestFreezeRefusals(t *testing.T) {
	f := newCmdFleet(t, freezePipeline, nil)
	envs := "(environments: dev, qa, prod)"
	// Every case but the one under test is a freeze gitstate would write.
	const future = "2999-01-01T00:00:00Z"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown env", []string{"--env", "qaa", "--until", future}, `--env "qaa": no such environment in ` + f.cfg + " " + envs},
		{"unknown env beside a known one", []string{"--env", "prod", "--env", "prd", "--until", future}, `--env "prd": no such environment in ` + f.cfg + " " + envs},
		{"unknown app", []string{"--env", "prod", "--app", "chekout", "--until", future}, `--app "chekout": no such app in ` + f.cfg + " (apps: checkout, cart)"},
		{"until in the past", []string{"--env", "prod", "--until", "2020-01-01T00:00:00Z"}, "--until 2020-01-01T00:00:00Z is in the past (now "},
		{"until before from", []string{"--from", "2999-01-02T00:00:00Z", "--until", "2999-01-01T00:00:00Z"}, "--until 2999-01-01T00:00:00Z is not after --from 2999-01-02T00:00:00Z"},
		{"until not a time", []string{"--until", "tomorrow"}, "--until: parsing time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := f.head(t)
			args := append([]string{"freeze", "release", "--reason", "release week"}, tc.args...)
			code, stdout, _, err := f.ferry(t, args...)
			if code != 1 || err == nil || !strings.Contains(err.Error(), tc.want) || stdout != "" {
				t.Errorf("exit %d, error %v, stdout %q; want exit 1 and an error containing %q", code, err, stdout, tc.want)
			}
			if got := f.head(t); got != head {
				t.Errorf("a refused freeze moved main from %.12s to %.12s: %s", head, got, f.git(t, "log", "-1", "--format=%s", got))
			}
			if _, err := gitIn(f.bare, "cat-file", "-e", "main:"+gitstate.FreezesFile); err == nil {
				t.Errorf("%s exists after a refused freeze", gitstate.FreezesFile)
			}
		})
	}

	head := f.head(t)
	code, stdout, _, err := f.ferry(t, "freeze", "release", "--reason", "release week", "--env", "prod", "--app", "cart", "--until", future)
	if code != 0 || !strings.HasPrefix(stdout, "pushed ") {
		t.Fatalf("a right freeze: exit %d, %v, stdout %q", code, err, stdout)
	}
	if got := f.head(t); got == head || !strings.HasPrefix(stdout, "pushed "+got[:12]) {
		t.Errorf("a right freeze printed %q; main is at %.12s (was %.12s)", stdout, got, head)
	}
	if data := f.git(t, "show", "main:"+gitstate.FreezesFile); !strings.Contains(data, "release") || !strings.Contains(data, "prod") {
		t.Errorf("%s after the freeze:\n%s", gitstate.FreezesFile, data)
	}
}

// TestStatusWatchReadsEachRound: `status --watch` shows the fleet repo as
// it is at each round. It once fetched only for the first round and
// printed that state for ever (found by H9).
func TestStatusWatchReadsEachRound(t *testing.T) {
	f := newCmdFleet(t, outputPipeline, nil)
	f.push(t, "shop/checkout", "1.0.0")
	f.push(t, "shop/cart", "1.0.0")
	if code, out, _, err := f.ferry(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once: exit %d, %v\n%s", code, err, out)
	}
	var out syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	root := rootCmd()
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"status", "--watch", "50ms", "--config", f.cfg, "--work-dir", t.TempDir(), "--log-level", "warn"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("status --watch: %v", err)
		}
	}()
	// waitFor is a failure bound for a slow machine, not a speed check.
	waitFor := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), what); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("status --watch never showed %s:\n%s", what, out.String())
			}
		}
	}
	waitFor("1.0.0")
	f.push(t, "shop/checkout", "1.1.0")
	if code, out, _, err := f.ferry(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once: exit %d, %v\n%s", code, err, out)
	}
	waitFor("1.1.0")
}
