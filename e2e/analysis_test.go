//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/analysis/prometheus/promtest"
	"github.com/ferry-dev/ferry/e2e/testsvc"
)

// analysisConfig: qa verifies each version with a metric analysis, ppd's
// gate needs qa's verdict, and prod delivers by canary in three weighted
// steps, each analysed against the real Prometheus.
const analysisConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, interval: 1s, author: {name: ferry, email: ferry@example.com}}
registry: {interval: 1s}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - name: qa
    overlay: overlays/qa
    from: dev
    auto: true
    analysis: smoke
    verify: {readiness: 'sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}"}[5s]))', timeout: 30s}
  - {name: ppd,  overlay: overlays/ppd,  from: qa, auto: true}
  - name: prod
    overlay: overlays/prod
    from: ppd
    auto: true
    canary: {steps: [25, 50, 100], analysis: canary}
    verify: {readiness: 'sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}"}[5s]))', timeout: 30s}
providers:
  prometheus: {address: PROMETHEUS}
analyses:
  smoke:
    interval: 1s
    count: 3
    consecutiveErrorLimit: 1
    metrics:
      - name: error-ratio
        query: 'sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}",code="500"}[5s])) / sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}"}[5s]))'
        successCondition: result < 0.02
  canary:
    interval: 1s
    count: 2
    metrics:
      - name: canary-error-ratio
        query: 'sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Canary}}",code="500"}[5s])) / sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Canary}}"}[5s]))'
        successCondition: result < 0.02
`

// The ppd gate: qa's analysis must have passed.
const analysisPolicy = `package ferry.promotion

deny contains msg if {
	input.environment.name == "ppd"
	not input.evidence.analysis.qa.verdict
	msg := "no qa analysis yet"
}

deny contains msg if {
	input.environment.name == "ppd"
	input.evidence.analysis.qa.verdict != "Successful"
	msg := sprintf("the qa analysis was %s", [input.evidence.analysis.qa.verdict])
}
`

// prod holds a canary Deployment and an HTTPRoute beside the stable one.
var canaryProd = map[string]string{
	"overlays/prod/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-prod
resources:
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
- name: registry.example/shop/cart
  newName: REGISTRY/shop/cart
  newTag: 0.0.0
`,
	"overlays/prod/checkout-canary.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout-canary
spec:
  selector:
    matchLabels: {app: checkout, track: canary}
  template:
    metadata:
      labels: {app: checkout, track: canary}
    spec:
      containers:
      - name: checkout
        image: registry.example/shop/checkout-canary:0.0.0
---
apiVersion: v1
kind: Service
metadata:
  name: checkout-canary
spec:
  selector: {app: checkout, track: canary}
  ports:
  - {name: http, port: 80, targetPort: http}
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
	"policies/ppd.rego": analysisPolicy,
}

