package analysis

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeProvider answers from functions of the query; it is the Runner's
// input, recorded.
type fakeProvider struct {
	mu     sync.Mutex
	value  func(n int, query string, at time.Time) (float64, error)
	values func(query string, start, end time.Time, step time.Duration) ([]float64, error)
	calls  []string
}

func (f *fakeProvider) Value(_ context.Context, query string, at time.Time) (float64, error) {
	f.mu.Lock()
	f.calls = append(f.calls, query)
	n := len(f.calls)
	f.mu.Unlock()
	return f.value(n, query, at)
}

func (f *fakeProvider) Values(_ context.Context, query string, start, end time.Time, step time.Duration) ([]float64, error) {
	f.mu.Lock()
	f.calls = append(f.calls, query)
	f.mu.Unlock()
	return f.values(query, start, end, step)
}

// sequence answers the n-th instant query with vs[n-1] (the last one
// after), errors where vs holds an error.
func sequence(vs ...any) func(int, string, time.Time) (float64, error) {
	return func(n int, _ string, _ time.Time) (float64, error) {
		switch v := vs[min(n, len(vs))-1].(type) {
		case error:
			return 0, v
		case float64:
			return v, nil
		}
		panic("bad sequence")
	}
}

// fakeClock advances only when the Runner sleeps.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
	onTick func(n int) // called at each sleep, before time advances
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	if c.onTick != nil {
		c.onTick(len(c.sleeps))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	return nil
}

