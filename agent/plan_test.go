package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/webhook"
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
`

func testAgent(t *testing.T) *Agent {
	t.Helper()
	p, err := config.Parse("ferry.yaml", []byte(testPipeline))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: p, Fleet: nilFleet{}, Registry: registry.NewClient(registry.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// nilFleet is a fleet repo no test here reads.
type nilFleet struct{ Fleet }

var _ = context.Background

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

// TestPlanSaysSkippedTags: ferry plan lists, under the app, the tags of a
// real registry that look like versions but the tag policy refuses, with
// the reason (issue 14 item 7: "1.9.9_build" was ignored in silence), and
// leaves out tags the policy simply does not match.
func TestPlanSaysSkippedTags(t *testing.T) {
	f := newTestFleet(t)
	for _, tag := range []string{"1.0.0", "1.9.9_build", "2.0.0-rc.1", "0.9.0", "latest", "1.0.1_b", "1.0.2_b", "1.0.3_b", "1.0.4_b", "1.0.5_b"} {
		f.push(t, "shop/checkout", tag)
	}
	plan, err := f.agent.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Skipped) != 1 || plan.Skipped[0].App != "checkout" {
		t.Fatalf("skipped = %+v, want checkout's", plan.Skipped)
	}
	var got []string
	for _, s := range plan.Skipped[0].Tags {
		got = append(got, s.Tag)
	}
	// The five that look newest, and a count of the rest.
	if strings.Join(got, " ") != "2.0.0-rc.1 1.9.9_build 1.0.5_b 1.0.4_b 1.0.3_b" || plan.Skipped[0].More != 2 {
		t.Errorf("skipped tags = %v (+%d), want 2.0.0-rc.1 1.9.9_build 1.0.5_b 1.0.4_b 1.0.3_b (+2)", got, plan.Skipped[0].More)
	}
	if r := plan.Skipped[0].Tags[1].Reason; !strings.Contains(r, "not a semantic version") {
		t.Errorf("1.9.9_build's reason = %q", r)
	}
	for _, s := range plan.Steps {
		if s.Env == "dev" && s.Candidate.Tag != "1.0.0" {
			t.Errorf("dev candidate = %s, want 1.0.0", s.Candidate)
		}
	}
}
