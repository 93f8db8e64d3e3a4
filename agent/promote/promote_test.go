package promote

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/overlays"
)

// Promotions here are written to a real git remote (fleet's in-memory
// one) over the example fleet, each overlay rendered by kustomize before
// it is committed.

const pipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: prod, overlay: overlays/prod, from: qa,  auto: true}
`

type world struct {
	t      *testing.T
	ctx    context.Context
	cfg    *config.Pipeline
	remote *fleet.MemoryRemote
	ferry  *fleet.Repo
	person *fleet.Repo
	p      *Promoter
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func newWorld(t *testing.T) *world {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(pipeline))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: context.Background(), cfg: cfg, remote: fleettest.Remote(t, "promote-test")}
	w.person = w.open("person")
	files, err := overlays.ExampleFleet("127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	files["overlays/dev/kustomization.yaml"] = []byte(strings.Replace(string(files["overlays/dev/kustomization.yaml"]), "newTag: 0.0.0", "newTag: 1.1.0", 1))
	files["policies/common.rego"] = []byte("package ferry.promotion\n")
	fleettest.Push(t, w.person, files, "seed\n", t0)
	w.ferry = w.open("ferry")
	pub := publish.New(w.ferry, publish.Options{Backoff: time.Millisecond, Now: func() time.Time { return t0 }})
	w.p = New(Options{Config: cfg, Publisher: pub, Now: func() time.Time { return t0 }})
	return w
}

func (w *world) open(who string) *fleet.Repo {
	w.t.Helper()
	return fleettest.Clone(w.t, w.remote, who)
}

// change commits a person's edit of files (fn gets the current content).
func (w *world) change(files map[string]func(string) string) string {
	w.t.Helper()
	head, err := w.person.Fetch(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string][]byte{}
	for p, fn := range files {
		old, _ := head.ReadFile(p)
		if s := fn(string(old)); s != "\x00delete" {
			out[p] = []byte(s)
		} else {
			out[p] = nil
		}
	}
	c, err := w.person.Commit(head, out, "a person's change\n", t0.Add(time.Minute))
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.person.Push(w.ctx, c); err != nil {
		w.t.Fatal(err)
	}
	return c.Hash()
}

func appendLine(line string) func(string) string {
	return func(s string) string { return s + line + "\n" }
}

// TestWriteRace: a person's commit lands while ferry pushes qa's promotion
// of 1.1.0. When it changed an input of the decision (qa's or dev's
// overlay, the rejections, the freezes, the approvals, the policies,
// ferry.yaml) the
// move is stale: nothing is written and the caller decides again. Any
// other change is kept and the promotion is built again on top of it.
func TestWriteRace(t *testing.T) {
	rej, err := gitstate.AddRejection(nil, gitstate.Rejection{App: "cart", Version: "9.9.9", Reason: "test", By: "person"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		theirs map[string]func(string) string
		stale  bool
	}{
		{"qa's overlay", map[string]func(string) string{"overlays/qa/kustomization.yaml": appendLine("# by hand")}, true},
		{"another file of qa's overlay directory", map[string]func(string) string{"overlays/qa/patch.yaml": appendLine("a: 1")}, true},
		{"dev's overlay (the source)", map[string]func(string) string{"overlays/dev/kustomization.yaml": appendLine("# by hand")}, true},
		{"the rejections", map[string]func(string) string{gitstate.RejectionsFile: func(string) string { return string(rej) }}, true},
		{"the freezes", map[string]func(string) string{gitstate.FreezesFile: func(string) string { return "freezes: []\n" }}, true},
		// A vote cast while the pass decided (`ferry reject`, the dashboard) is decided on.
		{"the approvals", map[string]func(string) string{gitstate.ApprovalsFile: func(string) string { return "approvals: []\n" }}, true},
		{"the policies", map[string]func(string) string{"policies/extra.rego": func(string) string { return "package ferry.promotion\n" }}, true},
		{"ferry.yaml", map[string]func(string) string{"ferry.yaml": func(string) string { return "# moved\n" }}, true},
		{"prod's overlay", map[string]func(string) string{"overlays/prod/kustomization.yaml": appendLine("# by hand")}, false},
		{"the shared base", map[string]func(string) string{"base/checkout-service.yaml": appendLine("# by hand")}, false},
		{"a file outside the overlays", map[string]func(string) string{"README.md": appendLine("hello")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			st := w.read()
			var fired atomic.Bool
			var theirs string
			w.remote.SetBeforePush(func() {
				if fired.CompareAndSwap(false, true) {
					theirs = w.change(tc.theirs)
				}
			})
			out, err := w.write(st)
			if err != nil {
				t.Fatal(err)
			}
			if !fired.Load() {
				t.Fatal("no race")
			}
			if out.Stale != tc.stale {
				t.Fatalf("stale = %v, want %v", out.Stale, tc.stale)
			}
			head := w.remote.Head("refs/heads/main")
			if tc.stale {
				if out.Commit != nil || head != theirs || out.Head.Hash() != theirs {
					t.Fatalf("a stale move was written (%v) or the head is not the person's", out.Commit)
				}
				return
			}
			if out.Commit == nil || out.Commit.Hash() != head || out.Commit.Parents()[0] != theirs {
				t.Fatalf("the promotion is not on top of the person's commit: %+v", out)
			}
			k, err := out.Commit.ReadFile("overlays/qa/kustomization.yaml")
			if err != nil || !strings.Contains(string(k), "newTag: 1.1.0") {
				t.Fatalf("qa's overlay: %s, %v", k, err)
			}
			for p, fn := range tc.theirs {
				data, err := out.Commit.ReadFile(p)
				if err != nil || !strings.HasSuffix(string(data), fn("")) {
					t.Fatalf("the person's %s was lost: %q, %v", p, data, err)
				}
			}
		})
	}
}

func (w *world) read() *state.State {
	w.t.Helper()
	head, err := w.ferry.Fetch(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return state.Read(w.cfg, head, nil)
}

func (w *world) write(st *state.State) (Written, error) {
	app, _ := w.cfg.App("checkout")
	env, _ := w.cfg.Env("qa")
	step := plan.Step{App: "checkout", Env: "qa", From: "dev", Candidate: ledger.Version{Tag: "1.1.0"}, Action: plan.ActionPromote}
	return w.p.Write(w.ctx, st, env, "promote checkout 1.1.0 to qa", w.p.Promotion(step, app, env))
}

// TestWriteRefusesWhatDoesNotBuild: a promotion whose overlay does not
// build, or builds without a workload running the version, is a terminal
// error and writes nothing, also when a person's commit under the push
// is what broke it.
func TestWriteRefusesWhatDoesNotBuild(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before map[string]func(string) string // a person's commit before the decision
		under  map[string]func(string) string // a person's commit that lands under the push
		want   string
	}{
		{"a resource that does not exist", map[string]func(string) string{"overlays/qa/kustomization.yaml": func(s string) string {
			return strings.Replace(s, "- ../../base", "- ../../base\n- missing.yaml", 1)
		}}, nil, "does not build"},
		{"no workload runs the image", map[string]func(string) string{"base/checkout-deployment.yaml": func(s string) string {
			return strings.ReplaceAll(s, "registry.example/shop/checkout", "registry.example/shop/other")
		}}, nil, "renders no workload"},
		{"the base loses the workload under the push", nil, map[string]func(string) string{
			"base/checkout-deployment.yaml": func(string) string { return "\x00delete" },
			"base/kustomization.yaml": func(s string) string {
				return strings.Replace(s, "- checkout-deployment.yaml\n", "", 1)
			}}, "renders no workload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if tc.before != nil {
				w.change(tc.before)
			}
			st := w.read()
			var fired atomic.Bool
			if tc.under != nil {
				w.remote.SetBeforePush(func() {
					if fired.CompareAndSwap(false, true) {
						w.change(tc.under)
					}
				})
			}
			before := w.remote.Head("refs/heads/main")
			_, err := w.write(st)
			if tc.under != nil {
				before = w.remote.Head("refs/heads/main")
				if !fired.Load() {
					t.Fatal("no race")
				}
			}
			if err == nil || !publish.IsTerminal(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want a terminal error saying %q", err, tc.want)
			}
			if w.remote.Head("refs/heads/main") != before {
				t.Fatal("something was pushed")
			}
		})
	}
}
