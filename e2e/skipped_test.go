//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPlanSkippedTags: against the real distribution registry, `ferry
// plan` says which tags that look like versions the app's tag policy
// refuses, and why, in text and in -o json (issue 14 item 7: a
// "1.9.9_build" was ignored in silence); tags the policy does not match
// at all ("latest", "0.9.0" below the range) are not listed.
func TestPlanSkippedTags(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startFleet(t, reg.host, boundedConfig)
	for _, tag := range []string{"1.0.0", "1.9.9_build", "2.0.0-rc.1", "0.9.0", "latest"} {
		reg.push(t, "shop/checkout", tag)
	}
	reg.push(t, "shop/cart", "main-1")

	text, code := runFerry(t, "plan", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry plan exited %d:\n%s", code, text)
	}
	for _, want := range []string{
		"checkout: tags skipped by its tag policy\n",
		"  skipped: 2.0.0-rc.1: a pre-release, and the range \">=1.0.0\" names none",
		"  skipped: 1.9.9_build: not a semantic version; a tag cannot hold semver's \"+\"",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("ferry plan lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{"skipped: latest", "skipped: 0.9.0", "cart: tags skipped"} {
		if strings.Contains(text, not) {
			t.Errorf("ferry plan lists %q, which the policy simply does not match:\n%s", not, text)
		}
	}

	out, errOut, code := runFerryIn(t, "", "plan", "-o", "json", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry plan -o json exited %d:\n%s%s", code, out, errOut)
	}
	var plan struct {
		Skipped []struct {
			App  string `json:"app"`
			Tags []struct {
				Tag    string `json:"tag"`
				Reason string `json:"reason"`
			} `json:"tags"`
			More int `json:"more"`
		} `json:"skipped"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("ferry plan -o json: %v\n%s", err, out)
	}
	if len(plan.Skipped) != 1 || plan.Skipped[0].App != "checkout" || len(plan.Skipped[0].Tags) != 2 ||
		plan.Skipped[0].Tags[1].Tag != "1.9.9_build" || !strings.Contains(plan.Skipped[0].Tags[1].Reason, "not a semantic version") {
		t.Errorf("ferry plan -o json skipped = %+v", plan.Skipped)
	}
}
