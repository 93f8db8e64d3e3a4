package canary

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/overlays"
)

var (
	remoteID atomic.Int64
	t0       = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
)

// repo is an in-memory clone of an empty in-memory remote: the tests
// commit locally and read the commits back as the steps do.
type repo struct {
	t *testing.T
	*fleet.Repo
	head *fleet.Snapshot
	now  time.Time
}

func newRepo(t *testing.T, files map[string]string) *repo {
	t.Helper()
	rp := &repo{t: t, Repo: fleettest.Clone(t, fleettest.Remote(t, "canary-test"), "ferry"), now: t0}
	rp.commit(files, "seed")
	return rp
}

// commit puts files (nil content deletes) on the head; msg is a subject or
// a record's message.
func (r *repo) commit(files map[string]string, msg string) *fleet.Snapshot {
	r.t.Helper()
	b := map[string][]byte{}
	for p, c := range files {
		b[p] = []byte(c)
	}
	r.now = r.now.Add(time.Minute)
	s, err := r.Commit(r.head, b, msg+"\n", r.now)
	if err != nil {
		r.t.Fatal(err)
	}
	r.head = s
	return s
}

// edit changes one file of the head.
func (r *repo) edit(name string, fn func(string) string, msg string) *fleet.Snapshot {
	r.t.Helper()
	data, err := r.head.ReadFile(name)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.commit(map[string]string{name: fn(string(data))}, msg)
}

func (r *repo) setImage(name string, img overlays.Image, msg string) *fleet.Snapshot {
	r.t.Helper()
	return r.edit(name, func(s string) string {
		out, _, err := overlays.SetImage([]byte(s), img)
		if err != nil {
			r.t.Fatal(err)
		}
		return string(out)
	}, msg)
}

func parse(t *testing.T, yaml string) *config.Pipeline {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const pipelineHead = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
providers:
  prometheus: {address: http://127.0.0.1:9}
analyses:
  smoke:
    metrics:
      - {name: errors, query: 'sum(rate(errors_total{version="{{.Canary}}"}[1m]))', successCondition: result == 0}
`

func route(app string, canaryWeight int) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %[1]s
spec:
  parentRefs:
  - name: shop
  rules:
  - backendRefs:
    - name: %[1]s
      port: 80
      weight: %[2]d
    - name: %[1]s-canary
      port: 80
      weight: %[3]d
`, app, 100-canaryWeight, canaryWeight)
}