// TestAnalysisAndCanary runs the whole analysis story against a real
// Prometheus scraping the test service every second: a healthy version is
// verified in qa, passes ppd's gate on that verdict and walks every canary
// step into prod; a version with 5% errors in its canary is aborted and
// rejected within two intervals; with Prometheus stopped mid-analysis the
// verdict is inconclusive and nothing is promoted past qa.
func TestAnalysisAndCanary(t *testing.T) {
	reg := startRegistry(t, "", "")
	svc, err := testsvc.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	prom := promtest.StartConfig(t, promtest.Config{Targets: []string{svc.Addr()}})
	cfg := strings.ReplaceAll(analysisConfig, "PROMETHEUS", prom.URL())
	fleet := startFleetWith(t, reg.host, cfg, canaryProd)
	// The test plays the cluster: every version ferry deploys serves traffic.
	for _, env := range []string{"qa", "prod"} {
		for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
			ratio := 0.0
			if env == "prod" && v == "1.1.0" {
				ratio = 0.05
			}
			svc.Set("checkout", env, v, ratio)
		}
	}
	reg.push(t, "shop/checkout", "1.0.0")
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startFerry(t, nil, "run", "--config", fleet.url, "--work-dir", t.TempDir(), "--listen", listen)
	log := func() string { return fleet.git(t, "log", "--format=%s", "main") }
	inEnv := func(env, v string) bool {
		return strings.Contains(fleet.show(t, "overlays/"+env+"/kustomization.yaml"), "newTag: "+v)
	}

	// 1.0.0: verified in qa, gated into ppd, then four canary commits and the promotion.
	waitFor(t, 90*time.Second, "checkout 1.0.0 promoted into prod after its canary", func() bool {
		return strings.Contains(log(), "promote checkout 1.0.0 to prod")
	})
	subjects := log()
	for _, want := range []string{
		"canary checkout 1.0.0 in prod: step 0/3, deploy the canary",
		"canary checkout 1.0.0 in prod: step 1/3, send 25% of traffic to the canary",
		"canary checkout 1.0.0 in prod: step 2/3, send 50% of traffic to the canary",
		"canary checkout 1.0.0 in prod: step 3/3, send 100% of traffic to the canary",
		"promote checkout 1.0.0 to ppd",
	} {
		if !strings.Contains(subjects, want) {
			t.Errorf("history lacks %q:\n%s", want, subjects)
		}
	}
	route := fleet.show(t, "overlays/prod/checkout-route.yaml")
	if !regexp.MustCompile(`name: checkout\n\s+port: 80\n\s+weight: 100`).MatchString(route) || !strings.Contains(route, "weight: 0") {
		t.Errorf("after the canary the route must send everything to stable:\n%s", route)
	}
	// The verdicts are git notes on the analysed commits.
	qaCommit := strings.TrimSpace(fleet.git(t, "log", "-1", "--format=%H", "--grep=^promote checkout 1.0.0 to qa", "main"))
	note := fleet.git(t, "notes", "--ref", "ferry", "show", qaCommit)
	for _, want := range []string{"Ferry-Verdict: Successful", "Ferry-Analysis: smoke", "error-ratio"} {
		if !strings.Contains(note, want) {
			t.Errorf("the qa verdict note lacks %q:\n%s", want, note)
		}
	}
	ppd := fleet.git(t, "log", "-1", "--format=%B", "--grep=^promote checkout 1.0.0 to ppd", "main")
	if !strings.Contains(ppd, "Ferry-Evidence: analysis smoke in qa: Successful") {
		t.Errorf("the ppd promotion does not record the qa verdict it was gated on:\n%s", ppd)
	}

	// ferry status shows the verdicts from Git and the live measurements of the running agent.
	out, code := runFerry(t, "status", "--config", fleet.url, "--work-dir", t.TempDir(), "--agent", "http://"+listen)
	if code != 0 || !regexp.MustCompile(`checkout\s+qa\s+1\.0\.0\S*\s+-\s+smoke: Successful`).MatchString(out) {
		t.Errorf("ferry status (exit %d):\n%s", code, out)
	}
	out, _ = runFerry(t, "status", "--config", fleet.url, "--work-dir", t.TempDir(), "--agent", "http://"+listen, "-o", "json")
	if !strings.Contains(out, `"measurements"`) || !strings.Contains(out, `"metric": "error-ratio"`) {
		t.Errorf("ferry status -o json --agent lacks the live measurements:\n%s", out)
	}

	// 1.1.0: its canary serves 5% errors and is aborted at the first weighted step.
	reg.push(t, "shop/checkout", "1.1.0")
	waitFor(t, 90*time.Second, "the canary of 1.1.0 aborted", func() bool {
		return strings.Contains(log(), "abort canary of checkout 1.1.0 in prod")
	})
	abort := fleet.git(t, "log", "-1", "--format=%B", "--grep=^abort canary of checkout 1.1.0", "main")
	for _, want := range []string{"Ferry-Rejects: 1.1.0", "Ferry-Weight: 0", "Ferry-Step: 1/3", "analysis canary failed"} {
		if !strings.Contains(abort, want) {
			t.Errorf("the abort commit lacks %q:\n%s", want, abort)
		}
	}
	measured := regexp.MustCompile(`msg=measurement .*version=1\.1\.0 step=1/3 analysis=canary`).FindAllString(p.out.String(), -1)
	t.Logf("5%% errors at step 1/3 failed after %d measurement(s) at 1 s intervals", len(measured))
	if len(measured) == 0 || len(measured) > 2 {
		t.Errorf("the failing canary took %d measurements; want it aborted within two intervals", len(measured))
	}
	if inEnv("prod", "1.1.0") || !strings.Contains(fleet.show(t, ".ferry/rejected.yaml"), "1.1.0") {
		t.Errorf("1.1.0 must not reach prod's stable entry and must be rejected")
	}

	// 1.2.0: Prometheus goes away while qa analyses it.
	reg.push(t, "shop/checkout", "1.2.0")
	waitFor(t, 60*time.Second, "the qa analysis of 1.2.0 measuring", func() bool {
		return regexp.MustCompile(`msg=measurement .*env=qa version=1\.2\.0`).MatchString(p.out.String())
	})
	prom.Stop()
	waitFor(t, 60*time.Second, "an inconclusive verdict for 1.2.0 in qa", func() bool {
		return strings.Contains(p.out.String(), "analysis inconclusive") && strings.Contains(p.out.String(), "version=1.2.0")
	})
	time.Sleep(3 * time.Second) // several passes
	if inEnv("ppd", "1.2.0") {
		t.Fatalf("1.2.0 reached ppd on an inconclusive analysis:\n%s", log())
	}
	qa12 := strings.TrimSpace(fleet.git(t, "log", "-1", "--format=%H", "--grep=^promote checkout 1.2.0 to qa", "main"))
	if note := fleet.git(t, "notes", "--ref", "ferry", "show", qa12); !strings.Contains(note, "Ferry-Verdict: Inconclusive") {
		t.Errorf("the qa note of 1.2.0 should say inconclusive:\n%s", note)
	}
}

// TestRunOnceVerifies: `ferry run --once` (a CI job) ends with the analyses
// its pass owed decided and recorded, printing each measurement as it goes.
func TestRunOnceVerifies(t *testing.T) {
	reg := startRegistry(t, "", "")
	svc, err := testsvc.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	svc.Set("checkout", "qa", "2.0.0", 0)
	prom := promtest.StartConfig(t, promtest.Config{Targets: []string{svc.Addr()}})
	cfg := strings.ReplaceAll(analysisConfig, "PROMETHEUS", prom.URL())
	fleet := startFleetWith(t, reg.host, cfg, canaryProd)
	reg.push(t, "shop/checkout", "2.0.0")
	out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("run --once exited %d:\n%s", code, out)
	}
	for _, want := range []string{"analysing checkout 2.0.0 in qa (smoke)", "checkout 2.0.0 in qa: error-ratio = 0 (Successful)", "checkout 2.0.0 in qa: Successful"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	qa := strings.TrimSpace(fleet.git(t, "log", "-1", "--format=%H", "--grep=^promote checkout 2.0.0 to qa", "main"))
	if note := fleet.git(t, "notes", "--ref", "ferry", "show", qa); !strings.Contains(note, "Ferry-Verdict: Successful") {
		t.Errorf("no verdict note after run --once:\n%s", note)
	}
}
