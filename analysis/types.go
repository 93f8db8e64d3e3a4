// Package analysis decides whether a new version is healthy from its
// metrics: analysis templates in the spirit of Argo Rollouts'
// AnalysisTemplate (conditions over PromQL results, counts and limits) and
// a Kayenta-like statistical judge (canary against baseline with
// Mann-Whitney U). Verdicts come from pure functions; the Runner only
// measures, sleeps and calls them.
//
// Counting follows Argo Rollouts' analysis controller: a measurement that
// errors does not count toward Count (the metric is measured again after
// DefaultErrorRetryInterval), and more than ConsecutiveErrorLimit errors in
// a row end the metric (Argo's Error; ferry's Inconclusive).
//
// Missing data is never a pass: NaN, no series and errors are inconclusive
// or errors, and a metric without a single successful measurement cannot
// be Successful.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Verdict is the state of a metric or of a whole analysis.
type Verdict string

const (
	Running      Verdict = "Running" // not decided yet
	Successful   Verdict = "Successful"
	Failed       Verdict = "Failed"
	Inconclusive Verdict = "Inconclusive"
)

// Phase is the outcome of one measurement.
type Phase string

const (
	PhaseSuccessful   Phase = "Successful"
	PhaseFailed       Phase = "Failed"
	PhaseInconclusive Phase = "Inconclusive"
	PhaseError        Phase = "Error"
)

// Defaults applied by Compile (see Compiled.Template).
const (
	DefaultProvider              = "prometheus"
	DefaultInterval              = 10 * time.Second
	DefaultCount                 = 1
	DefaultConsecutiveErrorLimit = 4
	DefaultLookback              = 5 * time.Minute
	DefaultStep                  = 10 * time.Second
	DefaultConfidence            = 0.95
	DefaultTolerance             = 0.1
	DefaultMinEffect             = 1e-9
	DefaultPass                  = 95.0
	DefaultMarginal              = 75.0
	DefaultDirection             = DirectionIncrease
)

// DefaultErrorRetryInterval is how long after an error a metric is
// measured again, whatever its interval: Argo's constant of the same name
// (its controller retries an errored measurement after 10 s). It is not
// configurable, as in Argo.
const DefaultErrorRetryInterval = 10 * time.Second

// Directions of a judge metric: which change is bad.
const (
	DirectionIncrease = "increase" // an increase is bad (error ratios, latencies)
	DirectionDecrease = "decrease" // a decrease is bad (throughput, success ratios)
	DirectionEither   = "either"   // any significant change is bad
)

// Template is one analyses: entry, already decoded by the config loader.
type Template struct {
	Name                  string
	Provider              string        // "" means "prometheus"
	Interval              time.Duration // 0 means 10s: from the end of one measurement to the next
	Count                 int           // 0 means 1: measurements that did not error, per metric
	InitialDelay          time.Duration
	FailureLimit          int  // failed measurements tolerated: Failed when failed > limit
	InconclusiveLimit     int  // inconclusive measurements tolerated
	ConsecutiveErrorLimit *int // nil means 4; more errors in a row make the metric Inconclusive (Argo: Error)
	Metrics               []Metric
	Judge                 *Judge // set: canary-vs-baseline statistics instead of conditions
}

// Metric is one query of a template.
type Metric struct {
	Name             string
	Query            string // text/template over Vars: {{.App}} {{.Env}} {{.Version}} {{.Stable}} {{.Canary}}
	SuccessCondition string // expr-lang boolean over `result` (float64), e.g. "result < 0.01"
	FailureCondition string
	Provider         string // overrides Template.Provider
	// Judge only:
	Direction string  // "increase" (default), "decrease", "either"
	Critical  bool    // a critical metric that fails fails the whole run whatever the score
	Weight    float64 // 0 means 1
}

