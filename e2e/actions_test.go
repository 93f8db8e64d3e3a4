//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/policies"
)

// actionsConfig: prod needs one approval, takes versions by a canary whose
// analysis asks a Prometheus that is down (so a delivery stays in
// progress, held), and is gated by the default policies; dr mirrors it.
const actionsConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, author: {name: ferry, email: ferry@example.com}}
providers:
  prometheus: {address: "http://DEAD", timeout: 2s}
analyses:
  canary:
    count: 1
    consecutiveErrorLimit: 0
    metrics:
      - {name: errors, query: 'sum(rate(errors_total{version="{{.Canary}}"}[1m]))', successCondition: result == 0}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, approval: {required: 1}, canary: {steps: [50], analysis: canary}}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// prodCanary is prod's overlay with a canary Deployment and its route.
var prodCanary = map[string]string{
	"overlays/prod/kustomization.yaml": `resources:
- ../../base
- checkout-canary.yaml
- checkout-route.yaml
images:
- name: registry.example/shop/checkout
  newName: REGISTRY/shop/checkout
  newTag: 0.0.0
- name: registry.example/shop/checkout-canary
  newName: REGISTRY/shop/checkout
  newTag: 0.0.0
`,
	"overlays/prod/checkout-canary.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout-canary
spec:
  template:
    spec:
      containers:
      - name: checkout
        image: registry.example/shop/checkout-canary:0.0.0
`,
	"overlays/prod/checkout-route.yaml": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: checkout
spec:
  parentRefs:
  - name: shop
  rules:
  - backendRefs:
    - name: checkout
      port: 80
      weight: 100
    - name: checkout-canary
      port: 80
      weight: 0
`,
}

// relaxForManual is the default prod.rego with every production rule
// of evidence skipped for a person's manual promotion (a hotfix), as the
// README shows; the approval rules (keyed on input.environment.approval)
// stay.
func relaxForManual(prod string) string {
	const tier = "\tinput.environment.tier == \"production\"\n"
	return strings.ReplaceAll(prod, tier, tier+"\tnot manual\n") +
		"\n# A person's manual promotion (ferry promote, a hotfix) skips the chain's evidence.\nmanual if input.request.kind == \"manual\"\n"
}

