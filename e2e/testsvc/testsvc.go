// Package testsvc is a small service for end-to-end tests: it serves
// /metrics with request counters whose error ratio the test controls, so a
// real Prometheus can scrape it and a real alert rule can fire.
package testsvc

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Service counts simulated requests per (app, env, version) at a fixed rate,
// and observes their latency.
type Service struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	srv      *http.Server
	addr     string
	stop     chan struct{}
	done     sync.WaitGroup

	mu      sync.Mutex
	targets map[target]float64       // error ratio per target
	delays  map[target]time.Duration // latency per target; default 20 ms
}

type target struct{ app, env, version string }

// Start serves /metrics on 127.0.0.1 and simulates 100 requests a second
// per target until Close.
func Start() (*Service, error) {
	reg := prometheus.NewRegistry()
	s := &Service{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "Simulated requests by app, env, version and status code.",
		}, []string{"app", "env", "version", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Simulated request latency by app, env and version.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"app", "env", "version"}),
		stop:    make(chan struct{}),
		targets: map[target]float64{},
		delays:  map[target]time.Duration{},
	}
	reg.MustRegister(s.requests, s.latency)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	s.done.Add(1)
	go s.simulate()
	return s, nil
}

// Addr is host:port of /metrics.
func (s *Service) Addr() string { return s.addr }

// Set makes app's version in env answer with the given error ratio (0..1).
func (s *Service) Set(app, env, version string, errorRatio float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets[target{app, env, version}] = errorRatio
}

// SetLatency makes app's version in env answer in d (default 20 ms).
func (s *Service) SetLatency(app, env, version string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[target{app, env, version}] = d
}

// Remove stops simulating a target.
func (s *Service) Remove(app, env, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.targets, target{app, env, version})
	delete(s.delays, target{app, env, version})
}

// Close stops the service.
func (s *Service) Close() {
	close(s.stop)
	s.done.Wait()
	_ = s.srv.Close()
}

// simulate adds 10 requests per target every 100 ms, errors in proportion.
func (s *Service) simulate() {
	defer s.done.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	acc := map[target]float64{}
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for tg, ratio := range s.targets {
			acc[tg] += 10 * ratio
			errs := float64(int(acc[tg]))
			acc[tg] -= errs
			s.requests.WithLabelValues(tg.app, tg.env, tg.version, "500").Add(errs)
			s.requests.WithLabelValues(tg.app, tg.env, tg.version, "200").Add(10 - errs)
			d, ok := s.delays[tg]
			if !ok {
				d = 20 * time.Millisecond
			}
			h := s.latency.WithLabelValues(tg.app, tg.env, tg.version)
			for range 10 {
				h.Observe(d.Seconds())
			}
		}
		s.mu.Unlock()
	}
}