func mustCompile(t testing.TB, tmpl Template) *Compiled {
	t.Helper()
	c, err := Compile(tmpl, []string{"prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var vars = Vars{App: "checkout", Env: "prod", Version: "1.4.2", Stable: "1.4.1", Canary: "1.4.2"}

func TestRunnerConditions(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	ratio := Metric{Name: "error-ratio", Query: errQuery, SuccessCondition: "result < 0.01"}
	tests := []struct {
		name       string
		tmpl       Template
		answers    []any
		want       Verdict
		reason     string
		queries    int
		sleeps     []time.Duration
		firstAfter time.Duration // first measurement, after the start
	}{
		{name: "all good", tmpl: Template{Count: 3}, answers: []any{0.001},
			want: Successful, reason: "all 1 metrics successful", queries: 3, sleeps: []time.Duration{10 * time.Second, 10 * time.Second}},
		{name: "stops at the first failing round", tmpl: Template{Count: 5, Interval: time.Minute}, answers: []any{0.001, 0.052},
			want: Failed, reason: "error-ratio: 1 of 2 measurements failed (limit 0): 0.052: successCondition result < 0.01 does not hold", queries: 2, sleeps: []time.Duration{time.Minute}},
		{name: "failure limit", tmpl: Template{Count: 5, FailureLimit: 1}, answers: []any{0.05, 0.001, 0.06},
			want: Failed, reason: "2 of 3 measurements failed (limit 1)", queries: 3, sleeps: []time.Duration{10 * time.Second, 10 * time.Second}},
		{name: "initial delay", tmpl: Template{Count: 2, InitialDelay: 30 * time.Second}, answers: []any{0.001},
			want: Successful, queries: 2, sleeps: []time.Duration{30 * time.Second, 10 * time.Second}, firstAfter: 30 * time.Second},
		{name: "Prometheus down is inconclusive", tmpl: Template{Count: 10}, answers: []any{down},
			want: Inconclusive, reason: "5 consecutive measurement errors (limit 4): connection refused", queries: 5,
			sleeps: []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}},
		// Errors do not count toward count (argo-rollouts
		// TestRunMeasurementsResetConsecutiveErrorCounter): 2 errors and 4
		// measurements.
		{name: "errors then recovery", tmpl: Template{Count: 4}, answers: []any{down, down, 0.001},
			want: Successful, reason: "all 1 metrics successful", queries: 6, sleeps: []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}},
		// The case: count 1 and one transient error is measured
		// again, not Inconclusive.
		{name: "a single transient error is measured again", tmpl: Template{}, answers: []any{down, 0.001},
			want: Successful, reason: "all 1 metrics successful", queries: 2, sleeps: []time.Duration{10 * time.Second}},
		{name: "a single error with count 1 and Prometheus down", tmpl: Template{}, answers: []any{down},
			want: Inconclusive, reason: "5 consecutive measurement errors (limit 4): connection refused", queries: 5,
			sleeps: []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}},
		// An error is retried after 10 s whatever the interval (argo-rollouts
		// TestCalculateNextReconcileUponError).
		{name: "an error is retried after 10s, not the interval", tmpl: Template{Count: 3, Interval: 5 * time.Minute}, answers: []any{0.001, down, 0.001},
			want: Successful, queries: 4, sleeps: []time.Duration{5 * time.Minute, 10 * time.Second, 5 * time.Minute}},
		{name: "consecutiveErrorLimit 1", tmpl: Template{Count: 3, ConsecutiveErrorLimit: ptr(1)}, answers: []any{0.001, down, down},
			want: Inconclusive, reason: "2 consecutive measurement errors (limit 1): connection refused", queries: 3, sleeps: []time.Duration{10 * time.Second, 10 * time.Second}},
		{name: "consecutiveErrorLimit 0: the first error ends it", tmpl: Template{Count: 3, ConsecutiveErrorLimit: ptr(0)}, answers: []any{down},
			want: Inconclusive, reason: "1 consecutive measurement errors (limit 0)", queries: 1},
		// A success resets the run of errors: 4 + 4 errors with the default
		// limit of 4 never end the metric.
		{name: "a success resets the run of errors", tmpl: Template{Count: 2}, answers: []any{down, down, down, down, 0.001, down, down, down, down, 0.001},
			want: Successful, queries: 10, sleeps: []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}},
		{name: "a failure after errors fails", tmpl: Template{Count: 3}, answers: []any{down, 0.5},
			want: Failed, reason: "1 of 1 measurements failed (limit 0): 0.5", queries: 2, sleeps: []time.Duration{10 * time.Second}},
		{name: "NaN is inconclusive", tmpl: Template{Count: 3}, answers: []any{math.NaN()},
			want: Inconclusive, reason: "1 of 1 measurements inconclusive (limit 0): NaN is not a success", queries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.tmpl.Name = "smoke"
			tt.tmpl.Metrics = []Metric{ratio}
			c := mustCompile(t, tt.tmpl)
			prov := &fakeProvider{value: sequence(tt.answers...)}
			clock := newClock()
			var seen []Measurement
			r := &Runner{Providers: Providers{"prometheus": prov}, Now: clock.Now, Sleep: clock.Sleep,
				Observe: func(m Measurement) { seen = append(seen, m) }}
			res, err := r.Run(t.Context(), c, vars)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.want || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verdict %s %q, want %s %q", res.Verdict, res.Reason, tt.want, tt.reason)
			}
			if len(prov.calls) != tt.queries || len(seen) != tt.queries || len(res.Metrics[0].Measurements) != tt.queries {
				t.Errorf("%d queries, %d observed, %d measurements; want %d", len(prov.calls), len(seen), len(res.Metrics[0].Measurements), tt.queries)
			}
			if fmt.Sprint(clock.sleeps) != fmt.Sprint(tt.sleeps) {
				t.Errorf("slept %v, want %v", clock.sleeps, tt.sleeps)
			}
			if !strings.Contains(prov.calls[0], `version="1.4.2"`) {
				t.Errorf("query %s not rendered with the version", prov.calls[0])
			}
			if got := seen[0].At.Sub(t0); got != tt.firstAfter {
				t.Errorf("first measurement %s after the start, want %s", got, tt.firstAfter)
			}
			if res.Metrics[0].Verdict != tt.want || !res.Started.Equal(t0) || !res.Finished.Equal(clock.now) {
				t.Errorf("metric verdict %s, started %s, finished %s", res.Metrics[0].Verdict, res.Started, res.Finished)
			}
		})
	}
}