// TestCanaryImage (issue 17: "canary.image is parsed ... then ignored"):
// the entry canary.image names is the canary's. Step 0 sets it (and only
// it), the stable entry is found even when the canary's is listed first
// with the same newName, and the overlay still builds with kustomize.
func TestCanaryImage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		image string // canary.image; "" for the default
		entry string // the canary's images: entry
	}{
		{"default", "", "registry.example/shop/checkout-canary"},
		{"template over .App", "registry.example/shop/{{.App}}-next", "registry.example/shop/checkout-next"},
		{"template over .Image", "{{.Image}}-preview", "127.0.0.1:5000/shop/checkout-preview"},
		{"a name unlike the stable one's", "green", "green"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			image := ""
			if tc.image != "" {
				image = fmt.Sprintf(", image: %q", tc.image)
			}
			cfg := parse(t, pipelineHead+`apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, canary: {steps: [50], analysis: smoke`+image+`}}
`)
			app, _ := cfg.App("checkout")
			env, _ := cfg.Env("prod")
			const kust = "overlays/prod/kustomization.yaml"
			r := newRepo(t, map[string]string{
				"base/kustomization.yaml":           "resources:\n- checkout.yaml\n",
				"base/checkout.yaml":                deployment("checkout", "registry.example/shop/checkout"),
				"overlays/prod/canary.yaml":         deployment("checkout-canary", tc.entry),
				"overlays/prod/checkout-route.yaml": route("checkout", 0),
				// The canary's entry comes first, with the stable one's newName.
				kust: fmt.Sprintf(`resources:
- ../../base
- canary.yaml
- checkout-route.yaml
images:
- name: %s
  newName: 127.0.0.1:5000/shop/checkout
  newTag: 1.0.0
- name: registry.example/shop/checkout
  newName: 127.0.0.1:5000/shop/checkout
  newTag: 1.0.0
`, tc.entry),
			})
			st := state.Read(cfg, r.head, nil)
			if e := st.Envs["prod"]; e.Err != nil {
				t.Fatal(e.Err)
			}
			if im, ok := st.Envs["prod"].Entry(app); !ok || im.Name != "registry.example/shop/checkout" {
				t.Fatalf("the stable entry is %+v (found %v)", im, ok)
			}
			cs, err := Read(st, app, env)
			if err != nil {
				t.Fatal(err)
			}
			if cs.Entry.Name != tc.entry || cs.Active(false) {
				t.Fatalf("canary entry %q (active %v), want %q at rest", cs.Entry.Name, cs.Active(false), tc.entry)
			}

			d := &Deliveries{Config: cfg, Log: r, Render: overlays.Render, Now: func() time.Time { return r.now }}
			step := plan.Step{App: "checkout", Env: "prod", From: "dev", Candidate: ledger.Version{Tag: "1.1.0"}}
			edit, err := d.Start(step, app, env)(st)
			if err != nil {
				t.Fatal(err)
			}
			rec, ok := edit.Record.(*ledger.CanaryStep)
			if !ok || rec.Step != 0 || rec.Version.Tag != "1.1.0" {
				t.Fatalf("step 0's record: %#v", edit.Record)
			}
			if len(edit.Files) != 1 || edit.Files[kust] == nil {
				t.Fatalf("step 0 changes %v, want only %s", keys(edit.Files), kust)
			}
			images, err := overlays.ReadImages(edit.Files[kust])
			if err != nil {
				t.Fatal(err)
			}
			if got := tags(images); got != tc.entry+"=1.1.0 registry.example/shop/checkout=1.0.0" {
				t.Fatalf("step 0 writes %s", got)
			}
			s0 := r.commit(map[string]string{kust: string(edit.Files[kust])}, edit.Record.Message().String())
			st = state.Read(cfg, s0, nil)
			if v := st.Version(app, "prod"); v.Tag != "1.0.0" {
				t.Fatalf("after step 0 prod runs %s, want the stable 1.0.0", v)
			}
			cs, err = Read(st, app, env)
			if err != nil || !cs.Active(false) || cs.Canary.Tag != "1.1.0" || cs.Step != 0 {
				t.Fatalf("after step 0: %+v, %v", cs, err)
			}
			if c, err := StepCommit(context.Background(), r, st, app, env, cs); err != nil || c.Hash != s0.Hash() {
				t.Fatalf("step commit %s, %v; want step 0's %s", c.Hash, err, s0.Hash())
			}
			out, err := overlays.Render(s0.FS(), "overlays/prod")
			if err != nil {
				t.Fatal(err)
			}
			got, err := overlays.RenderImages(out)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != "127.0.0.1:5000/shop/checkout:1.0.0 127.0.0.1:5000/shop/checkout:1.1.0" {
				t.Fatalf("rendered images %v, want stable 1.0.0 and canary 1.1.0", got)
			}
		})
	}
}

func deployment(name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  template:
    spec:
      containers:
      - name: app
        image: %s:0.0.0
`, name, image)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func tags(images []overlays.Image) string {
	var out []string
	for _, im := range images {
		v := im.NewTag
		if im.Digest != "" {
			v += "@" + im.Digest
		}
		out = append(out, im.Name+"="+v)
	}
	return strings.Join(out, " ")
}

const twoApps = pipelineHead + `apps:
  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: registry.example/shop/cart, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, canary: {steps: [25, 50], analysis: smoke}}
`

const twoAppsKust = `images:
- name: registry.example/shop/checkout
  newTag: 1.0.0
- name: registry.example/shop/checkout-canary
  newTag: 1.0.0
- name: registry.example/shop/cart
  newTag: 2.0.0
- name: registry.example/shop/cart-canary
  newTag: 2.0.0