// Judge configures the statistical comparison of canary and baseline.
type Judge struct {
	Lookback   time.Duration // range of each judged window; 0 means 5m
	Step       time.Duration // range query resolution; 0 means 10s
	Confidence float64       // 0 means 0.95 (alpha = 1 - confidence)
	Tolerance  float64       // relative effect ignored, of the baseline median; 0 means 0.1
	// MinEffect is an absolute effect always ignored, so that a baseline
	// median of 0 does not make every significant wiggle a regression;
	// 0 means 1e-9.
	MinEffect float64
	Pass      float64 // score >= Pass passes; 0 means 95
	Marginal  float64 // score < Marginal fails; in between is Inconclusive; 0 means 75
}

// Vars are the values a query template can use.
type Vars struct{ App, Env, Version, Stable, Canary string }

// FieldError says which field of a template is wrong. Path is relative to
// the template, in YAML field names: "metrics[1].query".
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Provider is one metric back-end, chosen by name.
type Provider interface {
	// Value is the single value of an instant query at `at` (zero time:
	// now). No data is an error.
	Value(ctx context.Context, query string, at time.Time) (float64, error)
	// Values are the points of a range query that must give one series.
	Values(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]float64, error)
}

// ErrUnknownProvider is wrapped by Providers.Get for a name it lacks.
var ErrUnknownProvider = errors.New("unknown metric provider")

// Providers are the configured providers by name.
type Providers map[string]Provider

// Get returns the provider called name ("" means "prometheus"). There is
// no fallback: an unknown name is an error listing the known ones.
func (p Providers) Get(name string) (Provider, error) {
	if name == "" {
		name = DefaultProvider
	}
	if prov := p[name]; prov != nil {
		return prov, nil
	}
	known := make([]string, 0, len(p))
	for k, v := range p {
		if v != nil {
			known = append(known, k)
		}
	}
	sort.Strings(known)
	if len(known) == 0 {
		return nil, fmt.Errorf("%w %q: none is configured", ErrUnknownProvider, name)
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownProvider, name, strings.Join(known, ", "))
}

// Measurement is one evaluation of one metric.
type Measurement struct {
	Metric string    `json:"metric"`
	At     time.Time `json:"at"`
	Value  float64   `json:"value"` // NaN when there is none (null in JSON)
	Phase  Phase     `json:"phase"`
	Detail string    `json:"detail,omitempty"` // why: the condition that held, the error, the judge's explanation
}

// MetricResult is the state of one metric in a run.
type MetricResult struct {
	Name                                                        string
	Verdict                                                     Verdict
	Reason                                                      string // one line a person can act on
	Measurements                                                []Measurement
	Successful, Failed, Inconclusive, Errors, ConsecutiveErrors int
}

// Taken is the number of measurements that count toward Count: errors do
// not (Argo's MetricResult.Count).
func (r MetricResult) Taken() int { return r.Successful + r.Failed + r.Inconclusive }

// Add counts m into r and appends it. An error adds to Errors and
// ConsecutiveErrors only; any other phase resets ConsecutiveErrors, as
// Argo's runMeasurements does.
func (r *MetricResult) Add(m Measurement) {
	r.Measurements = append(r.Measurements, m)
	switch m.Phase {
	case PhaseSuccessful:
		r.Successful++
	case PhaseFailed:
		r.Failed++
	case PhaseInconclusive:
		r.Inconclusive++
	case PhaseError:
		r.Errors++
		r.ConsecutiveErrors++
		return
	}
	r.ConsecutiveErrors = 0
}

// Result is the outcome of running one template.
type Result struct {
	Template          string
	Verdict           Verdict
	Reason            string // e.g. "error-ratio: 2 of 3 measurements failed (limit 1): ..."
	Metrics           []MetricResult
	Judge             []JudgeReport // judge templates: one per round
	Started, Finished time.Time
}

// Verdicts lists the metrics' verdicts in order.
func (r Result) Verdicts() []Verdict {
	out := make([]Verdict, len(r.Metrics))
	for i, m := range r.Metrics {
		out[i] = m.Verdict
	}
	return out
}

// knownDirection reports whether d names a direction.
func knownDirection(d string) bool {
	return slices.Contains([]string{DirectionIncrease, DirectionDecrease, DirectionEither}, d)
}
