package dashboard

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/overlays"
)

const pipelineYAML = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: REGISTRY/shop/cart, tags: {regex: '^main-(?P<version>[0-9]+)$', order: numerical}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// denyCart keeps cart out of ppd with a reason holding markup, which the
// pending table must show as text.
const denyCart = `package ferry.promotion

deny contains "cart is frozen in ppd: <b>release</b> <script>alert(2)</script>" if {
	input.environment.name == "ppd"
	input.app.name == "cart"
}
`

// realFleet is a running agent loop over a real registry (go-containerregistry's,
// in-process) and a bare fleet repo reached over file://.
type realFleet struct {
	loop *agent.Loop
	repo *fleet.Repo
	bare string
	reg  string
	src  *LoopSource
}

func startRealFleet(t testing.TB) *realFleet {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f := &realFleet{reg: ln.Addr().String()}
	f.push(t, "shop/checkout", "1.0.0")
	f.push(t, "shop/checkout", "1.2.0")
	f.push(t, "shop/cart", "main-7")

	root := t.TempDir()
	if f.bare, err = gitserver.InitBare(root, "fleet.git"); err != nil {
		t.Fatal(err)
	}
	files, err := overlays.ExampleFleet(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	delete(files, "ferry.yaml")
	files["policies/dashboard.rego"] = []byte(denyCart)
	if err := gitserver.Seed(f.bare, files, "seed"); err != nil {
		t.Fatal(err)
	}
	url := "file://" + f.bare
	cfg, err := config.Parse("ferry.yaml", []byte(strings.NewReplacer("FLEET", url, "REGISTRY", f.reg).Replace(pipelineYAML)))
	if err != nil {
		t.Fatal(err)
	}
	if f.repo, err = fleet.Open(context.Background(), fleet.Options{URL: url, Branch: "main", Dir: filepath.Join(root, "clone")}); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Config: cfg, Fleet: f.repo, Registry: registry.NewClient(registry.Options{RequestsPerSecond: 1000})})
	if err != nil {
		t.Fatal(err)
	}
	f.loop = agent.NewLoop(a, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.loop.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	f.src = NewSource(func() *agent.Loop { return f.loop })
	f.waitForPass(t)
	return f
}

func (f *realFleet) push(t testing.TB, repo, tag string) {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(f.reg + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

func (f *realFleet) git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(gitserver.Env(), "GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=human@example.com",
		"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// humanCommit pushes an empty commit with msg, as a person would, and waits
// until the loop has read it.
func (f *realFleet) humanCommit(t testing.TB, msg string) {
	t.Helper()
	dir := t.TempDir()
	f.git(t, dir, "clone", "-q", f.bare, ".")
	f.git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
	f.git(t, dir, "push", "-q", "origin", "HEAD:main")
	f.loop.Trigger(agent.Scope{Reason: "test"})
	f.waitForPass(t)
}

// waitForPass waits until the loop's last pass saw the bare repo's head
// (which the pass itself may move).
func (f *realFleet) waitForPass(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		p := f.loop.LastPass()
		want := f.git(t, f.bare, "rev-parse", "main")
		if p != nil && headOf(p) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop never saw head %.12s (last pass: %+v)", want, p)
		}
		if p != nil && i%10 == 9 {
			f.loop.Trigger(agent.Scope{Reason: "test"}) // the pass ran before our push
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get serves one request through h.
func get(t testing.TB, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
