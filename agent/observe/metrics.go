package observe

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/agent/registry"
)

// Metrics are the agent's Prometheus series (docs/design.md "Metrics and pages").
// A nil *Metrics records nothing.
type Metrics struct {
	promotions  *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	duration    prometheus.Histogram
	pushRetries prometheus.Counter
	passes      *prometheus.CounterVec
	rollbacks   *prometheus.CounterVec
	analyses    *prometheus.CounterVec
	polls       *prometheus.CounterVec
	waits       prometheus.Counter
	retries429  prometheus.Counter

	// The registry client counts its pacing itself; these are the counts
	// last added, per client (a config reload makes a new client).
	statsMu     sync.Mutex
	statsFrom   any
	statsBefore registry.Stats
}

// NewMetrics registers the agent's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		promotions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_promotions_total", Help: "Promotions by app, environment and result (pushed, error).",
		}, []string{"app", "env", "result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_decisions_total", Help: "Gate decisions by environment and result (allow, deny, error).",
		}, []string{"env", "result"}),
		// Buckets from a notification's tens of milliseconds to a registry
		// polled hourly.
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ferry_promotion_duration_seconds",
			Help:    "Time from a candidate first seen to its promotion commit pushed.",
			Buckets: []float64{.05, .1, .2, .5, 1, 2, 5, 10, 30, 60, 300, 900, 3600},
		}),
		pushRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_git_push_retries_total", Help: "Pushes retried because the remote branch moved.",
		}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_rollbacks_total", Help: "Rollback commits pushed, by app and environment.",
		}, []string{"app", "env"}),
		analyses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_analysis_runs_total", Help: "Analyses finished, by environment and verdict (Successful, Failed, Inconclusive).",
		}, []string{"env", "verdict"}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_reconcile_passes_total", Help: "Reconcile passes by result (ok, error).",
		}, []string{"result"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_registry_polls_total", Help: "Registry look-ups of an app's newest allowed tag, by result (ok, error).",
		}, []string{"result"}),
		waits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_registry_rate_limit_waits_total", Help: "Registry requests that waited for the per-host rate limiter.",
		}),
		retries429: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_registry_429_retries_total", Help: "Registry requests repeated after an HTTP 429 (Too Many Requests).",
		}),
	}
	// Both results exist from the start, so rate() and ratios work before the first error.
	m.polls.WithLabelValues("ok")
	m.polls.WithLabelValues("error")
	reg.MustRegister(m.promotions, m.decisions, m.duration, m.pushRetries, m.passes, m.rollbacks, m.analyses,
		m.polls, m.waits, m.retries429)
	return m
}

func (m *Metrics) promotion(app, env, result string) {
	if m != nil {
		m.promotions.WithLabelValues(app, env, result).Inc()
	}
}

func (m *Metrics) decision(env, result string) {
	if m != nil {
		m.decisions.WithLabelValues(env, result).Inc()
	}
}

func (m *Metrics) promotionDuration(d time.Duration) {
	if m != nil {
		m.duration.Observe(d.Seconds())
	}
}

func (m *Metrics) rollback(app, env string) {
	if m != nil {
		m.rollbacks.WithLabelValues(app, env).Inc()
	}
}

func (m *Metrics) PushRetry() {
	if m != nil {
		m.pushRetries.Inc()
	}
}

func (m *Metrics) Pass(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.passes.WithLabelValues("error").Inc()
		return
	}
	m.passes.WithLabelValues("ok").Inc()
}

func (m *Metrics) analysis(env, verdict string) {
	if m != nil {
		m.analyses.WithLabelValues(env, verdict).Inc()
	}
}

// registryPolls counts one pass's registry look-ups.
func (m *Metrics) registryPolls(ok, failed int) {
	if m != nil {
		m.polls.WithLabelValues("ok").Add(float64(ok))
		m.polls.WithLabelValues("error").Add(float64(failed))
	}
}

// RegistryPacing adds what the registry client counted since the last
// call, when it counts (*registry.Client does). A new client (after a
// config reload) starts again at zero.
func (m *Metrics) RegistryPacing(reg any) {
	c, ok := reg.(interface{ Stats() registry.Stats })
	if m == nil || !ok {
		return
	}
	m.registryStats(reg, c.Stats())
}

func (m *Metrics) registryStats(from any, s registry.Stats) {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	before := m.statsBefore
	if from != m.statsFrom {
		before = registry.Stats{}
	}
	// Counter.Add panics on a negative value, so a count that went down
	// adds nothing.
	if s.RateLimitWaits >= before.RateLimitWaits {
		m.waits.Add(float64(s.RateLimitWaits - before.RateLimitWaits))
	}
	if s.Retries429 >= before.Retries429 {
		m.retries429.Add(float64(s.Retries429 - before.Retries429))
	}
	m.statsFrom, m.statsBefore = from, s
}
