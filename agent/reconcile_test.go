package agent

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/overlays"
)

const autoChain = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

type testFleet struct {
	agent *Agent
	bare  string
	reg   string
}

// newTestFleet runs the agent against a real registry (go-containerregistry's,
// in-process on 127.0.0.1) and a bare fleet repo reached over file://.
func newTestFleet(t *testing.T) *testFleet { return newFleet(t, fleetSetup{pipeline: autoChain}) }

// newTestFleetOver serves the fleet repo with git http-backend when
// options are given (a hook can then refuse pushes), else over file://.
func newTestFleetOver(t *testing.T, opts ...gitserver.Option) *testFleet {
	return newFleet(t, fleetSetup{pipeline: autoChain, server: opts})
}

// fleetSetup is a test fleet: ferry.yaml and files beside the example fleet's.
type fleetSetup struct {
	pipeline string            // ferry.yaml; FLEET and REGISTRY are filled in
	files    map[string]string // added to or replacing the example fleet's; REGISTRY is filled in
	server   []gitserver.Option
}

func newFleet(t *testing.T, s fleetSetup) *testFleet {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	regHost := ln.Addr().String()

	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	files, err := overlays.ExampleFleet(regHost)
	if err != nil {
		t.Fatal(err)
	}
	delete(files, "ferry.yaml")
	for p, c := range s.files {
		files[p] = []byte(strings.ReplaceAll(c, "REGISTRY", regHost))
	}
	if err := gitserver.Seed(bare, files, "seed"); err != nil {
		t.Fatal(err)
	}
	fleetURL := "file://" + bare
	if len(s.server) > 0 {
		srv, err := gitserver.Start(root, s.server...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		fleetURL = srv.RepoURL("fleet.git")
	}
	cfg, err := config.Parse("ferry.yaml", []byte(strings.NewReplacer("FLEET", fleetURL, "REGISTRY", regHost).Replace(s.pipeline)))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := fleet.Open(context.Background(), fleet.Options{URL: fleetURL, Branch: "main", Dir: filepath.Join(root, "clone")})
	if err != nil {
		t.Fatal(err)
	}
	// Analyses compile against the provider names; these tests record verdicts themselves.
	a, err := New(Options{Config: cfg, Fleet: repo, Registry: registry.NewClient(registry.Options{RequestsPerSecond: 1000}),
		Analysis: analysis.Providers{"prometheus": nil}})
	if err != nil {
		t.Fatal(err)
	}
	return &testFleet{agent: a, bare: bare, reg: regHost}
}

func (f *testFleet) push(t *testing.T, repo, tag string) string {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(f.reg + "/" + repo + ":" + tag)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

func (f *testFleet) git(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", f.bare}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestReconcileChainIsIdempotent(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	digest := f.push(t, "shop/checkout", "1.1.0")

	plan, err := f.agent.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, s := range plan.Steps {
		if s.Action == ActionPromote {
			planned = append(planned, s.Env+"="+s.Candidate.Tag)
		}
	}
	if got := strings.Join(planned, " "); got != "dev=1.1.0 qa=1.1.0 ppd=1.1.0 prod=1.1.0 dr=1.1.0" {
		t.Fatalf("plan: %s", got)
	}
	if n := f.git(t, "rev-list", "--count", "main"); n != "1" {
		t.Fatalf("plan wrote to the fleet repo: %s commits", n)
	}

	res, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil || res.Err() != nil {
		t.Fatalf("reconcile: %v %v", err, res.Err())
	}
	if len(res.Promotions) != 5 {
		t.Fatalf("promotions: %+v", res.Promotions)
	}
	subjects := f.git(t, "log", "--reverse", "--format=%s", "main")
	want := "seed\npromote checkout 1.1.0 to dev\npromote checkout 1.1.0 to qa\npromote checkout 1.1.0 to ppd\npromote checkout 1.1.0 to prod\npromote checkout 1.1.0 to dr"
	if subjects != want {
		t.Fatalf("history:\n%s\nwant:\n%s", subjects, want)
	}
	if k := f.git(t, "show", "main:overlays/dr/kustomization.yaml"); !strings.Contains(k, "digest: "+digest) {
		t.Fatalf("dr overlay lacks the digest:\n%s", k)
	}

	head := f.git(t, "rev-parse", "main")
	res, err = f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil || len(res.Promotions) != 0 {
		t.Fatalf("second pass: %v %+v", err, res.Promotions)
	}
	if f.git(t, "rev-parse", "main") != head {
		t.Fatal("a pass with nothing new wrote a commit")
	}
}

func TestReconcileScopeSkipsRegistry(t *testing.T) {
	f := newTestFleet(t)
	f.push(t, "shop/checkout", "1.0.0")
	res, err := f.agent.Reconcile(context.Background(), Scope{Apps: []string{"other"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Promotions) != 0 {
		t.Fatalf("an app outside the scope was polled: %+v", res.Promotions)
	}
}