`

// TestStepCommit: the commit that put checkout's step in place is the
// newest that changed checkout's route or its canary entry's version;
// other apps' commits to the same overlay, and other edits of it, are not.
func TestStepCommit(t *testing.T) {
	const kust = "overlays/prod/kustomization.yaml"
	cartCanary := func(r *repo) {
		r.setImage(kust, overlays.Image{Name: "registry.example/shop/cart-canary", NewTag: "2.1.0"}, "cart step 0")
	}
	for _, tc := range []struct {
		name  string
		after func(r *repo) // commits after checkout's step 1
		own   bool          // the last commit is checkout's own step
	}{
		{"nothing after", func(*repo) {}, false},
		{"cart's step 0 (its canary entry)", cartCanary, false},
		{"cart's step 1 (its route)", func(r *repo) {
			cartCanary(r)
			r.commit(map[string]string{"overlays/prod/cart-route.yaml": route("cart", 25)}, "cart step 1")
		}, false},
		{"cart's promotion (its stable entry)", func(r *repo) {
			r.setImage(kust, overlays.Image{Name: "registry.example/shop/cart", NewTag: "2.1.0"}, "promote cart")
		}, false},
		{"a person's comment in the kustomization", func(r *repo) {
			r.edit(kust, func(s string) string { return "# owned by the shop team\n" + s }, "comment")
		}, false},
		{"another file of the overlay", func(r *repo) {
			r.commit(map[string]string{"overlays/prod/config.yaml": "a: 1\n"}, "config")
		}, false},
		{"checkout's step 2", func(r *repo) {
			cartCanary(r)
			r.commit(map[string]string{"overlays/prod/checkout-route.yaml": route("checkout", 50)}, "checkout step 2")
		}, true},
		{"checkout's canary re-pinned with a digest", func(r *repo) {
			r.setImage(kust, overlays.Image{Name: "registry.example/shop/checkout-canary", NewTag: "1.1.0", Digest: "sha256:" + strings.Repeat("1", 64)}, "pin")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parse(t, twoApps)
			app, _ := cfg.App("checkout")
			env, _ := cfg.Env("prod")
			r := newRepo(t, map[string]string{kust: twoAppsKust,
				"overlays/prod/checkout-route.yaml": route("checkout", 0), "overlays/prod/cart-route.yaml": route("cart", 0)})
			r.setImage(kust, overlays.Image{Name: "registry.example/shop/checkout-canary", NewTag: "1.1.0"}, "checkout step 0")
			step1 := r.commit(map[string]string{"overlays/prod/checkout-route.yaml": route("checkout", 25)}, "checkout step 1")
			tc.after(r)
			want := step1.Hash()
			if tc.own {
				want = r.head.Hash()
			}
			st := state.Read(cfg, r.head, nil)
			cs, err := Read(st, app, env)
			if err != nil {
				t.Fatal(err)
			}
			c, err := StepCommit(context.Background(), r, st, app, env, cs)
			if err != nil {
				t.Fatal(err)
			}
			if c.Hash != want {
				t.Fatalf("step commit %q, want %q", strings.SplitN(c.Message, "\n", 2)[0], map[bool]string{false: "checkout step 1", true: "the last commit"}[tc.own])
			}
		})
	}
}

// TestActive (issue 17 item 4): a person's overlay that names the same
// tag in the stable and canary entries, with a digest on one side or
// none, runs one version: no delivery is in progress. For an app that
// follows a moving tag the digest is the version, so there only equal
// pins are at rest.
func TestActive(t *testing.T) {
	d1, d2 := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	for _, tc := range []struct {
		name           string
		tags           string // the app's tag policy
		stable, canary ledger.Version
		active         bool
	}{
		{"same tag, no digests (overlays/examples/canary)", `{semver: ">=1.0.0"}`, ledger.Version{Tag: "1.0.0"}, ledger.Version{Tag: "1.0.0"}, false},
		{"same tag, digest on the stable entry", `{semver: ">=1.0.0"}`, ledger.Version{Tag: "1.0.0", Digest: d1}, ledger.Version{Tag: "1.0.0"}, false},
		{"same tag, digest on the canary entry", `{semver: ">=1.0.0"}`, ledger.Version{Tag: "1.0.0"}, ledger.Version{Tag: "1.0.0", Digest: d1}, false},
		{"same tag and digest", `{semver: ">=1.0.0"}`, ledger.Version{Tag: "1.0.0", Digest: d1}, ledger.Version{Tag: "1.0.0", Digest: d1}, false},
		{"another tag", `{semver: ">=1.0.0"}`, ledger.Version{Tag: "1.0.0"}, ledger.Version{Tag: "1.1.0"}, true},
		{"same tag, two digests", `{semver: ">=1.0.0"}`, ledger.Version{Tag: "1.0.0", Digest: d1}, ledger.Version{Tag: "1.0.0", Digest: d2}, true},
		{"moving tag, same pin", `{digest: latest}`, ledger.Version{Tag: "latest", Digest: d1}, ledger.Version{Tag: "latest", Digest: d1}, false},
		{"moving tag, new digest", `{digest: latest}`, ledger.Version{Tag: "latest", Digest: d1}, ledger.Version{Tag: "latest", Digest: d2}, true},
		{"moving tag, canary without digest", `{digest: latest}`, ledger.Version{Tag: "latest", Digest: d1}, ledger.Version{Tag: "latest"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := parse(t, pipelineHead+`apps:
  - {name: checkout, image: registry.example/shop/checkout, tags: `+tc.tags+`}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, canary: {steps: [25, 50], analysis: smoke}}
