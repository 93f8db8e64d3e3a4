package analysis

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRunnerJudge(t *testing.T) {
	t.Parallel()
	const canaryLabel, stableLabel = `version="1.4.2"`, `version="1.4.1"`
	judgeTmpl := func(count int, crit bool) Template {
		return Template{Name: "canary", Count: count, Judge: &Judge{Lookback: 2 * time.Minute, Step: 10 * time.Second},
			Metrics: []Metric{
				{Name: "error-ratio", Query: errQuery, Critical: crit},
				{Name: "throughput", Query: `sum(rate(http_requests_total{version="{{.Version}}"}[1m]))`, Direction: "decrease"},
			}}
	}
	// series answers per version: the canary's error ratio is canaryErr;
	// throughput is the same on both sides.
	series := func(canaryErr float64, fail error) func(string, time.Time, time.Time, time.Duration) ([]float64, error) {
		return func(q string, start, end time.Time, step time.Duration) ([]float64, error) {
			if end.Sub(start) != 2*time.Minute || step != 10*time.Second {
				return nil, fmt.Errorf("range %s..%s step %s", start, end, step)
			}
			v := 0.004
			switch {
			case strings.HasPrefix(q, "sum(rate(http_requests_total{version"):
				v = 200
			case strings.Contains(q, canaryLabel):
				v = canaryErr
			case !strings.Contains(q, stableLabel):
				return nil, fmt.Errorf("query %s names neither version", q)
			case fail != nil:
				return nil, fail
			}
			return around(v, 13), nil
		}
	}
	tests := []struct {
		name    string
		tmpl    Template
		vars    Vars
		values  func(string, time.Time, time.Time, time.Duration) ([]float64, error)
		want    Verdict
		rounds  int
		reason  string
		phases  string // of the last round
		explain string
	}{
		{name: "healthy", tmpl: judgeTmpl(3, false), vars: vars, values: series(0.004, nil),
			want: Successful, rounds: 3, reason: "all 2 metrics successful (last judge score 100 >= pass 95)", phases: "Successful Successful"},
		{name: "regression stops at the first round", tmpl: judgeTmpl(5, false), vars: vars, values: series(0.05, nil),
			want: Failed, rounds: 1, reason: "error-ratio: 1 of 1 measurements failed (limit 0): canary median 0.05 vs baseline 0.004 (+1150%)", phases: "Failed Successful",
			explain: "score 50 < marginal 75: failing error-ratio"},
		{name: "critical", tmpl: judgeTmpl(5, true), vars: vars, values: series(0.05, nil),
			want: Failed, rounds: 1, phases: "Failed Successful", explain: "critical metric error-ratio failed"},
		{name: "baseline down is inconclusive", tmpl: judgeTmpl(10, false), vars: vars, values: series(0.004, errors.New("connection refused")),
			want: Inconclusive, rounds: 5, reason: "error-ratio: 5 consecutive measurement errors (limit 4): baseline: connection refused", phases: "Error Successful"},
		{name: "no stable version", tmpl: judgeTmpl(1, false), vars: Vars{App: "checkout", Env: "prod", Version: "1.4.2", Canary: "1.4.2"}, values: series(0.004, nil),
			want: Inconclusive, rounds: 5, reason: "error-ratio: 5 consecutive measurement errors (limit 4): baseline: no stable version to compare the canary with", phases: "Error Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := &fakeProvider{values: tt.values}
			clock := newClock()
			var seen []Measurement
			r := &Runner{Providers: Providers{"prometheus": prov}, Now: clock.Now, Sleep: clock.Sleep,
				Observe: func(m Measurement) { seen = append(seen, m) }}
			res, err := r.Run(t.Context(), mustCompile(t, tt.tmpl), tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.want || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("verdict %s %q, want %s %q", res.Verdict, res.Reason, tt.want, tt.reason)
			}
			if len(res.Judge) != tt.rounds || len(seen) != 2*tt.rounds {
				t.Errorf("%d judge reports, %d measurements; want %d rounds", len(res.Judge), len(seen), tt.rounds)
			}
			last := seen[len(seen)-2:]
			if got := string(last[0].Phase) + " " + string(last[1].Phase); got != tt.phases {
				t.Errorf("last phases %s, want %s (%s | %s)", got, tt.phases, last[0].Detail, last[1].Detail)
			}
			if want := clock.now; !last[0].At.Equal(want) {
				t.Errorf("measured at %s, want %s", last[0].At, want)
			}
			if !strings.Contains(res.Explain(), tt.explain) {
				t.Errorf("explanation lacks %q:\n%s", tt.explain, res.Explain())
			}
			if last[1].Phase == PhaseSuccessful && last[1].Value != 200 {
				t.Errorf("throughput measured %v, want the canary median 200", last[1].Value)
			}
		})
	}
}

