package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the agent's Prometheus series (DESIGN.md "Metrics and pages").
// A nil *Metrics records nothing.
type Metrics struct {
	promotions  *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	duration    prometheus.Histogram
	pushRetries prometheus.Counter
	passes      *prometheus.CounterVec
	rollbacks   *prometheus.CounterVec
	analyses    *prometheus.CounterVec
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
	}
	reg.MustRegister(m.promotions, m.decisions, m.duration, m.pushRetries, m.passes, m.rollbacks, m.analyses)
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

func (m *Metrics) pushRetry() {
	if m != nil {
		m.pushRetries.Inc()
	}
}

func (m *Metrics) pass(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.passes.WithLabelValues("error").Inc()
		return
	}
	m.passes.WithLabelValues("ok").Inc()
}

// SetMetrics makes the agent record into m (shared across config reloads).
func (a *Agent) SetMetrics(m *Metrics) { a.metrics = m }

func (m *Metrics) analysis(env, verdict string) {
	if m != nil {
		m.analyses.WithLabelValues(env, verdict).Inc()
	}
}
