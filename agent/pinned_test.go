package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/overlays"
)

// withImages rebuilds f's agent with the registry as its image reader too,
// as `ferry run` wires it (tests elsewhere leave it out).
func withImages(t *testing.T, f *testFleet) {
	t.Helper()
	reg := registry.NewClient(registry.Options{RequestsPerSecond: 1000})
	a, err := New(Options{Config: f.agent.cfg, Fleet: f.agent.fleet, Registry: reg, Images: reg})
	if err != nil {
		t.Fatal(err)
	}
	f.agent = a
}

// TestOnwardVersionMustBePinned (H8): a version taken from an overlay a
// person may have edited moves on only under a name that is what runs.
// ferry copied qa's `newTag: 9.9.9` beside 1.2.0's digest (a tag the
// registry does not have) to ppd, prod and dr as "9.9.9", and for an app
// that follows `latest`, a pin without its digest, dropping the digest
// pins of every later environment.
func TestOnwardVersionMustBePinned(t *testing.T) {
	for _, tc := range []struct {
		name, pipeline string
		tags           []string
		qa             func(k string, digests map[string]string) string // the person's edit of qa's kustomization
		reason         string
	}{
		{"a tag the registry does not have beside a digest", autoChain, []string{"1.0.0", "1.2.0"},
			func(k string, _ map[string]string) string {
				return strings.Replace(k, "newTag: 1.2.0", "newTag: 9.9.9", 1)
			},
			"the registry has no tag 9.9.9"},
		// qa is manual here, so that ferry itself does not correct the person's pin.
		{"a tag whose digest is another image's", strings.Replace(autoChain, "from: dev, auto: true", "from: dev", 1), []string{"1.0.0", "1.2.0"},
			func(k string, digests map[string]string) string { return setImage(k, "1.2.0", digests["1.0.0"]) },
			"but the registry's 1.2.0 is"},
		{"a moving tag without its digest", strings.Replace(autoChain, `tags: {semver: ">=1.0.0"}`, `tags: {digest: latest}`, 1), []string{"latest"},
			func(k string, _ map[string]string) string { return setImage(k, "latest", "") },
			"has no digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFleet(t, fleetSetup{pipeline: tc.pipeline})
			withImages(t, f)
			digests := map[string]string{}
			for _, tag := range tc.tags {
				digests[tag] = f.push(t, "shop/checkout", tag)
			}
			if res, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil || res.Err() != nil {
				t.Fatalf("first pass: %v %v", err, res.Err())
			}
			f.edit(t, "qa by hand", map[string]func(string) string{"overlays/qa/kustomization.yaml": func(k string) string { return tc.qa(k, digests) }})
			before := f.git(t, "show", "main:overlays/ppd/kustomization.yaml")
			res, err := f.agent.Reconcile(ctx, Scope{All: true})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, s := range res.Plan.Steps {
				if s.Env == "ppd" && s.Action == ActionError && strings.Contains(s.Reason, tc.reason) {
					found = true
				}
			}
			if !found {
				t.Fatalf("ppd's step does not refuse, saying %q: %+v", tc.reason, res.Plan.Steps)
			}
			if after := f.git(t, "show", "main:overlays/ppd/kustomization.yaml"); after != before {
				t.Fatalf("ppd took qa's unpinned version:\n%s", after)
			}
		})
	}
}

// setImage sets the checkout entry's tag and digest ("" drops it).
func setImage(k, tag, digest string) string {
	out, _, err := overlays.SetImage([]byte(k), overlays.Image{Name: "registry.example/shop/checkout", NewTag: tag, Digest: digest})
	if err != nil {
		panic(err)
	}
	return string(out)
}
