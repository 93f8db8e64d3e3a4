package dora

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
)

// State is what the collector measures: the fleet repo, its newest
// snapshot and the pipeline. A nil Head means nothing is known yet.
type State struct {
	Repo   Source
	Head   *fleet.Snapshot
	Config *config.Pipeline
}

// CollectorOptions tune a Collector.
type CollectorOptions struct {
	// Envs are the environments measured; default DefaultEnv.
	Envs []string
	// Since is the window; default 30 days.
	Since time.Duration
	// MaxAge recomputes an unchanged head this often, since the window
	// slides with the clock; default 10 minutes.
	MaxAge time.Duration
	// Timeout bounds one computation; default 30s.
	Timeout time.Duration
	Log     *slog.Logger
	Now     func() time.Time
}

// Collector exposes the DORA metrics as gauges. It computes them from the
// state its func returns and keeps the result per head commit, so a scrape
// costs nothing while Git does not move.
type Collector struct {
	state func(context.Context) (State, error)
	o     CollectorOptions

	mu       sync.Mutex
	key      cacheKey
	computed time.Time
	metrics  []prometheus.Metric
	hist     map[string]*history // per env, so a new head costs only its new commits
}

type cacheKey struct {
	head string
	cfg  *config.Pipeline
}

var (
	labels      = []string{"app", "env"}
	descDeploys = prometheus.NewDesc("ferry_dora_deployments",
		"Deployments (changes of an app's version in the environment's overlay) in the window.", labels, nil)
	descFreq = prometheus.NewDesc("ferry_dora_deployment_frequency_per_day",
		"Deployments per day over the window.", labels, nil)
	descLead = prometheus.NewDesc("ferry_dora_lead_time_seconds",
		"Lead time for changes (image creation or first appearance -> deployment) in the window, by quantile.",
		[]string{"app", "env", "quantile"}, nil)
	descLeadMean = prometheus.NewDesc("ferry_dora_lead_time_mean_seconds",
		"Mean lead time for changes in the window.", labels, nil)
	descCFR = prometheus.NewDesc("ferry_dora_change_failure_ratio",
		"Failed changes (rolled back deployments and aborted canaries) / changes in the window.", labels, nil)
	descRestore = prometheus.NewDesc("ferry_dora_time_to_restore_seconds",
		"Median time from a rollback to the next deployment that was not rolled back, in the window.", labels, nil)
	descRestoreMean = prometheus.NewDesc("ferry_dora_time_to_restore_mean_seconds",
		"Mean time from a rollback to the next deployment that was not rolled back, in the window.", labels, nil)
	descWindow = prometheus.NewDesc("ferry_dora_window_seconds",
		"Length of the window the DORA gauges cover.", []string{"env"}, nil)
)

// NewCollector returns a Collector over state; register it with a
// prometheus.Registerer.
func NewCollector(state func(context.Context) (State, error), o CollectorOptions) *Collector {
	// A 30-day window moves slowly: recomputing an unchanged head more
	// often than every 10 minutes would show nothing new.
	if o.Since <= 0 {
		o.Since = 30 * 24 * time.Hour
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 10 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Collector{state: state, o: o}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDeploys, descFreq, descLead, descLeadMean, descCFR, descRestore, descRestoreMean, descWindow} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A failed computation is logged
// and the last good values are served: a broken history must not fail the
// whole scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	// One computation at a time: concurrent scrapes wait, then reuse it.
	// Collect gets no context from Prometheus, hence the bounded Background.
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	if err := c.refresh(ctx); err != nil {
		c.o.Log.Error("dora metrics", "err", err)
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *Collector) refresh(ctx context.Context) error {
	st, err := c.state(ctx)
	if err != nil || st.Head == nil || st.Config == nil {
		return err
	}
	now := c.o.Now()
	// The config by pointer: a reload is a new pipeline, and recomputes.
	key := cacheKey{head: st.Head.Hash(), cfg: st.Config}
	if key == c.key && now.Sub(c.computed) < c.o.MaxAge {
		return nil
	}
	envs := c.o.Envs
	if len(envs) == 0 {
		env, err := DefaultEnv(st.Config)
		if err != nil {
			return err
		}
		envs = []string{env}
	}
	var out []prometheus.Metric
	hist := map[string]*history{}
	for _, env := range envs {
		r, h, err := compute(ctx, st.Repo, st.Head, st.Config, Options{Env: env, Since: c.o.Since, Now: now}, c.hist[env])
		if err != nil {
			return err
		}
		hist[env] = h
		out = append(out, reportMetrics(r, c.o.Since)...)
	}
	c.hist = hist
	c.key, c.computed, c.metrics = key, now, out
	return nil
}

func reportMetrics(r Report, window time.Duration) []prometheus.Metric {
	out := []prometheus.Metric{prometheus.MustNewConstMetric(descWindow, prometheus.GaugeValue, window.Seconds(), r.Env)}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...))
	}
	for _, a := range r.Apps {
		m := a.Metrics
		gauge(descDeploys, float64(m.Deployments), a.App, r.Env)
		gauge(descFreq, m.DeploymentsPerDay, a.App, r.Env)
		if m.Changes > 0 {
			gauge(descCFR, m.ChangeFailureRate, a.App, r.Env)
		}
		// No data is no series, never a misleading 0.
		if m.LeadTime.Count > 0 {
			gauge(descLead, m.LeadTime.P50, a.App, r.Env, "0.5")
			gauge(descLead, m.LeadTime.P90, a.App, r.Env, "0.9")
			gauge(descLeadMean, m.LeadTime.Mean, a.App, r.Env)
		}
		if m.TimeToRestore.Count > 0 {
			gauge(descRestore, m.TimeToRestore.P50, a.App, r.Env)
			gauge(descRestoreMean, m.TimeToRestore.Mean, a.App, r.Env)
		}
	}
	return out
}
