//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/analysis/prometheus/promtest"
	"github.com/ferry-dev/ferry/e2e/faultproxy"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// faultPath is client -> TCP fault proxy -> HTTP fault proxy -> server, so
// a case can break the connection or the HTTP answer.
type faultPath struct {
	tcp  *faultproxy.Proxy
	http *faultproxy.HTTPProxy
}

func startFaultPath(t testing.TB, target string) *faultPath {
	t.Helper()
	h, err := faultproxy.StartHTTP(target)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.Start(h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); h.Close() })
	return &faultPath{tcp: p, http: h}
}

func (f *faultPath) addr() string { return f.tcp.Addr() }

func (f *faultPath) set(c faultCase) {
	f.tcp.Set(c.tcp)
	f.http.Set(c.http)
}

func (f *faultPath) clear() {
	f.tcp.Clear()
	f.http.Clear()
}

type faultCase struct {
	name string
	tcp  faultproxy.Fault
	http faultproxy.HTTPFault
	// slows says the fault only slows calls down: promotions may go on.
	slows bool
	// reaches says requests reach the server and only the answer is lost.
	reaches bool
}

var faultCases = []faultCase{
	{name: "delay 300ms/chunk", tcp: faultproxy.Fault{Mode: faultproxy.Delay, Delay: 300 * time.Millisecond}, slows: true},
	{name: "drop", tcp: faultproxy.Fault{Mode: faultproxy.Drop}},
	{name: "reset", tcp: faultproxy.Fault{Mode: faultproxy.Reset}},
	{name: "truncate at 200 B", tcp: faultproxy.Fault{Mode: faultproxy.Truncate, Bytes: 200}},
	{name: "black hole", tcp: faultproxy.Fault{Mode: faultproxy.BlackHole}},
	{name: "HTTP 429 Retry-After 1", http: faultproxy.HTTPFault{Status: 429, RetryAfter: 1}},
	{name: "HTTP 500", http: faultproxy.HTTPFault{Status: 500}},
	{name: "HTTP 503", http: faultproxy.HTTPFault{Status: 503}},
	{name: "slow body 16 B/100ms", http: faultproxy.HTTPFault{SlowBody: 100 * time.Millisecond, SlowChunk: 16}, slows: true},
}

// faultConfig reaches git, the registry (through the images' host) and
// Prometheus through fault paths; qa's gate needs a Prometheus result.
const faultConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, interval: 1s, timeout: 3s, author: {name: ferry, email: ferry@example.com}}
registry: {interval: 1s}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true, metrics: [{name: health, query: 'vector(1)'}]}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
providers:
  prometheus: {address: PROMETHEUS, timeout: 2s}
rollback: {match: {severity: critical}}
`

// faultPolicy fails closed: no Prometheus answer, no qa.
const faultPolicy = `package ferry.promotion

