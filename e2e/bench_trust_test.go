//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/analysis"
	promprovider "github.com/ferry-dev/ferry/analysis/prometheus"
	"github.com/ferry-dev/ferry/analysis/prometheus/promtest"
	"github.com/ferry-dev/ferry/e2e/faultproxy"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// BenchmarkAlertToRollbackBlackHoled is BenchmarkAlertToRollback while the
// registry of another app (cart) accepts connections and never answers, and
// passes run every second: a rollback waits for no registry and no pass.
// As there, every other alert comes at once, the others after
// settleBeforeAlert.
func BenchmarkAlertToRollbackBlackHoled(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := startRegistry(b, "", "")
	hole, err := faultproxy.Start(reg.host)
	if err != nil {
		b.Fatal(err)
	}
	defer hole.Close()
	hole.Set(faultproxy.Fault{Mode: faultproxy.BlackHole})
	cfg := strings.Replace(chainConfig, "image: REGISTRY/shop/cart", "image: "+hole.Addr()+"/shop/cart", 1)
	bare, a := benchAgentWith(ctx, b, reg, cfg, agent.Options{}, nil)
	loop := agent.NewLoop(a, time.Second)
	handled := make(chan *agent.RollbackResult, 1)
	loop.OnRollback = func(_ agent.Alert, r *agent.RollbackResult, err error) {
		if err != nil {
			b.Error(err)
		}
		handled <- r
	}
	passes := make(chan struct{}, 64)
	loop.OnPass = func(*agent.Result, error) {
		select {
		case passes <- struct{}{}:
		default:
		}
	}
	hookURL := serveAlerts(b, loop)
	reg.push(b, "shop/checkout", "1.0.0")
	go loop.Run(ctx)
	refFile := filepath.Join(bare, "refs", "heads", "main")
	var lat, atOnce []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		v := fmt.Sprintf("1.1.%d", i)
		reg.push(b, "shop/checkout", v)
		loop.Trigger(agent.Scope{Apps: []string{"checkout"}, Reason: "bench"})
		// In dr too: a push of the chain still under way would pass for the rollback's.
		waitFor(b, 60*time.Second, v+" in prod and dr", func() bool {
			prod, err := gitShow(bare, "overlays/prod/kustomization.yaml")
			dr, err2 := gitShow(bare, "overlays/dr/kustomization.yaml")
			return err == nil && err2 == nil && strings.Contains(prod, "newTag: "+v) && strings.Contains(dr, "newTag: "+v)
		})
		if i%2 == 1 {
			time.Sleep(settleBeforeAlert)
		}
		before, _ := os.ReadFile(refFile)
		b.StartTimer()
		start := time.Now()
		postAlert(b, hookURL, fmt.Sprintf("hole%08d", i))
		waitRefMoved(refFile, before)
		if i%2 == 1 {
			lat = append(lat, time.Since(start))
		} else {
			atOnce = append(atOnce, time.Since(start))
		}
		b.StopTimer()
		if r := <-handled; r == nil || r.Commit == "" {
			b.Fatalf("no rollback: %+v", r)
		}
	}
	reportAlertLatency(b, lat, atOnce)
}

