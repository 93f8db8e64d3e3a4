//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/analysis/prometheus/promtest"
	"github.com/ferry-dev/ferry/e2e/faultproxy"
	"github.com/ferry-dev/ferry/e2e/testsvc"
)

// follow plays Flux for qa: the test service serves, for each app, the
// version qa's overlay names, lag after the commit that named it; a
// version a newer commit replaced before its lag ran out is never served.
func follow(t *testing.T, f *fleetRepo, svc *testsvc.Service, env string, lag time.Duration, errorRatio func(version string) float64) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		serving, want := "", ""
		var since time.Time
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			out, err := f.tryShow("overlays/" + env + "/kustomization.yaml")
			if err != nil {
				continue
			}
			m := regexp.MustCompile(`name: registry.example/shop/checkout\n(?:\s+newName: \S+\n)?\s+newTag: (\S+)`).FindStringSubmatch(out)
			if m == nil {
				continue
			}
			if m[1] != want {
				want, since = m[1], time.Now()
			}
			if want != serving && time.Since(since) >= lag {
				if serving != "" {
					svc.Remove("checkout", env, serving)
				}
				serving = want
				svc.Set("checkout", env, serving, errorRatio(serving))
			}
		}
	}()
}

// trustConfig: qa verifies each version (readiness, then an analysis), and
// nothing moves past qa before its verdict. No policy says so: the hold is
// ferry's own.
const trustConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, interval: 1s, author: {name: ferry, email: ferry@example.com}}
registry: {interval: 1s}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
  - name: qa
    overlay: overlays/qa
    from: dev
    auto: true
    analysis: smoke
    verify: {readiness: 'sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}"}[2s]))', timeout: 20s}
  - {name: ppd, overlay: overlays/ppd, from: qa, auto: true}
providers:
  prometheus: {address: PROMETHEUS}
analyses:
  smoke:
    interval: 1s
    count: 2
    metrics:
      - name: error-ratio
        query: 'sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}",code="500"}[5s])) / sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}"}[5s]))'
        successCondition: result < 0.02
`

// TestStaleVerdictChangesNothing is issue 17's story against a real
// Prometheus and a workload that follows the fleet repo: qa runs 1.1.0
// (bad), its analysis fails and qa is rolled back to 1.0.0, whose
// verification starts; 1.2.0 (good) reaches qa before the rolled-back
// version is ever served, so 1.0.0's verification fails ("never served").
// That verdict judged 1.0.0 and the rollback commit: it is recorded and
// changes nothing else. 1.2.0 stays, is verified, moves on to ppd, and
// only 1.1.0 is rejected.
func TestStaleVerdictChangesNothing(t *testing.T) {
	reg := startRegistry(t, "", "")
	svc, err := testsvc.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	prom := promtest.StartConfig(t, promtest.Config{Targets: []string{svc.Addr()}})
	fleet := startFleetWith(t, reg.host, strings.ReplaceAll(trustConfig, "PROMETHEUS", prom.URL()), nil)
	follow(t, fleet, svc, "qa", 3*time.Second, func(v string) float64 {
		if v == "1.1.0" {
			return 0.5
		}
		return 0
	})
	reg.push(t, "shop/checkout", "1.0.0")
	p := startFerry(t, nil, "run", "--config", fleet.url, "--work-dir", t.TempDir())
	log := func() string { return fleet.git(t, "log", "--format=%s", "main") }
	waitFor(t, 60*time.Second, "1.0.0 verified in qa and promoted to ppd", func() bool {
		return strings.Contains(log(), "promote checkout 1.0.0 to ppd")
	})
	reg.push(t, "shop/checkout", "1.1.0")
	waitFor(t, 60*time.Second, "qa rolled back from 1.1.0", func() bool { return strings.Contains(log(), "rollback checkout in qa to 1.0.0") })
	// 1.2.0 right away: it reaches qa before the workload ever serves 1.0.0 again.
	reg.push(t, "shop/checkout", "1.2.0")
	waitFor(t, 90*time.Second, "1.0.0's verification judged stale", func() bool {
		return strings.Contains(p.out.String(), "changes nothing else")
	})
	waitFor(t, 60*time.Second, "1.2.0 verified in qa and promoted to ppd", func() bool {
		return strings.Contains(log(), "promote checkout 1.2.0 to ppd")
	})
	subjects := log()
	if strings.Count(subjects, "rollback checkout in qa") != 1 {
		t.Errorf("want exactly one rollback (of 1.1.0):\n%s", subjects)
	}
	rb := fleet.git(t, "log", "-1", "--format=%H", "--grep=^rollback checkout in qa", "main")
	note := fleet.git(t, "notes", "--ref", "ferry", "show", strings.TrimSpace(rb))
	if !strings.Contains(note, "Ferry-Version: 1.0.0") || !strings.Contains(note, "Ferry-Verdict: Failed") {
		t.Errorf("the verdict on 1.0.0 is not recorded on the rollback commit it judged:\n%s", note)
	}
	rejected := fleet.show(t, ".ferry/rejected.yaml")
	if !strings.Contains(rejected, "version: 1.1.0") || strings.Contains(rejected, "1.0.0") || strings.Contains(rejected, "1.2.0") {
		t.Errorf("only 1.1.0 may be rejected:\n%s", rejected)
	}
	if qa := fleet.show(t, "overlays/qa/kustomization.yaml"); !strings.Contains(qa, "newTag: 1.2.0") {
		t.Errorf("qa no longer runs 1.2.0:\n%s", qa)
	}
	t.Logf("stale verdict: %s", regexp.MustCompile(`reason="the failed verdict[^"]*"`).FindString(p.out.String()))
}