// TestRunnerJudgeRetry: a judged metric whose query errors is measured
// again 10 s later and the error does not count; the other metric keeps
// its interval. Each round judges both (the score is over all metrics)
// and is recorded for the metrics that were due.
func TestRunnerJudgeRetry(t *testing.T) {
	t.Parallel()
	baselineCalls := 0
	prov := &fakeProvider{values: func(q string, _, _ time.Time, _ time.Duration) ([]float64, error) {
		if strings.Contains(q, "_total{version") { // throughput
			return around(200, 13), nil
		}
		if strings.Contains(q, `version="1.4.1"`) {
			if baselineCalls++; baselineCalls == 1 {
				return nil, errors.New("connection refused")
			}
		}
		return around(0.004, 13), nil
	}}
	clock := newClock()
	var seen []string
	r := &Runner{Providers: Providers{"prometheus": prov}, Now: clock.Now, Sleep: clock.Sleep,
		Observe: func(m Measurement) { seen = append(seen, fmt.Sprintf("%s@%s:%s", m.Metric, m.At.Sub(t0), m.Phase)) }}
	c := mustCompile(t, Template{Name: "canary", Count: 2, Interval: time.Minute, Judge: &Judge{}, Metrics: []Metric{
		{Name: "error-ratio", Query: errQuery},
		{Name: "throughput", Query: `sum(rate(http_requests_total{version="{{.Version}}"}[1m]))`, Direction: "decrease"},
	}})
	res, err := r.Run(t.Context(), c, vars)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Successful {
		t.Errorf("verdict %s %q, want Successful", res.Verdict, res.Reason)
	}
	const want = "[error-ratio@0s:Error throughput@0s:Successful error-ratio@10s:Successful throughput@1m0s:Successful error-ratio@1m10s:Successful]"
	if got := fmt.Sprint(seen); got != want {
		t.Errorf("measurements %s\nwant         %s", got, want)
	}
	if fmt.Sprint(clock.sleeps) != "[10s 50s 10s]" || len(res.Judge) != 4 {
		t.Errorf("slept %v, %d judge rounds; want [10s 50s 10s], 4", clock.sleeps, len(res.Judge))
	}
}

func TestRunnerJudgeExplainGolden(t *testing.T) {
	t.Parallel()
	prov := &fakeProvider{values: func(q string, _, _ time.Time, _ time.Duration) ([]float64, error) {
		if strings.Contains(q, `version="1.4.2"`) {
			return around(0.051, 13), nil
		}
		return around(0.004, 31), nil
	}}
	clock := newClock()
	c := mustCompile(t, Template{Name: "canary", Count: 5, Interval: time.Minute, Judge: &Judge{},
		Metrics: []Metric{{Name: "error-ratio", Query: errQuery}}})
	res, err := (&Runner{Providers: Providers{"prometheus": prov}, Now: clock.Now, Sleep: clock.Sleep}).Run(t.Context(), c, vars)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "explain-judge.golden", res.Explain())
}
