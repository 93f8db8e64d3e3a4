package gate

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/policies"
)

// The Jenkins pipeline of issue 14, with qa renamed to quality and no
// analysis anywhere.
const renamed = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: registry.example/shop/cart, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: quality, overlay: overlays/quality, from: dev, auto: true%s}
  - {name: ppd, overlay: overlays/ppd, from: quality, auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, pullRequest: true}
  - {name: dr, overlay: overlays/dr, mirror: prod}
providers:
  prometheus: {address: http://127.0.0.1:9}
analyses:
  smoke:
    metrics:
      - {name: errors, query: 'sum(rate(errors_total{version="{{.Version}}"}[1m]))', successCondition: result == 0}
`

// ungated runs Gate.Ungated on a fleet repo holding the given policies
// (under policies/) and ferry.yaml's quality entry extended by extra.
func ungated(t *testing.T, extra string, files map[string][]byte) []Ungated {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(strings.Replace(renamed, "%s", extra, 1)))
	if err != nil {
		t.Fatal(err)
	}
	repo := fleettest.Clone(t, fleettest.Remote(t, "ungated"), "ferry")
	tree := map[string][]byte{}
	for _, env := range []string{"dev", "quality", "ppd", "prod", "dr"} {
		tree["overlays/"+env+"/kustomization.yaml"] = []byte(kustomization("1.0.0"))
	}
	for name, data := range files {
		tree["policies/"+name] = data
	}
	snap, err := repo.Commit(nil, tree, "seed\n", time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	g := New(Options{Config: cfg, Log: repo})
	got, err := g.Ungated(context.Background(), snap)
	if err != nil {
		t.Fatal(err)
	}
	again, err := g.Ungated(context.Background(), snap)
	if err != nil || !reflect.DeepEqual(got, again) {
		t.Fatalf("second answer %v, %v; want the first, %v", again, err, got)
	}
	return got
}

// envsIn returns the environment each warning names, in order, with the
// apps when not every app is open there.
func envsIn(warnings []Ungated) []string {
	var out []string
	for _, w := range warnings {
		name := w.Env
		if len(w.Apps) > 0 {
			name += "(" + strings.Join(w.Apps, ",") + ")"
		}
		if !strings.HasPrefix(w.Reason, "environment "+w.Env+": ") {
			name += "?" // the reason must name its environment first
		}
		out = append(out, name)
	}
	return out
}

// TestUngated: issue 14's renamed environment. Under the default policies
// an environment called quality has no tier and no rule can deny there: it
// is named, with the way out (a tier); with tier: test it has qa's gate.
// The first environment and dr (a mirror) are never named. Without
// policies every other environment is; a policy that gates prod alone
// leaves quality and ppd named.
func TestUngated(t *testing.T) {
	defaults := policies.DefaultFiles()
	for _, tc := range []struct {
		name, extra string // extra extends quality's entry
		files       map[string][]byte
		want        []string
		hint        string
	}{
		{"renamed qa", "", defaults, []string{"quality"}, "give it a tier (test, staging or production)"},
		{"renamed qa with its tier", ", tier: test", defaults, nil, ""},
		{"no policies", "", nil, []string{"quality", "ppd", "prod"}, "has no policies (policies/)"},
		{"prod only", ", tier: test", map[string][]byte{"prod.rego": []byte("package ferry.promotion\n\ndeny contains \"no\" if input.environment.name == \"prod\"\n")},
			[]string{"quality", "ppd"}, "add a rule for it in policies/"},
		{"rule for one app", ", tier: test", map[string][]byte{"cart.rego": []byte("package ferry.promotion\n\ndeny contains \"no\" if input.app.name == \"cart\"\n")},
			[]string{"quality(checkout)", "ppd(checkout)", "prod(checkout)"}, "no policy rule denies a candidate of checkout there"},
		// Found by H12: a team without SonarQube drops the Sonar rules from
		// ppd.rego; quality verifies nothing, so the analysis rule never
		// fires and ppd is open, although a failed analysis would be denied.
		{"staging rules on evidence never gathered", ", tier: test", withoutSonarRules(defaults),
			[]string{"ppd"}, "no policy rule denies any candidate there"},
		// The same ppd is gated once quality verifies: its verdict can fail.
		{"staging rules on a verifying source", ", tier: test, analysis: smoke", withoutSonarRules(defaults), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ungated(t, tc.extra, tc.files)
			if !slices.Equal(envsIn(got), tc.want) {
				t.Fatalf("ungated %q, want environments %v", got, tc.want)
			}
			if len(got) > 0 && !strings.Contains(got[0].Reason, tc.hint) {
				t.Errorf("%q does not say %q", got[0], tc.hint)
			}
		})
	}
}

// TestEnvironmentInput: input.environment carries the tier and whether the
// source gives verdicts, so the default ppd policy waits for a qa analysis
// only where qa has analysis: (issue 14: a team without Prometheus never
// reached ppd).
func TestEnvironmentInput(t *testing.T) {
	cfg, err := config.Parse("ferry.yaml", []byte(pipeline))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  string
		want map[string]any
	}{
		{"dev", map[string]any{"name": "dev", "tier": "development"}},
		{"qa", map[string]any{"name": "qa", "tier": "test", "from": "dev", "from_verifies": false}},
		{"prod", map[string]any{"name": "prod", "tier": "production", "from": "qa", "from_verifies": true}},
	} {
		env, _ := cfg.Env(tc.env)
		got := envInput(cfg, env)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %v, want %v", tc.env, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", tc.env, k, got[k], v)
			}
		}
	}
}

// withoutSonarRules is the default policies with ppd.rego's SonarQube rules
// deleted, as a team without SonarQube would.
func withoutSonarRules(files map[string][]byte) map[string][]byte {
	out := map[string][]byte{}
	for name, data := range files {
		out[name] = data
	}
	var kept []string
	for _, rule := range strings.Split(string(files["ppd.rego"]), "\n\n") {
		if !strings.Contains(rule, "sonar") {
			kept = append(kept, rule)
		}
	}
	out["ppd.rego"] = []byte(strings.Join(kept, "\n\n"))
	return out
}

// TestUngatedFirstProduction: a first environment is judged when its tier
// gates (a prod whose from: was forgotten), not otherwise (found by H12).
func TestUngatedFirstProduction(t *testing.T) {
	cfg, err := config.Parse("ferry.yaml", []byte(`apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: live, overlay: overlays/live, auto: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	repo := fleettest.Clone(t, fleettest.Remote(t, "ungated-first"), "ferry")
	snap, err := repo.Commit(nil, map[string][]byte{"overlays/dev/kustomization.yaml": []byte(kustomization("1.0.0")),
		"overlays/live/kustomization.yaml": []byte(kustomization("1.0.0"))}, "seed\n", time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	got, err := New(Options{Config: cfg, Log: repo}).Ungated(context.Background(), snap)
	if err != nil {
		t.Fatal(err)
	}
	if envs := envsIn(got); !slices.Equal(envs, []string{"live"}) {
		t.Fatalf("ungated %v, want live only", envs)
	}
}
