package analysis

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// compileOne compiles a one-metric condition template.
func compileOne(t testing.TB, success, failure string) *Compiled {
	t.Helper()
	c, err := Compile(Template{Name: "t", Metrics: []Metric{{
		Name: "m", Query: "vector(1)", SuccessCondition: success, FailureCondition: failure}}}, []string{"prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAssessMeasurement(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	tests := []struct {
		name             string
		success, failure string
		value            float64
		err              error
		want             Phase
		detail           string
	}{
		{name: "error", success: "result < 0.01", value: 0, err: errors.New("prometheus down"), want: PhaseError, detail: "prometheus down"},
		{name: "NaN with success only", success: "result < 0.01", value: math.NaN(), want: PhaseInconclusive, detail: "NaN is not a success"},
		{name: "NaN with failure only", failure: "result >= 0.01", value: math.NaN(), want: PhaseInconclusive, detail: "NaN is not a success"},
		{name: "NaN with a condition true for NaN", success: "result != 1", value: math.NaN(), want: PhaseInconclusive},
		{name: "+Inf fails less-than", success: "result < 0.01", value: inf, want: PhaseFailed, detail: "+Inf: successCondition result < 0.01 does not hold"},
		{name: "-Inf passes less-than", success: "result < 0.01", value: math.Inf(-1), want: PhaseSuccessful},
		{name: "+Inf hits failure", failure: "result > 100", value: inf, want: PhaseFailed},
		{name: "success only, holds", success: "result < 0.01", value: 0.004, want: PhaseSuccessful, detail: "0.004: successCondition result < 0.01 holds"},
		{name: "success only, does not hold", success: "result < 0.01", value: 0.052, want: PhaseFailed, detail: "0.052: successCondition result < 0.01 does not hold"},
		{name: "failure only, holds", failure: "result >= 0.05", value: 0.052, want: PhaseFailed, detail: "0.052: failureCondition result >= 0.05 holds"},
		{name: "failure only, does not hold", failure: "result >= 0.05", value: 0.01, want: PhaseSuccessful},
		{name: "both hold: failure wins", success: "result > 0", failure: "result > 0.5", value: 1, want: PhaseFailed},
		{name: "success holds", success: "result < 0.01", failure: "result >= 0.05", value: 0.001, want: PhaseSuccessful},
		{name: "neither holds", success: "result < 0.01", failure: "result >= 0.05", value: 0.02, want: PhaseInconclusive, detail: "neither"},
		{name: "runtime error is an error", success: "[1, 2][int(result)] > 0", value: 5, want: PhaseError, detail: "5: successCondition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compileOne(t, tt.success, tt.failure)
			got, detail := AssessMeasurement(c.Metric(0), tt.value, tt.err)
			if got != tt.want {
				t.Errorf("phase %s (%s), want %s", got, detail, tt.want)
			}
			if !strings.Contains(detail, tt.detail) || detail == "" {
				t.Errorf("detail %q, want it to contain %q", detail, tt.detail)
			}
		})
	}
}

