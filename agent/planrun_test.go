package agent

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestPlanIsWhatRunDoes (issue 18 item 13): `ferry plan` and a pass take
// the same decisions. With dr mirroring an environment that waits for a
// person (a pull request without a forge, or a manual one), the plan
// must not say dr will be promoted: the run leaves it alone. Each case
// plans, runs one pass, and compares step by step with what the pass
// did and what the fleet repo holds afterwards.
func TestPlanIsWhatRunDoes(t *testing.T) {
	const head = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
`
	for _, tc := range []struct {
		name  string
		prod  string // prod's line
		steps string // env=action of the plan, and of the pass
		moved string // the environments the pass committed to
	}{
		{"prod by pull request", `{name: prod, overlay: overlays/prod, from: qa, pullRequest: true}`,
			"dev=promote qa=promote prod=wait dr=none", "dev qa"},
		{"prod by hand", `{name: prod, overlay: overlays/prod, from: qa}`,
			"dev=promote qa=promote prod=wait dr=none", "dev qa"},
		{"prod automatic", `{name: prod, overlay: overlays/prod, from: qa, auto: true}`,
			"dev=promote qa=promote prod=promote dr=promote", "dev qa prod dr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, fleetSetup{pipeline: head + "  - " + tc.prod + "\n  - {name: dr, overlay: overlays/dr, mirror: prod}\n"})
			ctx := context.Background()
			f.push(t, "shop/checkout", "1.0.0")
			before := f.git(t, "rev-parse", "main")

			plan, err := f.agent.Plan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := stepActions(plan.Steps); got != tc.steps {
				t.Fatalf("plan: %s, want %s\n%s", got, tc.steps, stepReasons(plan.Steps))
			}
			if f.git(t, "rev-parse", "main") != before {
				t.Fatal("plan wrote to the fleet repo")
			}

			res, err := f.agent.Reconcile(ctx, Scope{All: true, Wait: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			if got := stepActions(res.Plan.Steps); got != tc.steps {
				t.Fatalf("the pass: %s; its plan said %s\n%s", got, tc.steps, stepReasons(res.Plan.Steps))
			}
			var moved []string
			for _, p := range res.Promotions {
				moved = append(moved, p.Env)
			}
			if strings.Join(moved, " ") != tc.moved {
				t.Fatalf("the pass promoted to %v, want %s", moved, tc.moved)
			}
			// The repository agrees: the environments not moved still run the placeholder.
			for _, env := range []string{"dev", "qa", "prod", "dr"} {
				k := f.git(t, "show", "main:overlays/"+env+"/kustomization.yaml")
				if got, want := strings.Contains(k, "newTag: 1.0.0"), slices.Contains(moved, env); got != want {
					t.Errorf("%s runs 1.0.0: %v, want %v", env, got, want)
				}
			}
		})
	}
}

func stepActions(steps []Step) string {
	var out []string
	for _, s := range steps {
		if s.App == "checkout" {
			out = append(out, s.Env+"="+string(s.Action))
		}
	}
	return strings.Join(out, " ")
}

func stepReasons(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.App + " " + s.Env + ": " + string(s.Action) + " (" + s.Reason + ")\n")
	}
	return b.String()
}
