//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// BenchmarkWebhookToPush measures a registry push notification received by
// ferry's webhook -> the dev promotion commit pushed to a real git smart-HTTP
// server, and -> the whole chain (5 commits) pushed. Reported as p50/p95.
func BenchmarkWebhookToPush(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, bare, a := benchAgent(ctx, b)
	loop := agent.NewLoop(a, time.Hour)
	passes := make(chan *agent.Result, 16)
	loop.OnPass = func(r *agent.Result, _ error) { passes <- r }
	go loop.Run(ctx)
	reg.push(b, "shop/cart", "main-1")
	<-passes // the first pass at start

	hooks := webhook.New(webhook.HandlerOptions{Verifier: webhook.NewVerifier("bench-token"), MaxBody: 1 << 20, OnRegistry: loop.OnRegistryEvents, OnPush: loop.OnPush})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: hooks}
	go hs.Serve(ln)
	defer hs.Close()
	hookURL := "http://" + ln.Addr().String() + "/hooks/registry"

	var first, whole []time.Duration
	refFile := filepath.Join(bare, "refs", "heads", "main")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tag := fmt.Sprintf("1.0.%d", i)
		digest := reg.push(b, "shop/checkout", tag)
		for len(passes) > 0 {
			<-passes // a pass of the loop's own, done: not this iteration's
		}
		before, _ := os.ReadFile(refFile)
		body := fmt.Sprintf(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"repository":"shop/checkout","tag":%q},"request":{"host":%q}}]}`,
			digest, tag, reg.host)
		b.StartTimer()
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, hookURL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		waitRefMoved(refFile, before)
		first = append(first, time.Since(start))
		// The pass that carried tag: a pass of the loop's own (the retry of
		// the first pass, which found no checkout tag yet) is not it.
		r := <-passes
		for !promoted(r, tag) {
			r = <-passes
		}
		whole = append(whole, time.Since(start))
		if len(r.Promotions) != 5 {
			b.Fatalf("pass promoted %d, want 5: %+v", len(r.Promotions), r.Errors)
		}
	}
	b.StopTimer()
	b.ReportMetric(pct(first, 50), "p50-ms-first-commit")
	b.ReportMetric(pct(first, 95), "p95-ms-first-commit")
	b.ReportMetric(pct(whole, 50), "p50-ms-5-commits")
	b.ReportMetric(pct(whole, 95), "p95-ms-5-commits")
}

// promoted reports whether pass r promoted tag anywhere.
func promoted(r *agent.Result, tag string) bool {
	for _, p := range r.Promotions {
		if p.Candidate.Tag == tag {
			return true
		}
	}
	return false
}

func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	if i > 0 {
		i--
	}
	return float64(s[i].Microseconds()) / 1000
}

func inProcessRegistry(b *testing.B) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }
}

// BenchmarkAlertToRollback measures an Alertmanager notification received
// by ferry's webhook -> the rollback commit pushed to a real git smart-HTTP
// server. Each iteration first promotes a new version (untimed), then sends
// a firing alert for prod with a new fingerprint: every other one at once
// (p50-ms-at-once), the others after settleBeforeAlert (p50-ms), as
// Alertmanager does: an alert is sent group_wait (30 s by default) after it
// fires, which is after the version ran long enough to be scraped.
func BenchmarkAlertToRollback(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, bare, a := benchAgent(ctx, b)
	loop := agent.NewLoop(a, time.Hour)
	handled := make(chan *agent.RollbackResult, 1)
	loop.OnRollback = func(_ agent.Alert, r *agent.RollbackResult, err error) {
		if err != nil {
			b.Error(err)
		}
		handled <- r
	}
	go loop.Run(ctx)
	hooks := webhook.New(webhook.HandlerOptions{
		Verifier: webhook.NewVerifier("bench-token"),
		OnAlerts: func(ctx context.Context, evs []webhook.AlertEvent) {
			var out []agent.Alert
			for _, ev := range evs {
				out = append(out, agent.Alert{App: ev.App, Env: ev.Env, Name: ev.AlertName, Fingerprint: ev.Fingerprint})
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
	defer hs.Close()
	hookURL := "http://" + ln.Addr().String() + "/hooks/alertmanager"
	reg.push(b, "shop/cart", "main-1")
	reg.push(b, "shop/checkout", "1.0.0")
	if _, err := a.Reconcile(ctx, agent.Scope{All: true}); err != nil {
		b.Fatal(err)
	}
	refFile := filepath.Join(bare, "refs", "heads", "main")
	var lat, atOnce []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		reg.push(b, "shop/checkout", fmt.Sprintf("1.1.%d", i))
		if res, err := a.Reconcile(ctx, agent.Scope{All: true}); err != nil || len(res.Promotions) == 0 {
			b.Fatalf("promote 1.1.%d: %v %v", i, err, res)
		}
		if i%2 == 1 {
			time.Sleep(settleBeforeAlert)
		}
		before, _ := os.ReadFile(refFile)
		body := fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0,"status":"firing","receiver":"ferry",
"groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{"alertname":"HighErrorRate"},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093",
"alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","app":"checkout","env":"prod","severity":"critical"},"annotations":{"summary":"errors"},
"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090","fingerprint":"bench%08d"}]}`, time.Now().UTC().Format(time.RFC3339), i)
		b.StartTimer()
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, hookURL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		waitRefMoved(refFile, before)
		if i%2 == 1 {
			lat = append(lat, time.Since(start))
		} else {
			atOnce = append(atOnce, time.Since(start))
		}
		if r := <-handled; r == nil || r.Commit == "" {
			b.Fatalf("no rollback: %+v", r)
		}
	}
	b.StopTimer()
	reportAlertLatency(b, lat, atOnce)
}