// TestActions runs the action commands as a person does, against the fleet
// repo over smart HTTP and a real registry: a rollback --to, a vote, a
// manual promotion denied by the default prod policy and then allowed by
// one relaxed for input.request.kind "manual", blocked by a rejection
// until it is withdrawn, and the abort of the canary it started.
func TestActions(t *testing.T) {
	reg := startRegistry(t, "", "")
	extra := map[string]string{}
	for p, data := range policies.DefaultFiles() {
		extra["policies/"+p] = string(data)
	}
	for p, data := range prodCanary {
		extra[p] = data
	}
	fleet := startFleetWith(t, reg.host, strings.ReplaceAll(actionsConfig, "DEAD", fmt.Sprintf("127.0.0.1:%d", freePort(t))), extra)
	work := t.TempDir()
	ferry := func(args ...string) (string, int) {
		t.Helper()
		return runFerry(t, append(args, "--config", fleet.url, "--work-dir", work, "--log-level", "error")...)
	}
	head := func() string { return strings.TrimSpace(fleet.git(t, "rev-parse", "main")) }
	last := func() string { return fleet.git(t, "log", "-1", "--format=%B", "main") }
	wantIn := func(what, text string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, text)
			}
		}
	}

	for _, tag := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		reg.push(t, "shop/checkout", tag)
		runOnce(t, fleet)
	}
	if k := fleet.show(t, "overlays/dev/kustomization.yaml"); !strings.Contains(k, "newTag: 1.2.0") {
		t.Fatalf("dev does not run 1.2.0:\n%s", k)
	}

	// rollback --to: dev goes back past 1.1.0, and 1.2.0 is rejected.
	out, code := ferry("rollback", "checkout", "--env", "dev", "--to", "1.0.0", "--reason", "1.1.0 and 1.2.0 share the bug", "--as", "alice")
	if code != 0 || !strings.Contains(out, "pushed "+head()[:12]) {
		t.Fatalf("rollback --to: exit %d\n%s", code, out)
	}
	wantIn("the rollback commit", last(), "rollback checkout in dev to 1.0.0\n", "Ferry-Rejects: 1.2.0",
		"Ferry-Reason: 1.1.0 and 1.2.0 share the bug", "Ferry-Requested-By: alice (cli)")
	wantIn("the rejections", fleet.show(t, gitstate.RejectionsFile), "1.2.0", "by: alice")

	// A hotfix: carol approves it for prod, a record commit.
	reg.push(t, "shop/checkout", "1.0.1")
	out, code = ferry("approve", "checkout", "1.0.1", "--env", "prod", "--reason", "hotfix reviewed", "--as", "carol")
	if code != 0 {
		t.Fatalf("approve: exit %d\n%s", code, out)
	}
	wantIn("the approval commit", last(), "approve checkout 1.0.1 for prod\n", "Ferry-Approver: carol (cli)", "Ferry-Reason: hotfix reviewed")
	wantIn("the approvals file", fleet.show(t, gitstate.ApprovalsFile), "by: carol", "via: cli", "decision: approve")

	// The default prod policy denies what the chain has not proven.
	before := head()
	out, code = ferry("promote", "checkout", "1.0.1", "--env", "prod", "--reason", "payment timeout hotfix", "--as", "alice")
	if code != 1 {
		t.Fatalf("promote under the default policies: exit %d, want 1\n%s", code, out)
	}
	wantIn("the denial", out, "the policies deny the manual promotion of checkout 1.0.1 to prod; nothing written:", "no Trivy report for 1.0.1",
		`input.request.kind == "manual"`)
	if got := head(); got != before {
		t.Fatalf("a denied promotion wrote %s", got)
	}

	// The fleet relaxes prod for manual promotions.
	fleet.humanCommit(t, "policies: hotfixes skip prod's evidence", func(dir string) {
		p := filepath.Join(dir, "policies/prod.rego")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(relaxForManual(string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	})

	// A rejection blocks it, until its author approves instead.
	if out, code := ferry("reject", "checkout", "1.0.1", "--env", "prod", "--reason", "legal sign-off missing", "--as", "dave"); code != 0 {
		t.Fatalf("reject: exit %d\n%s", code, out)
	}
	wantIn("the rejection commit", last(), "reject checkout 1.0.1 for prod\n", "Ferry-Approver: dave (cli)")
	before = head()
	out, code = ferry("promote", "checkout", "1.0.1", "--env", "prod", "--reason", "payment timeout hotfix", "--as", "alice")
	if code != 1 || head() != before {
		t.Fatalf("promote against a rejection: exit %d, head %s -> %s\n%s", code, before, head(), out)
	}
	wantIn("the denial", out, "dave rejected checkout 1.0.1 for prod")
	if strings.Contains(out, "Trivy") {
		t.Errorf("the relaxed policy still asks for the evidence:\n%s", out)
	}
	if out, code := ferry("approve", "checkout", "1.0.1", "--env", "prod", "--reason", "legal signed", "--as", "dave"); code != 0 {
		t.Fatalf("approve after reject: exit %d\n%s", code, out)
	}

	// Allowed: step 0 of prod's canary, naming alice.
	out, code = ferry("promote", "checkout", "1.0.1", "--env", "prod", "--reason", "payment timeout hotfix", "--as", "alice")
	if code != 0 || !strings.Contains(out, "pushed "+head()[:12]) {
		t.Fatalf("manual promotion: exit %d\n%s", code, out)
	}
	wantIn("the manual promotion", last(), "canary checkout 1.0.1 in prod: step 0/", "Ferry-From: manual", "Ferry-Decision: allow",
		"Ferry-Requested-By: alice (cli)", "Ferry-Approved-By: carol (cli", "Ferry-Approved-By: dave (cli")
	if k := fleet.show(t, "overlays/dev/kustomization.yaml"); !strings.Contains(k, "newTag: 1.0.0") {
		t.Errorf("dev changed with prod's hotfix:\n%s", k)
	}

	// The next pass moves the delivery on; its analysis cannot run (no
	// Prometheus), so it holds in progress.
	runOnce(t, fleet)
	if s := fleet.git(t, "log", "-1", "--format=%s", "main"); !strings.HasPrefix(s, "canary checkout 1.0.1 in prod: step ") {
		t.Fatalf("the delivery is not in progress: %q", s)
	}

	out, code = ferry("abort", "checkout", "--env", "prod", "--reason", "p99 latency doubled", "--as", "alice")
	if code != 0 {
		t.Fatalf("abort: exit %d\n%s", code, out)
	}
	wantIn("the abort commit", last(), "abort canary of checkout 1.0.1 in prod\n", "Ferry-Weight: 0", "Ferry-Reason: p99 latency doubled",
		"Ferry-Rejects: 1.0.1", "Ferry-Requested-By: alice (cli)")
	if k := fleet.show(t, "overlays/prod/kustomization.yaml"); strings.Contains(k, "1.0.1") {
		t.Errorf("the aborted canary left a trace in prod:\n%s", k)
	}
	before = head()
	out, code = ferry("abort", "checkout", "--env", "prod", "--reason", "again", "--as", "alice")
	if code != 1 || !strings.Contains(out, "no delivery of checkout is in progress in prod: nothing to abort") || head() != before {
		t.Errorf("a second abort: exit %d\n%s", code, out)
	}
}
