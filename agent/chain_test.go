package agent

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// pushCounter counts the pushes git http-backend receives and runs
// before, when set, ahead of the push numbered at.
type pushCounter struct {
	n      atomic.Int32
	at     int32
	before func()
}

func (c *pushCounter) hook(r *http.Request) bool {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
		if n := c.n.Add(1); n == c.at && c.before != nil {
			c.before()
		}
	}
	return true
}

// personCommit lands a commit of a person's on the bare repo, setting
// files (content starting with "+": put before what is there), with the
// git CLI.
func personCommit(t *testing.T, bare string, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	run := func(dir string, args ...string) {
		if out, err := gitserver.Git(ctx, dir, args...); err != nil {
			t.Errorf("git %v: %v\n%s", args, err, out)
		}
	}
	run("", "clone", "--quiet", "--branch", "main", bare, dir)
	for p, c := range files {
		// A leading "+" keeps the file's content after c.
		if rest, ok := strings.CutPrefix(c, "+"); ok {
			old, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				t.Error(err)
			}
			c = rest + string(old)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Error(err)
		}
	}
	run(dir, "add", "--all")
	run(dir, "-c", "user.name=person", "-c", "user.email=person@example.com", "commit", "--quiet", "--message", "a person's change")
	run(dir, "push", "--quiet", "origin", "main")
}

// chainSubjects is main's history, oldest first, as subjects.
func (f *testFleet) chainSubjects(t *testing.T) string {
	return f.git(t, "log", "--reverse", "--format=%s", "main")
}

// TestReconcileChainTwoPushes: a pass that carries a version from dev to
// prod and dr pushes dev's commit at once and the four others in one more
// push; each environment still has its own commit, in order, with its
// record, and each promotion names the commit the remote has.
func TestReconcileChainTwoPushes(t *testing.T) {
	pushes := &pushCounter{}
	f := newFleet(t, fleetSetup{pipeline: autoChain, server: []gitserver.Option{gitserver.WithHook(pushes.hook)}})
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	f.push(t, "shop/checkout", "1.1.0")
	var devHead string
	pushes.at, pushes.before = 2, func() { devHead = f.git(t, "rev-parse", "main") }
	res, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil || res.Err() != nil {
		t.Fatalf("reconcile: %v %v", err, res.Err())
	}
	if n := pushes.n.Load(); n != 2 {
		t.Fatalf("%d pushes, want 2: dev's, then the rest of the chain", n)
	}
	want := "seed\npromote checkout 1.1.0 to dev\npromote checkout 1.1.0 to qa\npromote checkout 1.1.0 to ppd\npromote checkout 1.1.0 to prod\npromote checkout 1.1.0 to dr"
	if got := f.chainSubjects(t); got != want {
		t.Fatalf("history:\n%s\nwant:\n%s", got, want)
	}
	if len(res.Promotions) != 5 {
		t.Fatalf("promotions: %+v", res.Promotions)
	}
	if res.Promotions[0].Commit != devHead {
		t.Fatalf("dev's commit %s was not pushed on its own (the remote was at %s before the second push)", res.Promotions[0].Commit, devHead)
	}
	for i, env := range []string{"dev", "qa", "ppd", "prod", "dr"} {
		p := res.Promotions[i]
		msg := f.git(t, "log", "-1", "--format=%B", p.Commit)
		rec, ok := ledger.Parse(msg).(*ledger.Promotion)
		if p.Env != env || !ok || rec.Env != env || rec.Version.Tag != "1.1.0" {
			t.Fatalf("promotion %d: %s %s reads back as %#v", i, p.Env, p.Commit, ledger.Parse(msg))
		}
	}
	if res.Head() != f.git(t, "rev-parse", "main") {
		t.Fatalf("result head %s, remote %s", res.Head(), f.git(t, "rev-parse", "main"))
	}
}

// TestReconcileChainRaced: a person's commit lands between dev's push and
// the chain's. The chain is applied again on top of it (never forced):
// when the person changed something none of the decisions read, every
// environment lands once, after their commit; when they changed qa's
// overlay, qa's move and those decided on it are dropped, said in their
// steps (a warning, not an error of a running agent's pass; an error of a
// one-shot run, which has no next pass), and the next pass decides again
// on what is there.
func TestReconcileChainRaced(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		want     string
		promoted int
		once     bool // run --once: no next pass, so a dropped move is an error
	}{
		{"another file", map[string]string{"README.md": "ops notes\n"}, "seed\npromote checkout 1.1.0 to dev\na person's change\npromote checkout 1.1.0 to qa\npromote checkout 1.1.0 to ppd\npromote checkout 1.1.0 to prod\npromote checkout 1.1.0 to dr", 5, false},
		{"qa's overlay", map[string]string{"overlays/qa/kustomization.yaml": "+# looked at by a person\n"}, "seed\npromote checkout 1.1.0 to dev\na person's change", 1, false},
		{"qa's overlay, run --once", map[string]string{"overlays/qa/kustomization.yaml": "+# looked at by a person\n"}, "seed\npromote checkout 1.1.0 to dev\na person's change", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pushes := &pushCounter{at: 2}
			f := newFleet(t, fleetSetup{pipeline: autoChain, server: []gitserver.Option{gitserver.WithHook(pushes.hook)}})
			pushes.before = func() { personCommit(t, f.bare, tc.files) }
			ctx := context.Background()
			f.push(t, "shop/checkout", "1.0.0")
			f.push(t, "shop/checkout", "1.1.0")
			res, err := f.agent.Reconcile(ctx, Scope{All: true, Wait: tc.once})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.chainSubjects(t); got != tc.want {
				t.Fatalf("history:\n%s\nwant:\n%s", got, tc.want)
			}
			if len(res.Promotions) != tc.promoted {
				t.Fatalf("%d promotions, want %d: %+v", len(res.Promotions), tc.promoted, res.Promotions)
			}
			for _, p := range res.Promotions {
				if f.git(t, "log", "-1", "--format=%s", p.Commit) != "promote checkout 1.1.0 to "+p.Env {
					t.Fatalf("promotion %s names %s, which is not its commit on the remote", p.Env, p.Commit)
				}
			}
			if tc.promoted < 5 {
				// Dropped, said in the steps (and retried soon), not an
				// error of a running agent's pass.
				switch {
				case tc.once && (res.Err() == nil || !strings.Contains(res.Err().Error(), "moved")):
					t.Fatalf("run --once: dropped moves not reported as errors: %v", res.Err())
				case !tc.once && res.Err() != nil:
					t.Fatalf("dropped moves made the pass fail: %v", res.Err())
				}
				for _, s := range res.Plan.Steps {
					if s.Env != "dev" && (s.Action != ActionError || !strings.Contains(s.Reason, "moved")) {
						t.Fatalf("step %s after its move was dropped: %s %s", s.Env, s.Action, s.Reason)
					}
				}
				// The next pass decides on the person's qa: the version moves on from it.
				res, err := f.agent.Reconcile(ctx, Scope{All: true})
				if err != nil || res.Err() != nil {
					t.Fatalf("next pass: %v %v", err, res.Err())
				}
				if k := f.git(t, "show", "main:overlays/qa/kustomization.yaml"); !strings.Contains(k, "newTag: 1.1.0") {
					t.Fatalf("the next pass did not promote qa:\n%s", k)
				}
			}
		})
	}
}