// BenchmarkStepToAnalysis measures a canary step's commit pushed -> its
// analysis started (the loop's OnVerifying), against a real Prometheus and
// git http-backend; passes come every hour, so only the push can start it.
func BenchmarkStepToAnalysis(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := startRegistry(b, "", "")
	prom := promtest.StartConfig(b, promtest.Config{})
	cfg := `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, canary: {steps: [25, 50, 100], analysis: canary}}
providers:
  prometheus: {address: ` + prom.URL() + `}
analyses:
  canary:
    metrics:
      - {name: zero, query: 'vector(0)', successCondition: result == 0}
`
	prov, err := promprovider.New(prom.URL(), promprovider.Options{})
	if err != nil {
		b.Fatal(err)
	}
	pushes := &pushTimes{at: map[string]time.Time{}}
	_, a := benchAgentWith(ctx, b, reg, cfg, agent.Options{Analysis: analysis.Providers{"prometheus": prov}}, pushes.wrap, canaryProd)
	loop := agent.NewLoop(a, time.Hour)
	var mu sync.Mutex
	var gaps []time.Duration
	started := make(chan struct{}, 64)
	loop.OnVerifying = func(v agent.Verification) {
		if v.Step == "" || strings.HasPrefix(v.Step, "0/") {
			return
		}
		if at, ok := pushes.get(v.Commit); ok {
			mu.Lock()
			gaps = append(gaps, time.Since(at))
			mu.Unlock()
		}
		started <- struct{}{}
	}
	go loop.Run(ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		reg.push(b, "shop/checkout", fmt.Sprintf("1.%d.0", i+1))
		loop.Trigger(agent.Scope{Apps: []string{"checkout"}, Reason: "bench"})
		for range 3 { // three weighted steps, each analysed
			select {
			case <-started:
			case <-time.After(60 * time.Second):
				b.Fatal("a step's analysis did not start")
			}
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	b.ReportMetric(pct(gaps, 50), "p50-ms")
	b.ReportMetric(pct(gaps, 95), "p95-ms")
}

// pushTimes remembers when each commit's push returned.
type pushTimes struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (p *pushTimes) get(commit string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.at[commit]
	return t, ok
}

func (p *pushTimes) wrap(f agent.Fleet) agent.Fleet { return timedFleet{Fleet: f, p: p} }

type timedFleet struct {
	agent.Fleet
	p *pushTimes
}

func (t timedFleet) Push(ctx context.Context, s *fleet.Snapshot) error {
	err := t.Fleet.Push(ctx, s)
	if err == nil {
		t.p.mu.Lock()
		t.p.at[s.Hash()] = time.Now()
		t.p.mu.Unlock()
	}
	return err
}

// benchAgentWith is benchAgent with a pipeline of its own, extra files and
// options; wrap, when set, wraps the fleet repo.
func benchAgentWith(ctx context.Context, b *testing.B, reg *distRegistry, cfgText string, o agent.Options, wrap func(agent.Fleet) agent.Fleet, extra ...map[string]string) (string, *agent.Agent) {
	root := b.TempDir()
	srv, err := gitserver.Start(root)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		b.Fatal(err)
	}
	files := exampleFiles(b, reg.host)
	for _, e := range extra {
		for k, v := range e {
			if !strings.HasPrefix(k, "policies/") {
				files[k] = []byte(strings.ReplaceAll(v, "REGISTRY", reg.host))
			}
		}
	}
	if err := gitserver.Seed(bare, files, "seed"); err != nil {
		b.Fatal(err)
	}
	url := srv.RepoURL("fleet.git")
	cfg, err := config.Parse("bench.yaml", []byte(strings.NewReplacer("FLEET", url, "REGISTRY", reg.host).Replace(cfgText)))
	if err != nil {
		b.Fatal(err)
	}
	repo, err := fleet.Open(ctx, fleet.Options{URL: url, Branch: "main", Dir: filepath.Join(root, "clone"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	o.Config, o.Registry = cfg, registry.NewClient(registry.Options{RequestsPerSecond: 1000, RequestTimeout: 30 * time.Second})
	o.Fleet = repo
	if wrap != nil {
		o.Fleet = wrap(repo)
	}
	a, err := agent.New(o)
	if err != nil {
		b.Fatal(err)
	}
	return bare, a
}

func serveAlerts(b *testing.B, loop *agent.Loop) string {
	hooks := webhook.New(webhook.HandlerOptions{
		Verifier: webhook.NewVerifier("bench-token"),
		OnAlerts: func(ctx context.Context, evs []webhook.AlertEvent) {
			var out []agent.Alert
			for _, ev := range evs {
				out = append(out, agent.Alert{App: ev.App, Env: ev.Env, Name: ev.AlertName, Fingerprint: ev.Fingerprint, Started: ev.StartsAt})
			}
			loop.OnAlerts(ctx, out)
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: hooks}
	go hs.Serve(ln)
	b.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String() + "/hooks/alertmanager"
}

func postAlert(b *testing.B, url, fingerprint string) {
	body := fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0,"status":"firing","receiver":"ferry",
"groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{"alertname":"HighErrorRate"},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093",
"alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","app":"checkout","env":"prod","severity":"critical"},"annotations":{"summary":"errors"},
"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090","fingerprint":"%s"}]}`, time.Now().UTC().Format(time.RFC3339), fingerprint)
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer bench-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

func gitShow(bare, path string) (string, error) {
	out, err := gitserver.Git(context.Background(), bare, "show", "main:"+path)
	return out, err
}
