package state

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/overlays"
)

const registryHost = "127.0.0.1:5000"

const pipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

var envNames = []string{"dev", "qa", "ppd", "prod", "dr"}

func testConfig(t *testing.T) *config.Pipeline {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(pipeline))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tree is a fleet repo's content: files, and symbolic links (path ->
// target, as `ln -s target path` writes it).
type tree struct {
	files map[string]string
	links map[string]string
	drop  []string // example files to leave out
}

// exampleFleet is the example fleet (base + five overlays), every env on
// checkout 1.0.0.
func exampleFleet(t *testing.T) map[string]string {
	t.Helper()
	files, err := overlays.ExampleFleet(registryHost)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for p, c := range files {
		if p == "ferry.yaml" {
			continue
		}
		s := string(c)
		if strings.HasSuffix(p, "/kustomization.yaml") && strings.HasPrefix(p, "overlays/") {
			s = strings.Replace(s, "newTag: 0.0.0", "newTag: 1.0.0", 1)
		}
		out[p] = s
	}
	return out
}

// newRepo commits tr with the git CLI (symbolic links and all, as a person
// would) into a bare repository and opens ferry's clone of it.
func newRepo(t *testing.T, tr tree) (*fleet.Repo, *fleet.Snapshot) {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, "work")
	if _, err := gitserver.Git(ctx, root, "clone", "--quiet", bare, work); err != nil {
		t.Fatal(err)
	}
	for p, c := range tr.files {
		if slices.Contains(tr.drop, p) {
			continue
		}
		full := filepath.Join(work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range tr.links {
		full := filepath.Join(work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"add", "--all"}, {"commit", "--quiet", "-m", "seed"}, {"push", "--quiet", "origin", "HEAD:refs/heads/main"}} {
		if _, err := gitserver.Git(ctx, work, args...); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := fleet.Open(ctx, fleet.Options{URL: "file://" + bare, Dir: filepath.Join(root, "clone"),
		Author: fleet.Signature{Name: "ferry", Email: "ferry@example.com"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return repo, head
}

func app(cfg *config.Pipeline) *config.App { a, _ := cfg.App("checkout"); return a }

func env(t *testing.T, cfg *config.Pipeline, name string) *config.Environment {
	t.Helper()
	e, ok := cfg.Env(name)
	if !ok {
		t.Fatalf("no env %s", name)
	}
	return e
}

// TestSymlinks (issue 18 item 8): a symbolic link nothing uses breaks
// nothing; two environments whose kustomizations resolve to one file are
// both refused, naming both paths; a link out of the repository is
// refused. The environments a link does not concern read and render.
func TestSymlinks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		links map[string]string
		drop  []string
		// refused are the envs that must carry an error with every
		// fragment of want; the others must read checkout 1.0.0 and render.
		refused []string
		want    []string
	}{
		{name: "an unused link to a directory", links: map[string]string{"legacy-base": "base"}},
		{name: "an unused link out of the repository", links: map[string]string{"legacy": "/etc", "up": "../.."}},
		{name: "an unused link to a file, and a dangling one",
			links: map[string]string{"docs/base.yaml": "../base/kustomization.yaml", "docs/gone": "../nowhere"}},
		{name: "a link inside the repository that one overlay uses",
			links: map[string]string{"overlays/qa/kustomization.yaml": "../../shared/qa.yaml"}, drop: []string{"overlays/qa/kustomization.yaml"}},
		{name: "qa's kustomization is dev's", links: map[string]string{"overlays/qa/kustomization.yaml": "../dev/kustomization.yaml"},
			drop: []string{"overlays/qa/kustomization.yaml"}, refused: []string{"dev", "qa"},
			want: []string{"overlays/dev/kustomization.yaml", "overlays/qa/kustomization.yaml", "one file"}},
		{name: "qa's overlay directory is dev's", links: map[string]string{"overlays/qa": "dev"},
			drop: []string{"overlays/qa/kustomization.yaml"}, refused: []string{"dev", "qa"},
			want: []string{"overlays/dev/kustomization.yaml", "overlays/qa/kustomization.yaml", "one file"}},
		{name: "a kustomization that leaves the repository", links: map[string]string{"overlays/qa/kustomization.yaml": "../../../outside.yaml"},
			drop: []string{"overlays/qa/kustomization.yaml"}, refused: []string{"qa"},
			want: []string{"overlays/qa/kustomization.yaml", "leaves the repository"}},
		{name: "an overlay directory that leaves the repository", links: map[string]string{"overlays/qa": "../../elsewhere"},
			drop: []string{"overlays/qa/kustomization.yaml"}, refused: []string{"qa"},
			want: []string{"overlays/qa", "leaves the repository"}},
		{name: "an absolute link", links: map[string]string{"overlays/qa/kustomization.yaml": "/etc/hostname"},
			drop: []string{"overlays/qa/kustomization.yaml"}, refused: []string{"qa"},
			want: []string{"overlays/qa/kustomization.yaml", "leaves the repository"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := exampleFleet(t)
			// The file some cases link to: qa's own content, elsewhere.
			files["shared/qa.yaml"] = files["overlays/qa/kustomization.yaml"]
			_, snap := newRepo(t, tree{files: files, links: tc.links, drop: tc.drop})
			cfg := testConfig(t)
			st := Read(cfg, snap, nil)
			if st.Err != nil {
				t.Fatalf("state error: %v", st.Err)
			}
			for _, name := range envNames {
				e := st.Envs[name]
				if slices.Contains(tc.refused, name) {
					if e.Err == nil {
						t.Errorf("%s was read (%v), want it refused", name, e.Images)
						continue
					}
					for _, w := range tc.want {
						if !strings.Contains(e.Err.Error(), w) {
							t.Errorf("%s's error %q does not say %q", name, e.Err, w)
						}
					}
					if v := st.Version(app(cfg), name); !v.IsZero() {
						t.Errorf("a refused %s still says it runs %s", name, v)
					}
					continue
				}
				if e.Err != nil {
					t.Errorf("%s: %v", name, e.Err)
					continue
				}
				if v := st.Version(app(cfg), name); v.Tag != "1.0.0" {
					t.Errorf("%s runs %q, want 1.0.0", name, v)
				}
				out, err := overlays.Render(snap.FS(), "overlays/"+name)
				if err != nil {
					t.Errorf("render %s: %v", name, err)
					continue
				}
				if !strings.Contains(string(out), registryHost+"/shop/checkout:1.0.0") {
					t.Errorf("render %s lacks checkout 1.0.0:\n%s", name, out)
				}
			}
		})
	}
}

// TestKustomizationNames (issue 18 item 14): the three names kustomize
// reads are found, by overlays.FindKustomization and by the state; two
// of them in one directory is an error naming both.
func TestKustomizationNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		names []string // qa's kustomization file(s)
		want  string   // the path found; "" when it is an error
		err   []string
	}{
		{"kustomization.yaml", []string{"kustomization.yaml"}, "overlays/qa/kustomization.yaml", nil},
		{"kustomization.yml", []string{"kustomization.yml"}, "overlays/qa/kustomization.yml", nil},
		{"Kustomization", []string{"Kustomization"}, "overlays/qa/Kustomization", nil},
		{"yaml and yml", []string{"kustomization.yaml", "kustomization.yml"}, "",
			[]string{"overlays/qa/kustomization.yaml", "overlays/qa/kustomization.yml"}},
		{"yml and Kustomization", []string{"kustomization.yml", "Kustomization"}, "",
			[]string{"overlays/qa/kustomization.yml", "overlays/qa/Kustomization"}},
		// None (a typo in ferry.yaml, a renamed overlay): an error naming it,
		// not "runs nothing" (H10: the chain behind it stalled silently).
		{"none", nil, "", []string{"overlays/qa", "no kustomization file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := exampleFleet(t)
			qa := files["overlays/qa/kustomization.yaml"]
			delete(files, "overlays/qa/kustomization.yaml")
			for _, n := range tc.names {
				files["overlays/qa/"+n] = qa
			}
			_, snap := newRepo(t, tree{files: files})
			cfg := testConfig(t)
			got, err := overlays.FindKustomization(snap.FS(), "overlays/qa")
			e := Read(cfg, snap, nil).Envs["qa"]
			if tc.want != "" {
				if err != nil || got != tc.want {
					t.Fatalf("FindKustomization = %q, %v; want %q", got, err, tc.want)
				}
				if e.Err != nil || e.Path != tc.want || e.Version(app(cfg)).Tag != "1.0.0" {
					t.Fatalf("state: path %q, err %v, version %v; want %s running 1.0.0", e.Path, e.Err, e.Version(app(cfg)), tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("FindKustomization = %q, want an error", got)
			}
			if e.Err == nil {
				t.Fatalf("the state reads overlays/qa with kustomization files %v", tc.names)
			}
			for _, w := range tc.err {
				if !strings.Contains(err.Error(), w) || !strings.Contains(e.Err.Error(), w) {
					t.Fatalf("errors %q / %q do not name %s", err, e.Err, w)
				}
			}
		})
	}
	_, err := overlays.FindKustomization(os.DirFS(t.TempDir()), ".")
	if !errors.Is(err, overlays.ErrNoKustomization) {
		t.Fatalf("empty directory: %v, want ErrNoKustomization", err)
	}
}

// TestAdvance: after ferry's own commit on the state's head only the given
// environments are read again; a commit made on another head (a person's
// commit came first) makes the state read everything again.
func TestAdvance(t *testing.T) {
	when := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		person bool // a person's commit (qa to 1.1.0, 1.0.0 rejected) lies between the state's head and ferry's
		want   map[string]string
		reject bool
	}{
		{"on the state's head", false, map[string]string{"dev": "2.0.0", "qa": "1.0.0", "ppd": "1.0.0"}, false},
		{"on a head that moved", true, map[string]string{"dev": "2.0.0", "qa": "1.1.0", "ppd": "1.0.0"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo, head := newRepo(t, tree{files: exampleFleet(t)})
			cfg := testConfig(t)
			st := Read(cfg, head, nil)
			parent := head
			if tc.person {
				qa, _, err := overlays.SetImage(st.Envs["qa"].Data, overlays.Image{Name: "registry.example/shop/checkout", NewTag: "1.1.0"})
				if err != nil {
					t.Fatal(err)
				}
				rej, err := gitstate.AddRejection(nil, gitstate.Rejection{App: "checkout", Version: "1.0.0", Reason: "by hand", By: "person"})
				if err != nil {
					t.Fatal(err)
				}
				if parent, err = repo.Commit(head, map[string][]byte{"overlays/qa/kustomization.yaml": qa, gitstate.RejectionsFile: rej}, "a person's commit\n", when); err != nil {
					t.Fatal(err)
				}
			}
			dev, _, err := overlays.SetImage(st.Envs["dev"].Data, overlays.Image{Name: "registry.example/shop/checkout", NewTag: "2.0.0"})
			if err != nil {
				t.Fatal(err)
			}
			next, err := repo.Commit(parent, map[string][]byte{"overlays/dev/kustomization.yaml": dev}, "promote checkout 2.0.0 to dev\n", when)
			if err != nil {
				t.Fatal(err)
			}
			got := st.Advance(next, env(t, cfg, "dev"))
			if got.Snap.Hash() != next.Hash() {
				t.Fatalf("advanced to %s, want %s", got.Snap.Hash(), next.Hash())
			}
			for name, want := range tc.want {
				if v := got.Version(app(cfg), name); v.Tag != want {
					t.Errorf("%s runs %s, want %s", name, v, want)
				}
			}
			if _, rejected := got.Rejected(app(cfg), ledger.Version{Tag: "1.0.0"}); rejected != tc.reject {
				t.Errorf("1.0.0 rejected = %v, want %v", rejected, tc.reject)
			}
			// The state it came from is unchanged.
			if v := st.Version(app(cfg), "dev"); v.Tag != "1.0.0" {
				t.Errorf("Advance changed the old state: dev runs %s", v)
			}
		})
	}
}