func TestRunnerSeveralMetrics(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, Template{Name: "smoke", Count: 3, Metrics: []Metric{
		{Name: "error-ratio", Query: errQuery, SuccessCondition: "result < 0.01"},
		{Name: "p99-latency", Query: `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{version="{{.Version}}"}[1m])))`, FailureCondition: "result > 0.5"},
	}})
	prov := &fakeProvider{value: func(_ int, q string, at time.Time) (float64, error) {
		if strings.HasPrefix(q, "histogram_quantile") {
			if at.Sub(t0) >= 10*time.Second {
				return 0.8, nil
			}
			return 0.2, nil
		}
		return 0.002, nil
	}}
	clock := newClock()
	r := &Runner{Providers: Providers{"prometheus": prov}, Now: clock.Now, Sleep: clock.Sleep}
	res, err := r.Run(t.Context(), c, vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Failed || res.Metrics[0].Verdict != Running || res.Metrics[1].Verdict != Failed {
		t.Fatalf("verdicts %s %v", res.Verdict, res.Verdicts())
	}
	const want = "p99-latency: 1 of 2 measurements failed (limit 0): 0.8: failureCondition result > 0.5 holds"
	if res.Reason != want {
		t.Errorf("reason %q, want %q", res.Reason, want)
	}
	golden(t, "explain-failed.golden", res.Explain())
}

// TestRunnerSchedulesEachMetric: each metric keeps its own schedule, as in
// Argo: the one whose query errored is measured again 10 s later, the
// other after its interval, and a metric that reached its count is not
// measured again.
func TestRunnerSchedulesEachMetric(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, Template{Name: "smoke", Count: 2, Interval: time.Minute, Metrics: []Metric{
		{Name: "error-ratio", Query: errQuery, SuccessCondition: "result < 0.01"},
		{Name: "up", Query: `up{version="{{.Version}}"}`, SuccessCondition: "result > 0"},
	}})
	upCalls := 0
	prov := &fakeProvider{value: func(_ int, q string, _ time.Time) (float64, error) {
		if strings.HasPrefix(q, "up") {
			if upCalls++; upCalls == 1 {
				return 0, errors.New("connection refused")
			}
			return 1, nil
		}
		return 0.001, nil
	}}
	clock := newClock()
	var seen []string
	r := &Runner{Providers: Providers{"prometheus": prov}, Now: clock.Now, Sleep: clock.Sleep,
		Observe: func(m Measurement) { seen = append(seen, fmt.Sprintf("%s@%s:%s", m.Metric, m.At.Sub(t0), m.Phase)) }}
	res, err := r.Run(t.Context(), c, vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Successful {
		t.Errorf("verdict %s %q", res.Verdict, res.Reason)
	}
	const want = "[error-ratio@0s:Successful up@0s:Error up@10s:Successful error-ratio@1m0s:Successful up@1m10s:Successful]"
	if got := fmt.Sprint(seen); got != want {
		t.Errorf("measurements %s\nwant         %s", got, want)
	}
	if fmt.Sprint(clock.sleeps) != "[10s 50s 10s]" {
		t.Errorf("slept %v, want [10s 50s 10s]", clock.sleeps)
	}
}

// TestRunnerEnds: whatever the provider answers, a run ends within
// (count+1)*(limit+1) measurements per metric, and its verdict is
// AssessMetric's on the measurements it took. The answers are a seeded
// random mix of errors, NaN, passes and failures.
func TestRunnerEnds(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(17, 1))
	answers := []any{errors.New("connection refused"), math.NaN(), 0.001, 0.5}
	for i := range 500 {
		count, limit := 1+rng.IntN(5), rng.IntN(5)
		tmpl := Template{Name: "smoke", Count: count, ConsecutiveErrorLimit: &limit,
			FailureLimit: rng.IntN(3), InconclusiveLimit: rng.IntN(3),
			Metrics: []Metric{{Name: "m", Query: errQuery, SuccessCondition: "result < 0.01"}}}
		weights := []int{rng.IntN(10), rng.IntN(3), rng.IntN(10), rng.IntN(2)}
		prov := &fakeProvider{value: func(int, string, time.Time) (float64, error) {
			k := rng.IntN(weights[0] + weights[1] + weights[2] + weights[3] + 1)
			for j, w := range weights {
				if k < w {
					if err, ok := answers[j].(error); ok {
						return 0, err
					}
					return answers[j].(float64), nil
				}
				k -= w
			}
			return 0.001, nil
		}}
		clock := newClock()
		c := mustCompile(t, tmpl)
		res, err := (&Runner{Providers: Providers{"prometheus": prov}, Now: clock.Now, Sleep: clock.Sleep}).Run(t.Context(), c, vars)
		if err != nil {
			t.Fatal(err)
		}
		m := res.Metrics[0]
		if n, bound := len(m.Measurements), (count+1)*(limit+1); n > bound {
			t.Fatalf("case %d: %d measurements, bound %d", i, n, bound)
		}
		if res.Verdict == Running || res.Verdict != AssessMetric(m, c.Template()) {
			t.Fatalf("case %d: verdict %s, AssessMetric says %s", i, res.Verdict, AssessMetric(m, c.Template()))
		}
	}
}