`)
			app, _ := cfg.App("checkout")
			env, _ := cfg.Env("prod")
			entry := func(name string, v ledger.Version) string {
				s := fmt.Sprintf("- name: %s\n  newTag: %s\n", name, v.Tag)
				if v.Digest != "" {
					s += "  digest: " + v.Digest + "\n"
				}
				return s
			}
			r := newRepo(t, map[string]string{
				"overlays/prod/kustomization.yaml": "images:\n" + entry("registry.example/shop/checkout", tc.stable) +
					entry("registry.example/shop/checkout-canary", tc.canary),
				"overlays/prod/checkout-route.yaml": route("checkout", 0),
			})
			st := state.Read(cfg, r.head, nil)
			cs, err := Read(st, app, env)
			if err != nil {
				t.Fatal(err)
			}
			if got := cs.Active(state.Moving(app)); got != tc.active {
				t.Fatalf("Active = %v, want %v", got, tc.active)
			}
		})
	}
}

// TestPinnedTagIsNoNewVersion (issue 17 item 4): prod copied from
// overlays/examples/canary pins 1.0.0 without a digest in both entries;
// dev runs 1.0.0 with the digest ferry resolved. That is the version prod
// runs: no delivery starts. A new tag does start one.
func TestPinnedTagIsNoNewVersion(t *testing.T) {
	digest := "sha256:" + strings.Repeat("c", 64)
	for _, tc := range []struct {
		dev    ledger.Version
		action plan.Action
	}{
		{ledger.Version{Tag: "1.0.0", Digest: digest}, plan.ActionNone},
		{ledger.Version{Tag: "1.0.0"}, plan.ActionNone},
		{ledger.Version{Tag: "1.1.0", Digest: digest}, plan.ActionPromote},
	} {
		t.Run(tc.dev.String(), func(t *testing.T) {
			cfg := parse(t, pipelineHead+`apps:
  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, canary: {steps: [25, 50], analysis: smoke}}
`)
			app, _ := cfg.App("checkout")
			env, _ := cfg.Env("prod")
			dev := "images:\n- name: registry.example/shop/checkout\n  newTag: " + tc.dev.Tag + "\n"
			if tc.dev.Digest != "" {
				dev += "  digest: " + tc.dev.Digest + "\n"
			}
			r := newRepo(t, map[string]string{
				"overlays/dev/kustomization.yaml": dev,
				"overlays/prod/kustomization.yaml": "images:\n- name: registry.example/shop/checkout\n  newTag: 1.0.0\n" +
					"- name: registry.example/shop/checkout-canary\n  newTag: 1.0.0\n",
				"overlays/prod/checkout-route.yaml": route("checkout", 0),
			})
			st := state.Read(cfg, r.head, nil)
			if _, delivering, err := InProgress(context.Background(), r, st, app, env); err != nil || delivering {
				t.Fatalf("the pinned overlay is taken for a delivery in progress (%v)", err)
			}
			// The gate is not asked before a candidate is found to be new.
			p, err := plan.New(cfg, r, nil, state.NewHistory(), false)
			if err != nil {
				t.Fatal(err)
			}
			if s := p.Decide(context.Background(), st, nil, app, env); s.Action != tc.action {
				t.Fatalf("prod: %s (%s), want %s", s.Action, s.Reason, tc.action)
			}
		})
	}
}