// canaryNotifyConfig: passes come every minute; everything faster than that
// is driven by events (a registry notification, a verdict, a push).
const canaryNotifyConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, interval: 1m, author: {name: ferry, email: ferry@example.com}}
registry: {interval: 1m}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - name: prod
    overlay: overlays/prod
    from: ppd
    auto: true
    canary: {steps: [25, 50, 100], analysis: canary}
providers:
  prometheus: {address: PROMETHEUS}
analyses:
  canary:
    interval: 1s
    count: 1
    metrics:
      - name: canary-error-ratio
        query: 'sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Canary}}",code="500"}[5s])) / sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Canary}}"}[5s]))'
        successCondition: result < 0.02
`

// TestCanaryStepAnalysisStartsAtPush: each canary step's analysis starts
// when the step is pushed, not at the next pass (passes come every minute
// here): the time from a step's push to its analysis start is logged.
func TestCanaryStepAnalysisStartsAtPush(t *testing.T) {
	const token = "step-token"
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	reg := startRegistry(t, "http://"+listen+"/hooks/registry", token)
	svc, err := testsvc.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	svc.Set("checkout", "prod", "1.0.0", 0)
	prom := promtest.StartConfig(t, promtest.Config{Targets: []string{svc.Addr()}})
	files := map[string]string{}
	for k, v := range canaryProd {
		if !strings.HasPrefix(k, "policies/") {
			files[k] = v
		}
	}
	fleet := startFleetWith(t, reg.host, strings.ReplaceAll(canaryNotifyConfig, "PROMETHEUS", prom.URL()), files)
	p := startFerry(t, []string{"FERRY_WEBHOOK_TOKEN=" + token}, "run", "--config", fleet.url, "--work-dir", t.TempDir(), "--listen", listen)
	waitFor(t, 30*time.Second, "ferry listening", func() bool {
		resp, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	reg.push(t, "shop/checkout", "1.0.0") // the registry notifies ferry
	waitFor(t, 60*time.Second, "the delivery of 1.0.0 completed", func() bool {
		return strings.Contains(fleet.git(t, "log", "--format=%s", "main"), "promote checkout 1.0.0 to prod")
	})
	out := p.out.String()
	pushed := map[string]time.Time{}
	for _, m := range regexp.MustCompile(`time=(\S+) level=INFO msg=canary app=checkout env=prod version=1\.0\.0 move="step (\d+/\d+):`).FindAllStringSubmatch(out, -1) {
		pushed[m[2]] = parseLogTime(t, m[1])
	}
	var gaps []time.Duration
	for _, m := range regexp.MustCompile(`time=(\S+) level=INFO msg="analysis started" app=checkout env=prod version=1\.0\.0 step=(\d+/\d+) analysis=canary`).FindAllStringSubmatch(out, -1) {
		if at, ok := pushed[m[2]]; ok {
			gaps = append(gaps, parseLogTime(t, m[1]).Sub(at))
		}
	}
	if len(gaps) != 3 {
		t.Fatalf("want the push and the analysis start of 3 weighted steps in the log, got %d:\n%s", len(gaps), out)
	}
	slices.Sort(gaps)
	t.Logf("canary step pushed -> its analysis started: %v (passes every 60 s)", gaps)
	if gaps[len(gaps)-1] > 5*time.Second {
		t.Errorf("a step's analysis started %s after its push: it waited for a pass", gaps[len(gaps)-1])
	}
}

