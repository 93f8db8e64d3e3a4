package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/overlays"
)

const testPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: 127.0.0.1:5000/shop/cart, tags: {digest: latest}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  pullRequest: true}
  - {name: prod, overlay: overlays/prod, from: ppd}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

func testAgent(t *testing.T) *Agent {
	t.Helper()
	p, err := config.Parse("ferry.yaml", []byte(testPipeline))
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: p, selectors: map[string]*registry.Selector{}, history: newHistory()}
	for _, app := range p.Apps {
		sel, err := registry.NewSelector(registry.TagPolicy{Semver: app.Tags.Semver, Regex: app.Tags.Regex, Order: app.Tags.Order, Digest: app.Tags.Digest})
		if err != nil {
			t.Fatal(err)
		}
		a.selectors[app.Name] = sel
	}
	for _, n := range p.Order() {
		env, _ := p.Env(n)
		a.order = append(a.order, env)
	}
	return a
}

func v(tag, digest string) Version { return Version{Tag: tag, Digest: digest} }

// state builds a fleet state where env -> checkout's version; a nil entry
// leaves the env without the app, an "ERR" tag makes the overlay unreadable.
func state(versions map[string]Version) *fleetState {
	st := &fleetState{envs: map[string]*envState{}}
	for _, env := range []string{"dev", "qa", "ppd", "prod", "dr"} {
		es := &envState{path: "overlays/" + env + "/kustomization.yaml", data: []byte("{}")}
		if ver, ok := versions[env]; ok {
			if ver.Tag == "ERR" {
				es.err = errors.New("overlays/" + env + "/kustomization.yaml:3: images is not a list")
			} else {
				es.images = []overlays.Image{{Name: "registry.example/shop/checkout", NewName: "127.0.0.1:5000/shop/checkout", NewTag: ver.Tag, Digest: ver.Digest}}
			}
		}
		st.envs[env] = es
	}
	return st
}

func TestDecide(t *testing.T) {
	regOK := candidates{"checkout": {version: v("1.2.0", "sha256:b")}}
	tests := []struct {
		name     string
		env      string
		state    map[string]Version
		cands    candidates
		promoted []Version // earlier ferry promotions of checkout into env
		action   Action
		reason   string
	}{
		{"registry has newer", "dev", map[string]Version{"dev": v("1.1.0", "sha256:a")}, regOK, nil, ActionPromote, "registry has 1.2.0@sha256:b"},
		{"placeholder tag is replaced", "dev", map[string]Version{"dev": v("0.0.0", "")}, regOK, nil, ActionPromote, "registry has"},
		{"no entry yet", "dev", map[string]Version{}, regOK, nil, ActionPromote, "registry has"},
		{"up to date", "dev", map[string]Version{"dev": v("1.2.0", "sha256:b")}, regOK, nil, ActionNone, "up to date"},
		{"same tag, new digest", "dev", map[string]Version{"dev": v("1.2.0", "sha256:a")}, regOK, nil, ActionPromote, "registry has"},
		{"human pinned a newer version", "dev", map[string]Version{"dev": v("2.0.0", "sha256:z")}, regOK, nil, ActionNone, "runs 2.0.0, newer than candidate 1.2.0"},
		{"registry failed", "dev", map[string]Version{"dev": v("1.1.0", "")}, candidates{"checkout": {err: errors.New("list tags: 503")}}, nil, ActionError, "list tags: 503"},
		{"registry not asked", "dev", map[string]Version{"dev": v("1.1.0", "")}, candidates{}, nil, ActionNone, "not polled"},
		{"from env has newer", "qa", map[string]Version{"dev": v("1.2.0", "sha256:b"), "qa": v("1.1.0", "sha256:a")}, nil, nil, ActionPromote, "dev has 1.2.0"},
		{"from env runs nothing", "qa", map[string]Version{"qa": v("1.1.0", "sha256:a")}, nil, nil, ActionNone, "dev runs no version of checkout"},
		{"reverted by a person: not again", "qa", map[string]Version{"dev": v("1.2.0", "sha256:b"), "qa": v("1.1.0", "sha256:a")}, nil, []Version{v("1.2.0", "sha256:b")}, ActionNone, "promoted to qa before"},
		{"pull request env waits", "ppd", map[string]Version{"qa": v("1.2.0", "sha256:b"), "ppd": v("1.1.0", "sha256:a")}, nil, nil, ActionWait, "pull-request"},
		{"manual env waits", "prod", map[string]Version{"ppd": v("1.2.0", "sha256:b"), "prod": v("1.1.0", "sha256:a")}, nil, nil, ActionWait, "manual environment"},
		{"mirror follows a downgrade", "dr", map[string]Version{"prod": v("1.1.0", "sha256:a"), "dr": v("1.2.0", "sha256:b")}, nil, nil, ActionPromote, "mirror prod"},
		{"mirror in step", "dr", map[string]Version{"prod": v("1.1.0", "sha256:a"), "dr": v("1.1.0", "sha256:a")}, nil, nil, ActionNone, "up to date"},
		{"unreadable overlay", "qa", map[string]Version{"dev": v("1.2.0", "sha256:b"), "qa": v("ERR", "")}, nil, nil, ActionError, "images is not a list"},
		{"unreadable source", "qa", map[string]Version{"dev": v("ERR", ""), "qa": v("1.1.0", "")}, nil, nil, ActionError, "source dev is unreadable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := testAgent(t)
			for _, p := range tc.promoted {
				a.history.record("checkout", tc.env, p)
			}
			app, _ := a.cfg.App("checkout")
			env, _ := a.cfg.Env(tc.env)
			got := a.decide(state(tc.state), tc.cands, app, env)
			if got.Action != tc.action || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("decide = %s %q, want %s containing %q", got.Action, got.Reason, tc.action, tc.reason)
			}
		})
	}
}

