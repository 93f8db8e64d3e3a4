package prometheus

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-dev/ferry/analysis/prometheus/promtest"
)

// within bounds every poll of Prometheus: scrapes come each second, so
// this is only reached when something is broken.
const within = 30 * time.Second

// exporter is an application's /metrics whose values the test controls.
type exporter struct {
	gauge   prometheus.Gauge
	counter prometheus.Counter
	pair    *prometheus.GaugeVec
	srv     *httptest.Server
}

func newExporter(t testing.TB) *exporter {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := &exporter{
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_test_gauge", Help: "A gauge the test sets."}),
		counter: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_test_requests_total", Help: "A counter the test increments."}),
		pair: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_test_pair", Help: "Two series of one metric."}, []string{"side"}),
	}
	reg.MustRegister(e.gauge, e.counter, e.pair)
	e.pair.WithLabelValues("left").Set(1)
	e.pair.WithLabelValues("right").Set(2)
	e.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(e.srv.Close)
	return e
}

// startWithExporter runs Prometheus scraping a fresh exporter, and waits for
// the first scrape.
func startWithExporter(t testing.TB) (*exporter, *promtest.Server) {
	t.Helper()
	e := newExporter(t)
	e.gauge.Set(42.5)
	prom := promtest.Start(t, []string{e.srv.URL + "/metrics"}, "")
	prom.WaitForTargets(t)
	return e, prom
}

// eventually polls check until it returns nil, failing the test with the
// last error when that takes longer than within.
func eventually(t testing.TB, what string, check func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, within, err)
		case <-tick.C:
		}
	}
}

func newProvider(t testing.TB, address string, opts Options) *Provider {
	t.Helper()
	p, err := New(address, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", address, err)
	}
	return p
}