deny contains "no health metric from Prometheus" if {
	input.environment.name == "qa"
	not input.evidence.metrics.health == 1
}
`

// faultWindow is how long a fault stays on: two passes at 1 s.
const faultWindow = 2 * time.Second

// TestFaults puts each fault between ferry and git, the registry and
// Prometheus in turn, pushes a new version while it is on, then clears it:
// no wrong promotion while it is on (none into qa without a Prometheus
// answer), the version reaches dr after it clears, and the history has no
// duplicate, no downgrade and no overlay that does not build.
func TestFaults(t *testing.T) {
	reg := startRegistry(t, "", "")
	prom := promtest.Start(t, nil, "")
	regPath := startFaultPath(t, "http://"+reg.host)
	promPath := startFaultPath(t, prom.URL())
	gitAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	gitPath := startFaultPath(t, "http://"+gitAddr)
	// The fleet names the registry by the proxy's address; pushes go to the real one.
	viaProxy := "http://" + gitPath.addr() + "/fleet.git"
	cfg := strings.NewReplacer("PROMETHEUS", "http://"+promPath.addr(), "FLEET", viaProxy).Replace(faultConfig)
	fleet := startFleetWith(t, regPath.addr(), cfg, map[string]string{"policies/fault.rego": faultPolicy}, gitserver.WithAddr(gitAddr))
	reg.push(t, "shop/checkout", "1.0.0")
	p := startFerry(t, nil, "run", "--config", viaProxy, "--work-dir", t.TempDir())
	inEnv := func(env, v string) bool { return hasTag(fleet.show(t, "overlays/"+env+"/kustomization.yaml"), v) }
	waitFor(t, 60*time.Second, "1.0.0 in dr", func() bool { return inEnv("dr", "1.0.0") })

	targets := []struct {
		name string
		path *faultPath
	}{{"git", gitPath}, {"registry", regPath}, {"prometheus", promPath}}
	order := map[string][]string{"checkout": {"1.0.0"}}
	var rows []string
	minor := 0
	for _, tg := range targets {
		for _, fc := range faultCases {
			minor++
			v := fmt.Sprintf("1.%d.0", minor)
			order["checkout"] = append(order["checkout"], v)
			tg.path.set(fc)
			reg.push(t, "shop/checkout", v)
			time.Sleep(faultWindow)
			var during []string
			for _, env := range allEnvs {
				if inEnv(env, v) {
					during = append(during, env)
				}
			}
			tg.path.clear()
			cleared := time.Now()
			waitFor(t, 60*time.Second, v+" in dr after "+tg.name+" "+fc.name+" cleared", func() bool { return inEnv("dr", v) })
			recovered := time.Since(cleared)
			wrong := 0
			if tg.name == "prometheus" && !fc.slows && len(during) > 1 {
				wrong = len(during) - 1 // past dev without a Prometheus answer
			}
			if tg.name == "git" && !fc.slows && len(during) > 0 {
				wrong = len(during) // a push through a broken connection cannot have landed whole
			}
			if wrong > 0 {
				t.Errorf("%s %s: %s promoted into %v while the fault was on", tg.name, fc.name, v, during)
			}
			row := fmt.Sprintf("fault: target=%s case=%q promoted-during=%d wrong=%d recovered=%s", tg.name, fc.name, len(during), wrong, recovered.Round(100*time.Millisecond))
			rows = append(rows, row)
			t.Log(row)
		}
	}
	h := checkHistory(t, fleet, map[string]string{"checkout": order["checkout"][len(order["checkout"])-1]}, order, nil)
	t.Logf("fault: cases=%d promotions=%d lost=%d duplicated=%d disordered=%d broken=%d",
		len(rows), h.promotions, len(h.lost), len(h.duplicated), len(h.disordered), len(h.broken))
	for name, list := range map[string][]string{"lost": h.lost, "duplicated": h.duplicated, "disordered": h.disordered, "broken": h.broken} {
		if len(list) > 0 {
			t.Errorf("%s: %q\n%s", name, list, p.out.String())
		}
	}
}

// TestFaultsAlertmanager puts faults between Alertmanager and ferry's
// webhook: an alert that fires while ferry cannot be reached is retried by
// Alertmanager, and the rollback lands once the fault clears, exactly once;
// when only ferry's answer is lost, the retry does not roll back twice.
func TestFaultsAlertmanager(t *testing.T) {
	port := freePort(t)
	token := "fault-alert-token"
	reg := startRegistry(t, "", "")
	hook := startFaultPath(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	am := startAlertmanager(t, "http://"+hook.addr()+"/hooks/alertmanager", token)
	cfg := strings.Replace(chainConfig, "  author:", "  interval: 1s\n  author:", 1) + "registry: {interval: 1s}\nrollback: {match: {severity: critical}}\n"
	fleet := startFleet(t, reg.host, cfg)
	reg.push(t, "shop/cart", "main-1")
	reg.push(t, "shop/checkout", "1.0.0")
	p := startFerry(t, []string{"FERRY_WEBHOOK_TOKEN=" + token}, "run", "--config", fleet.url, "--work-dir", t.TempDir(),
		"--listen", fmt.Sprintf("127.0.0.1:%d", port))
	inProd := func(v string) bool { return hasTag(fleet.show(t, "overlays/prod/kustomization.yaml"), v) }
	waitFor(t, 60*time.Second, "1.0.0 in prod", func() bool { return inProd("1.0.0") })
	cases := []faultCase{
		{name: "drop", tcp: faultproxy.Fault{Mode: faultproxy.Drop}},
		{name: "reset", tcp: faultproxy.Fault{Mode: faultproxy.Reset}},
		// ferry acts on the call; Alertmanager sees a broken answer and retries.
		{name: "truncate at 20 B", tcp: faultproxy.Fault{Mode: faultproxy.Truncate, Bytes: 20}, reaches: true},
		{name: "HTTP 500", http: faultproxy.HTTPFault{Status: 500}},
		{name: "HTTP 503", http: faultproxy.HTTPFault{Status: 503}},
		{name: "HTTP 429", http: faultproxy.HTTPFault{Status: 429, RetryAfter: 1}},
	}
	good := "1.0.0"
	for i, fc := range cases {
		bad := fmt.Sprintf("1.%d.0", i+1)
		reg.push(t, "shop/checkout", bad)
		waitFor(t, 60*time.Second, bad+" in prod", func() bool { return inProd(bad) })
		rollback := "rollback checkout in prod to " + good
		before := strings.Count(fleet.git(t, "log", "--format=%s", "main"), rollback)
		hook.set(fc)
		fireAlert(t, am, fmt.Sprintf("FaultCase%d", i))
		time.Sleep(faultWindow)
		during := strings.Count(fleet.git(t, "log", "--format=%s", "main"), rollback) - before
		hook.clear()
		cleared := time.Now()
		waitFor(t, 60*time.Second, "the rollback after "+fc.name+" cleared", func() bool {
			return strings.Count(fleet.git(t, "log", "--format=%s", "main"), rollback) > before
		})
		recovered := time.Since(cleared)
		time.Sleep(2 * time.Second) // Alertmanager's retries and resends must not roll back twice
		n := strings.Count(fleet.git(t, "log", "--format=%s", "main"), rollback) - before
		if n != 1 || (during != 0 && !fc.reaches) {
			t.Errorf("%s: %d rollbacks (%d while the fault was on), want 1 after it cleared\n%s", fc.name, n, during, p.out.String())
		}
		if !inProd(good) {
			t.Errorf("%s: prod does not run %s after the rollback", fc.name, good)
		}
		t.Logf("fault: target=alertmanager->ferry case=%q rollbacks-during=%d rollbacks=%d recovered=%s", fc.name, during, n, recovered.Round(100*time.Millisecond))
	}
}

// fireAlert posts a critical alert for checkout in prod to Alertmanager's
// API, which sends it to its webhook receiver.
func fireAlert(t testing.TB, am, name string) {
	t.Helper()
	body, _ := json.Marshal([]map[string]any{{
		"labels":   map[string]string{"alertname": name, "app": "checkout", "env": "prod", "severity": "critical"},
		"startsAt": time.Now().UTC().Format(time.RFC3339),
	}})
	resp, err := http.Post("http://"+am+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post alert: status %d", resp.StatusCode)
	}
}

// hasTag says whether a kustomization sets some image to tag v.
func hasTag(kustomization, v string) bool {
	for _, line := range strings.Split(kustomization, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "newTag:" && f[1] == v {
			return true
		}
	}
	return false
}