func TestAssessMetric(t *testing.T) {
	t.Parallel()
	two := 2
	zero := 0
	tests := []struct {
		name string
		t    Template
		r    MetricResult
		want Verdict
		why  string
	}{
		{name: "nothing yet", t: Template{Count: 3}, r: MetricResult{}, want: Running},
		{name: "some in", t: Template{Count: 3}, r: MetricResult{Successful: 2}, want: Running, why: "2 of 3 measurements taken"},
		{name: "count reached", t: Template{Count: 3}, r: MetricResult{Successful: 3}, want: Successful, why: "3 of 3 measurements successful"},
		{name: "count 0 means 1", t: Template{}, r: MetricResult{Successful: 1}, want: Successful},
		{name: "one failure, limit 0", t: Template{Count: 5}, r: MetricResult{Successful: 1, Failed: 1}, want: Failed, why: "1 of 2 measurements failed (limit 0)"},
		{name: "failures within limit", t: Template{Count: 3, FailureLimit: 1}, r: MetricResult{Successful: 2, Failed: 1}, want: Successful, why: "1 failed"},
		{name: "failures over limit", t: Template{Count: 3, FailureLimit: 1}, r: MetricResult{Successful: 1, Failed: 2}, want: Failed},
		{name: "inconclusive, limit 0", t: Template{Count: 3}, r: MetricResult{Inconclusive: 1}, want: Inconclusive},
		{name: "inconclusive within limit", t: Template{Count: 3, InconclusiveLimit: 1}, r: MetricResult{Inconclusive: 1}, want: Running},
		{name: "failed beats inconclusive", t: Template{Count: 3}, r: MetricResult{Inconclusive: 1, Failed: 1}, want: Failed},
		{name: "errors within default limit", t: Template{Count: 10}, r: MetricResult{Errors: 4, ConsecutiveErrors: 4}, want: Running},
		{name: "errors over default limit", t: Template{Count: 10}, r: MetricResult{Errors: 5, ConsecutiveErrors: 5}, want: Inconclusive, why: "5 consecutive measurement errors (limit 4)"},
		{name: "errors not consecutive", t: Template{Count: 10, ConsecutiveErrorLimit: &two}, r: MetricResult{Errors: 5, ConsecutiveErrors: 1, Successful: 3}, want: Running},
		{name: "error limit 0", t: Template{Count: 10, ConsecutiveErrorLimit: &zero}, r: MetricResult{Errors: 1, ConsecutiveErrors: 1}, want: Inconclusive},
		{name: "only errors at count: never a pass", t: Template{Count: 2}, r: MetricResult{Errors: 2, ConsecutiveErrors: 2}, want: Inconclusive, why: "none of 2 measurements succeeded"},
		{name: "only tolerated NaN at count: never a pass", t: Template{Count: 1, InconclusiveLimit: 1}, r: MetricResult{Inconclusive: 1}, want: Inconclusive},
		{name: "errors at count with a success", t: Template{Count: 3}, r: MetricResult{Successful: 1, Errors: 2, ConsecutiveErrors: 2}, want: Successful, why: "2 errors within limits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AssessMetric(tt.r, tt.t); got != tt.want {
				t.Errorf("AssessMetric = %s (%s), want %s", got, MetricReason(tt.r, tt.t), tt.want)
			}
			if why := MetricReason(tt.r, tt.t); !strings.Contains(why, tt.why) {
				t.Errorf("reason %q, want it to contain %q", why, tt.why)
			}
		})
	}
}

func TestMetricResultAdd(t *testing.T) {
	t.Parallel()
	var r MetricResult
	for _, p := range []Phase{PhaseError, PhaseError, PhaseSuccessful, PhaseError, PhaseFailed, PhaseInconclusive, PhaseError} {
		r.Add(Measurement{Phase: p})
	}
	want := MetricResult{Successful: 1, Failed: 1, Inconclusive: 1, Errors: 4, ConsecutiveErrors: 1}
	r.Measurements = nil
	if r.Successful != want.Successful || r.Failed != want.Failed || r.Inconclusive != want.Inconclusive ||
		r.Errors != want.Errors || r.ConsecutiveErrors != want.ConsecutiveErrors {
		t.Errorf("counts %+v, want %+v", r, want)
	}
}

func TestAssessRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []Verdict
		want Verdict
	}{
		{nil, Inconclusive},
		{[]Verdict{Successful}, Successful},
		{[]Verdict{Successful, Successful}, Successful},
		{[]Verdict{Successful, Running}, Running},
		{[]Verdict{Running, Inconclusive}, Inconclusive},
		{[]Verdict{Inconclusive, Failed, Running}, Failed},
		{[]Verdict{Successful, Failed}, Failed},
		{[]Verdict{Successful, "Bogus"}, Inconclusive},
	}
	for _, tt := range tests {
		if got := AssessRun(tt.in); got != tt.want {
			t.Errorf("AssessRun(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
