package inprom

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/notifier"

	promprovider "github.com/ferry-dev/ferry/analysis/prometheus"
)

// TestScrapeQueryAlert: a target's counter is scraped into the TSDB, ferry's
// own Prometheus provider reads its rate through the query API, and a rule
// on it fires an alert.
func TestScrapeQueryAlert(t *testing.T) {
	reg := promclient.NewRegistry()
	c := promclient.NewCounterVec(promclient.CounterOpts{Name: "http_requests_total", Help: "h"}, []string{"app"})
	reg.MustRegister(c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				c.WithLabelValues("checkout").Add(2) // 100 a second
			}
		}
	}()

	var mu sync.Mutex
	var got []*notifier.Alert
	s, err := Start(Options{
		Dir: t.TempDir(), Targets: []string{ln.Addr().String()}, ScrapeInterval: 100 * time.Millisecond,
		Rules: `groups:
  - name: demo
    rules:
      - alert: Busy
        expr: sum by (app) (rate(http_requests_total[1s])) > 10
        labels: {severity: critical}
`,
		EvalInterval: 100 * time.Millisecond, ResendDelay: 100 * time.Millisecond,
		Alerts: func(as []*notifier.Alert) {
			mu.Lock()
			got = append(got, as...)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	prov, err := promprovider.New(s.URL, promprovider.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		s, err := prov.Instant(ctx, `sum(rate(http_requests_total{app="checkout"}[1s]))`, time.Time{})
		v := s.Value
		if err == nil && v > 50 && v < 200 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no rate of about 100/s through the query API: %v %v", v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		mu.Lock()
		n := len(got)
		var a *notifier.Alert
		if n > 0 {
			a = got[0]
		}
		mu.Unlock()
		if a != nil {
			if a.Labels.Get("alertname") != "Busy" || a.Labels.Get("app") != "checkout" || a.Labels.Get("severity") != "critical" {
				t.Fatalf("alert labels %s", a.Labels)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatal("the rule never fired")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