func TestVersionString(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		want string
	}{
		{Version{}, "(none)"},
		{v("1.0.0", ""), "1.0.0"},
		{v("", "sha256:0123456789abcdef0123"), "sha256:0123456789abcdef0123"},
		{v("latest", "sha256:0123456789abcdef0123"), "latest@sha256:0123456789ab"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestAppsFor(t *testing.T) {
	a := testAgent(t)
	tests := []struct {
		name   string
		events []webhook.RegistryEvent
		want   string
	}{
		{"host and repository", []webhook.RegistryEvent{{Host: "127.0.0.1:5000", Repository: "shop/checkout", Tag: "1.0.0"}}, "checkout"},
		{"registry knows itself by another name", []webhook.RegistryEvent{{Host: "registry.internal:5000", Repository: "shop/cart"}}, "cart"},
		{"two events, two apps", []webhook.RegistryEvent{{Repository: "shop/cart"}, {Host: "127.0.0.1:5000", Repository: "shop/checkout"}}, "cart,checkout"},
		{"unknown repository", []webhook.RegistryEvent{{Host: "127.0.0.1:5000", Repository: "shop/unknown"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(a.appsFor(tc.events), ","); got != tc.want {
				t.Fatalf("appsFor = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPromotionMessageRoundTrip(t *testing.T) {
	s := Step{App: "checkout", Env: "qa", From: "dev", Candidate: v("1.4.2", "sha256:abc")}
	msg := promotionMessage(s)
	if msg.Subject != "promote checkout 1.4.2 to qa" {
		t.Fatalf("subject %q", msg.Subject)
	}
	app, env, ver, ok := promotionOf(msg)
	if !ok || app != "checkout" || env != "qa" || ver != s.Candidate {
		t.Fatalf("promotionOf = %s %s %v %v", app, env, ver, ok)
	}
	msg.Subject = "rollback checkout in qa to 1.4.1"
	if _, _, _, ok := promotionOf(msg); ok {
		t.Fatal("a rollback is not a promotion")
	}
}
