package dora

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

const registryHost = "127.0.0.1:5000"

const pipelineYAML = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart,     image: 127.0.0.1:5000/shop/cart,     tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, pullRequest: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// t0 is the fixture's first commit; every other time is an offset from it.
var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func at(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }

// builder writes a fleet history as a git fast-import stream: each commit
// rewrites the kustomization of the environments it names from the
// builder's current images.
type builder struct {
	s      strings.Builder
	mark   int
	main   int                          // mark of main's tip
	images map[string]map[string]string // env -> entry name -> tag
}

func newBuilder() *builder { return &builder{images: map[string]map[string]string{}} }

// set pins entry name (an image, or IMAGE-canary) to tag in env; "" removes it.
func (b *builder) set(env, name, tag string) *builder {
	if b.images[env] == nil {
		b.images[env] = map[string]string{}
	}
	if tag == "" {
		delete(b.images[env], name)
	} else {
		b.images[env][name] = tag
	}
	return b
}

func img(app string) string { return registryHost + "/shop/" + app }

func (b *builder) kustomization(env string) string {
	var s strings.Builder
	s.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\nimages:\n")
	names := make([]string, 0, len(b.images[env]))
	for n := range b.images[env] {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&s, "- name: %s\n  newTag: %s\n", n, b.images[env][n])
	}
	return s.String()
}

// commit adds a commit on main at hour h rewriting envs' overlays.
func (b *builder) commit(h float64, author string, msg ledger.Message, envs ...string) *builder {
	b.raw("refs/heads/main", 0, h, author, msg, envs)
	b.main = b.mark
	return b
}

// merge adds a pull request: a commit on a side branch (msg) merged into
// main at hour h by a merge commit without ferry's trailers.
func (b *builder) merge(h float64, pr int, msg ledger.Message, envs ...string) *builder {
	base := b.main
	b.raw(fmt.Sprintf("refs/heads/pr-%d", pr), base, h-0.5, "ferry", msg, envs)
	side := b.mark
	merge := ledger.Message{Subject: fmt.Sprintf("Merge pull request '%s' (#%d) from pr-%d into main", msg.Subject, pr, pr)}
	b.mark++
	fmt.Fprintf(&b.s, "commit refs/heads/main\nmark :%d\n", b.mark)
	b.signature(h, "gitea")
	b.data(merge.String())
	fmt.Fprintf(&b.s, "from :%d\nmerge :%d\n", base, side)
	for _, env := range envs {
		b.file(env)
	}
	b.main = b.mark
	return b
}

func (b *builder) raw(ref string, from int, h float64, author string, msg ledger.Message, envs []string) {
	b.mark++
	fmt.Fprintf(&b.s, "commit %s\nmark :%d\n", ref, b.mark)
	b.signature(h, author)
	b.data(msg.String())
	if from > 0 {
		fmt.Fprintf(&b.s, "from :%d\n", from)
	}
	for _, env := range envs {
		b.file(env)
	}
}

func (b *builder) signature(h float64, who string) {
	for _, role := range []string{"author", "committer"} {
		fmt.Fprintf(&b.s, "%s %s <%s@example.com> %d +0000\n", role, who, who, at(h).Unix())
	}
}

func (b *builder) data(s string) { fmt.Fprintf(&b.s, "data %d\n%s\n", len(s), s) }

func (b *builder) file(env string) {
	c := b.kustomization(env)
	fmt.Fprintf(&b.s, "M 100644 inline overlays/%s/kustomization.yaml\ndata %d\n%s\n", env, len(c), c)
}

// fixture is a bare repo holding a builder's history and ferry's clone of it.
type fixture struct {
	bare string
	repo *fleet.Repo
	head *fleet.Snapshot
	cfg  *config.Pipeline
}

func build(t testing.TB, b *builder) *fixture { return buildWith(t, b, pipelineYAML) }

func buildWith(t testing.TB, b *builder, pipeline string) *fixture {
	t.Helper()
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env, cmd.Stdin = bare, gitserver.Env(), strings.NewReader(b.s.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	url := "file://" + bare
	cfg, err := config.Parse("ferry.yaml", []byte(strings.ReplaceAll(pipeline, "FLEET", url)))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := fleet.Open(context.Background(), fleet.Options{URL: url, Dir: filepath.Join(root, "clone")})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{bare: bare, repo: repo, cfg: cfg}
	f.fetch(t)
	return f
}

func (f *fixture) fetch(t testing.TB) {
	t.Helper()
	head, err := f.repo.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.head = head
}

func (f *fixture) git(t testing.TB, args ...string) string {
	t.Helper()
	out, err := gitserver.Git(context.Background(), f.bare, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// Messages as ferry writes them (agent/reconcile.go, rollback.go, canary.go).
func promote(app, v, env, created string) ledger.Message {
	m := ledger.Message{Subject: fmt.Sprintf("promote %s %s to %s", app, v, env), Trailers: []ledger.Trailer{
		{Key: "Ferry-App", Value: app}, {Key: "Ferry-Env", Value: env}, {Key: "Ferry-Version", Value: v},
		{Key: "Ferry-Digest", Value: "sha256:" + strings.Repeat("a", 64)}, {Key: "Ferry-Decision", Value: "allow"},
	}}
	if created != "" {
		m.Trailers = append(m.Trailers, ledger.Trailer{Key: "Ferry-Created", Value: created})
	}
	return m
}

func rollback(app, env, to, rejects string) ledger.Message {
	return ledger.Message{Subject: fmt.Sprintf("rollback %s in %s to %s", app, env, to), Trailers: []ledger.Trailer{
		{Key: "Ferry-App", Value: app}, {Key: "Ferry-Env", Value: env}, {Key: "Ferry-Version", Value: to},
		{Key: "Ferry-Reason", Value: "alert HighErrorRate firing"}, {Key: "Ferry-Rejects", Value: rejects},
	}}
}

func canaryStart(app, v, env string) ledger.Message {
	m := promote(app, v, env, "")
	m.Subject = fmt.Sprintf("canary %s %s in %s: step 0/3, deploy the canary", app, v, env)
	m.Trailers = append(m.Trailers, ledger.Trailer{Key: "Ferry-Canary", Value: v}, ledger.Trailer{Key: "Ferry-Step", Value: "0/3"})
	return m
}

func abort(app, v, env string) ledger.Message {
	return ledger.Message{Subject: fmt.Sprintf("abort canary of %s %s in %s", app, v, env), Trailers: []ledger.Trailer{
		{Key: "Ferry-App", Value: app}, {Key: "Ferry-Env", Value: env}, {Key: "Ferry-Canary", Value: v},
		{Key: "Ferry-Reason", Value: "analysis canary failed"}, {Key: "Ferry-Rejects", Value: v},
	}}
}

func person(s string) ledger.Message { return ledger.Message{Subject: s} }

func rfc(h float64) string { return at(h).Format(time.RFC3339) }