// TestRunnerCancelWhileErroring: a run kept going by errors (a high
// consecutiveErrorLimit) stops when ctx ends, with the real timer.
func TestRunnerCancelWhileErroring(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	prov := &fakeProvider{value: func(n int, _ string, _ time.Time) (float64, error) {
		if n == 3 {
			cancel()
		}
		return 0, errors.New("connection refused")
	}}
	c := mustCompile(t, Template{Name: "smoke", Count: 1, ConsecutiveErrorLimit: ptr(1000), Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "result > 0"}}})
	var slept []time.Duration
	r := &Runner{Providers: Providers{"prometheus": prov}, Sleep: func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return ctx.Err() // no waiting: the test is about ctx, not time
	}}
	res, err := r.Run(ctx, c, vars)
	if !errors.Is(err, context.Canceled) || res.Verdict != Inconclusive || len(prov.calls) != 3 {
		t.Errorf("%s %q %v after %d queries, want Inconclusive, context.Canceled after 3", res.Verdict, res.Reason, err, len(prov.calls))
	}
}

func TestRunnerCancel(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, Template{Name: "smoke", Count: 5, Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "result > 0"}}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clock := newClock()
	clock.onTick = func(n int) {
		if n == 2 {
			cancel()
		}
	}
	prov := &fakeProvider{value: sequence(1.0)}
	r := &Runner{Providers: Providers{"prometheus": prov}, Now: clock.Now, Sleep: clock.Sleep}
	res, err := r.Run(ctx, c, vars)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if res.Verdict != Inconclusive || res.Reason != "cancelled after 2 rounds of measurements (count 5): context canceled" {
		t.Errorf("verdict %s %q", res.Verdict, res.Reason)
	}
	if n := len(res.Metrics[0].Measurements); n != 2 || len(prov.calls) != 2 {
		t.Errorf("%d measurements, %d queries; want 2", n, len(prov.calls))
	}

	// Cancelled during the initial delay, with the real timer.
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	c2 := mustCompile(t, Template{Name: "slow", InitialDelay: time.Hour, Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "result > 0"}}})
	res, err = (&Runner{Providers: Providers{"prometheus": prov}}).Run(ctx2, c2, vars)
	if !errors.Is(err, context.Canceled) || res.Verdict != Inconclusive || !strings.HasPrefix(res.Reason, "cancelled after 0 rounds of measurements (count 1)") {
		t.Errorf("cancelled initial delay: %s %q %v", res.Verdict, res.Reason, err)
	}
}

func TestRunnerUnknownProvider(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, Template{Name: "smoke", Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "result > 0"}}})
	res, err := (&Runner{Providers: Providers{"thanos": &fakeProvider{}}}).Run(t.Context(), c, vars)
	if !errors.Is(err, ErrUnknownProvider) || res.Verdict != Inconclusive || !strings.Contains(res.Reason, `metric a: unknown metric provider "prometheus" (known: thanos)`) {
		t.Errorf("%s %q %v", res.Verdict, res.Reason, err)
	}
}

func ptr[T any](v T) *T { return &v }

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}
