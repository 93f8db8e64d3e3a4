package plan

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

const memoImages = `resources: [../../base]
images:
  - name: 127.0.0.1:5000/shop/checkout
    newTag: %s
    digest: %s
  - name: 127.0.0.1:5000/shop/cart
    newTag: latest
    digest: %s
`

// memoFleet is a fleet repo where every environment runs checkout 1.2.0
// and cart latest@sha256:c1; change edits it first.
func memoFleet(change func(map[string]string)) map[string]string {
	files := map[string]string{
		"ferry.yaml":                 testPipeline,
		"base/kustomization.yaml":    "resources: []\n",
		"policies/promotion.rego":    "package ferry.promotion\n",
		"policies/data.json":         "{}\n",
		"overlays/dev/ferry-note.md": "dev\n",
	}
	for _, env := range []string{"dev", "qa", "ppd", "prod", "dr"} {
		files["overlays/"+env+"/kustomization.yaml"] = fmt.Sprintf(memoImages, "1.2.0", "sha256:b", "sha256:c1")
	}
	if change != nil {
		change(files)
	}
	return files
}

func memoState(t *testing.T, cfg *config.Pipeline, files map[string]string) *state.State {
	t.Helper()
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	bs := map[string][]byte{}
	for p, c := range files {
		bs[p] = []byte(c)
	}
	if err := gitserver.Seed(bare, bs, "seed"); err != nil {
		t.Fatal(err)
	}
	repo, err := fleet.Open(context.Background(), fleet.Options{URL: "file://" + bare, Dir: filepath.Join(root, "clone"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return state.Read(cfg, snap, nil)
}

// A step found up to date is not decided again until something it was
// decided on changes; each change below must bring back a decision for the
// steps it touches, and only those.
func TestMemoInvalidation(t *testing.T) {
	cfg, err := config.Parse("ferry.yaml", []byte(testPipeline))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := cfg.App("checkout")
	envs := []string{"dev", "qa", "ppd", "prod", "dr"}
	cands := Candidates{"checkout": {Version: v("1.2.0", "sha256:b")}, "cart": {Version: v("latest", "sha256:c1")}}
	all := map[string]bool{"dev": true, "qa": true, "ppd": true, "prod": true, "dr": true}
	overlay := func(env, tag, digest string) func(map[string]string) {
		return func(f map[string]string) {
			f["overlays/"+env+"/kustomization.yaml"] = fmt.Sprintf(memoImages, tag, digest, "sha256:c1")
		}
	}
	tests := []struct {
		name   string
		change func(map[string]string)
		cands  Candidates
		again  map[string]bool // the envs whose checkout step is decided again
	}{
		{"nothing changed", nil, nil, nil},
		{"a file no step reads", func(f map[string]string) { f["overlays/dev/ferry-note.md"] = "edited\n" }, nil, nil},
		{"the registry has a newer tag", nil, Candidates{"checkout": {Version: v("1.3.0", "sha256:d")}}, map[string]bool{"dev": true}},
		{"a tag pushed again with another digest", nil, Candidates{"checkout": {Version: v("1.2.0", "sha256:e")}}, map[string]bool{"dev": true}},
		{"the registry did not answer", nil, Candidates{"checkout": {Pending: true, Err: fmt.Errorf("slow")}}, map[string]bool{"dev": true}},
		{"a person's commit to dev's overlay", overlay("dev", "1.1.0", "sha256:a"), nil, map[string]bool{"dev": true, "qa": true}},
		{"a person's commit to prod's overlay", overlay("prod", "1.1.0", "sha256:a"), nil, map[string]bool{"prod": true, "dr": true}},
		{"another app's promotion", func(f map[string]string) {
			f["overlays/dev/kustomization.yaml"] = fmt.Sprintf(memoImages, "1.2.0", "sha256:b", "sha256:c2")
		}, nil, nil},
		{"a policy changed", func(f map[string]string) { f["policies/promotion.rego"] += "deny contains \"no\" if true\n" }, nil, all},
		{"policy data changed", func(f map[string]string) { f["policies/data.json"] = `{"x": 1}` }, nil, all},
		{"a freeze", func(f map[string]string) {
			f[gitstate.FreezesFile] = "freezes:\n  - {name: holidays, envs: [prod], from: 2026-12-20T00:00:00Z, until: 2027-01-02T00:00:00Z, reason: holidays, by: alice}\n"
		}, nil, all},
		{"a rejection", func(f map[string]string) {
			f[gitstate.RejectionsFile] = "rejected:\n  - {app: checkout, version: 1.1.0, reason: bad, by: alice}\n"
		}, nil, all},
		{"ferry.yaml changed", func(f map[string]string) { f["ferry.yaml"] += "# a comment\n" }, nil, all},
	}
	base := memoState(t, cfg, memoFleet(nil))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := New(cfg, nil, nil, state.NewHistory(), false)
			if err != nil {
				t.Fatal(err)
			}
			judgeAll := func(st *state.State, cands Candidates) map[string]bool {
				decided := map[string]bool{}
				for _, name := range envs {
					env, _ := cfg.Env(name)
					before := pl.memo.decided.Load()
					key, keep := pl.memoKey(st, cands, app, env)
					if _, hit := pl.recall(app, env, key); keep && hit {
						// Judge answers from the memo, without a decision.
						if s := pl.Judge(context.Background(), nil, st, cands, app, env); s.Action != ActionNone || s.Reason != upToDate {
							t.Fatalf("%s: remembered %s %q", name, s.Action, s.Reason)
						}
					} else {
						// A move would ask the gate; Decide is what Judge runs first.
						s := pl.Decide(context.Background(), st, cands, app, env)
						pl.memo.decided.Add(1)
						pl.remember(app, env, key, keep, s)
					}
					decided[name] = pl.memo.decided.Load() > before
				}
				return decided
			}
			if got := judgeAll(base, cands); len(got) != len(envs) || !got["dev"] || !got["dr"] {
				t.Fatalf("first pass decided %v, want every env", got)
			}
			st := base
			if tc.change != nil {
				st = memoState(t, cfg, memoFleet(tc.change))
			}
			c := maps.Clone(cands)
			maps.Copy(c, tc.cands)
			got := judgeAll(st, c)
			for _, name := range envs {
				if got[name] != tc.again[name] {
					t.Errorf("%s decided again: %v, want %v", name, got[name], tc.again[name])
				}
			}
		})
	}
}