func parseLogTime(t *testing.T, s string) time.Time {
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// isolationConfig: cart's registry is behind a fault proxy that black-holes
// every connection; checkout's is healthy.
const isolationConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, interval: 1s, author: {name: ferry, email: ferry@example.com}}
registry: {interval: 1s}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: HOLE/shop/cart, tags: {regex: '^main-(?P<version>[0-9]+)$', order: numerical}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// TestHungRegistryHoldsOnlyItsApps (issue 18, item 2): with cart's
// registry accepting connections and never answering, checkout is still
// promoted through every environment, /readyz and the dashboard answer,
// and each alert is rolled back without waiting for the hung registry.
func TestHungRegistryHoldsOnlyItsApps(t *testing.T) {
	const token = "iso-token"
	reg := startRegistry(t, "", "")
	hole, err := faultproxy.Start(reg.host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hole.Close() })
	hole.Set(faultproxy.Fault{Mode: faultproxy.BlackHole})
	extra := map[string]string{}
	for name, data := range exampleFiles(t, reg.host) {
		if strings.HasPrefix(name, "overlays/") {
			extra[name] = strings.ReplaceAll(string(data), reg.host+"/shop/cart", hole.Addr()+"/shop/cart")
		}
	}
	fleet := startFleetWith(t, reg.host, strings.ReplaceAll(isolationConfig, "HOLE", hole.Addr()), extra)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	start := time.Now()
	reg.push(t, "shop/checkout", "1.0.0")
	p := startFerry(t, []string{"FERRY_WEBHOOK_TOKEN=" + token}, "run", "--config", fleet.url, "--work-dir", t.TempDir(), "--listen", listen)
	get := func(path string) int {
		c := &http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://" + listen + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, 30*time.Second, "/readyz 200 while cart's registry hangs", func() bool { return get("/readyz") == http.StatusOK })
	ready := time.Since(start)
	waitFor(t, 60*time.Second, "checkout 1.0.0 in dr", func() bool {
		return strings.Contains(fleet.show(t, "overlays/dr/kustomization.yaml"), "newTag: 1.0.0")
	})
	healthy := time.Since(start)
	if code := get("/"); code != http.StatusOK {
		t.Errorf("the dashboard answered %d while a registry hangs", code)
	}
	t.Logf("cart's registry black-holed: /readyz after %s, checkout 1.0.0 in dr after %s", ready.Round(time.Millisecond), healthy.Round(time.Millisecond))

	// Alerts while the registry hangs and passes run every second.
	var lat []time.Duration
	var mu sync.Mutex
	for i := 1; i <= 5; i++ {
		v := fmt.Sprintf("1.%d.0", i)
		reg.push(t, "shop/checkout", v)
		waitFor(t, 60*time.Second, v+" in prod", func() bool {
			return strings.Contains(fleet.show(t, "overlays/prod/kustomization.yaml"), "newTag: "+v)
		})
		before := strings.TrimSpace(fleet.git(t, "rev-parse", "main"))
		body := fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","status":"firing","receiver":"ferry",
"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093",
"alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","app":"checkout","env":"prod"},"annotations":{},
"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"iso%d"}]}`, time.Now().UTC().Format(time.RFC3339), i)
		req, _ := http.NewRequest(http.MethodPost, "http://"+listen+"/hooks/alertmanager", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		sent := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		waitFor(t, 30*time.Second, "the rollback of "+v, func() bool {
			return strings.TrimSpace(fleet.git(t, "rev-parse", "main")) != before &&
				strings.Contains(fleet.git(t, "log", "-1", "--format=%s", "main"), "rollback checkout in prod")
		})
		mu.Lock()
		lat = append(lat, time.Since(sent))
		mu.Unlock()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("alert -> rollback pushed while cart's registry is black-holed: p50 %s (all: %v)", lat[len(lat)/2].Round(time.Millisecond), lat)
	if strings.Contains(p.out.String(), "promote cart") {
		t.Errorf("cart moved although its registry never answered")
	}
}