// settleBeforeAlert is how long after a promotion's push the benchmarks
// send most alerts: far less than any real alert takes (a scrape, the
// rule's for:, Alertmanager's group_wait of 30 s by default), and enough
// for ferry to have prepared the rollback of what it just promoted.
const settleBeforeAlert = 250 * time.Millisecond

// reportAlertLatency reports alerts sent after settleBeforeAlert as
// p50-ms/p95-ms and those sent the moment the promotion landed as
// p50-ms-at-once/p95-ms-at-once (with one iteration, that one only).
func reportAlertLatency(b *testing.B, settled, atOnce []time.Duration) {
	if len(settled) > 0 {
		b.ReportMetric(pct(settled, 50), "p50-ms")
		b.ReportMetric(pct(settled, 95), "p95-ms")
	}
	b.ReportMetric(pct(atOnce, 50), "p50-ms-at-once")
	b.ReportMetric(pct(atOnce, 95), "p95-ms-at-once")
}

// benchAgent is an agent over the example fleet in a bare repo served by git
// http-backend, with the real registry; it returns the bare repo's path.
func benchAgent(ctx context.Context, b *testing.B) (*distRegistry, string, *agent.Agent) {
	reg := startRegistry(b, "", "")
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
	if err := gitserver.Seed(bare, exampleFiles(b, reg.host), "seed"); err != nil {
		b.Fatal(err)
	}
	url := srv.RepoURL("fleet.git")
	cfg, err := config.Parse("bench.yaml", []byte(strings.NewReplacer("FLEET", url, "REGISTRY", reg.host).Replace(chainConfig)))
	if err != nil {
		b.Fatal(err)
	}
	repo, err := fleet.Open(ctx, fleet.Options{URL: url, Branch: "main", Dir: filepath.Join(root, "clone"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	a, err := agent.New(agent.Options{Config: cfg, Fleet: repo, Registry: registry.NewClient(registry.Options{RequestsPerSecond: 1000})})
	if err != nil {
		b.Fatal(err)
	}
	return reg, bare, a
}

// waitRefMoved polls a bare repo's loose branch ref until the push lands.
func waitRefMoved(refFile string, before []byte) {
	for {
		if now, _ := os.ReadFile(refFile); !bytes.Equal(now, before) {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}