// Through Judge itself: a second pass over the same fleet and registry
// answers decides nothing; a pass over a changed one decides again.
func TestJudgeRemembersUpToDate(t *testing.T) {
	cfg, err := config.Parse("ferry.yaml", []byte(testPipeline))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := cfg.App("checkout")
	pl, err := New(cfg, nil, nil, state.NewHistory(), false)
	if err != nil {
		t.Fatal(err)
	}
	cands := Candidates{"checkout": {Version: v("1.2.0", "sha256:b")}}
	pass := func(st *state.State) int64 {
		before := pl.memo.decided.Load()
		for _, name := range []string{"dev", "qa", "ppd", "prod", "dr"} {
			env, _ := cfg.Env(name)
			if s := pl.Judge(context.Background(), nil, st, cands, app, env); s.Action != ActionNone || !strings.Contains(s.Reason, "up to date") {
				t.Fatalf("%s: %s %q", name, s.Action, s.Reason)
			}
		}
		return pl.memo.decided.Load() - before
	}
	st := memoState(t, cfg, memoFleet(nil))
	if n := pass(st); n != 5 {
		t.Errorf("first pass: %d decisions, want 5", n)
	}
	if n := pass(st); n != 0 {
		t.Errorf("second pass over the same inputs: %d decisions, want 0", n)
	}
	changed := memoState(t, cfg, memoFleet(func(f map[string]string) { f["policies/promotion.rego"] += "# edited\n" }))
	if n := pass(changed); n != 5 {
		t.Errorf("after a policy change: %d decisions, want 5", n)
	}
}
