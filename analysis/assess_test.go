package analysis

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
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
		// Errors do not count toward count: measured again, not decided.
		{name: "errors do not reach count", t: Template{Count: 2}, r: MetricResult{Errors: 2, ConsecutiveErrors: 2}, want: Running, why: "0 of 2 measurements taken, 2 errors in a row (limit 4)"},
		{name: "one error with count 1", t: Template{}, r: MetricResult{Errors: 1, ConsecutiveErrors: 1}, want: Running},
		{name: "only tolerated NaN at count: never a pass", t: Template{Count: 1, InconclusiveLimit: 1}, r: MetricResult{Inconclusive: 1}, want: Inconclusive, why: "none of 1 measurements succeeded"},
		{name: "a success and errors short of count", t: Template{Count: 3}, r: MetricResult{Successful: 1, Errors: 2, ConsecutiveErrors: 2}, want: Running, why: "1 of 3 measurements taken"},
		{name: "count reached after retried errors", t: Template{Count: 3}, r: MetricResult{Successful: 3, Errors: 2}, want: Successful, why: "3 of 3 measurements successful (0 failed, 0 inconclusive within limits; 2 errors retried)"},
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

// TestAssessMetricArgo replays the cases of argo-rollouts'
// analysis/analysis_test.go (the function in `argo`) against
// AssessMetric. Argo's phase is in `argoPhase`; ferry's verdict is the
// same except that Argo's Error is ferry's Inconclusive, and where
// `differs` gives the reason. A metric without count in Argo runs until
// terminated; ferry has no such metric, so those cases use a count that
// is not reached.
func TestAssessMetricArgo(t *testing.T) {
	t.Parallel()
	two, three, four := 2, 3, 4
	tests := []struct {
		argo      string
		t         Template
		r         MetricResult
		argoPhase string
		want      Verdict
		differs   string
	}{
		{argo: "TestAssessMetricStatusNoMeasurements", t: Template{}, r: MetricResult{},
			argoPhase: "Pending", want: Running},
		{argo: "TestAssessMetricStatusFailureLimit", t: Template{Count: 10, FailureLimit: two}, r: MetricResult{Failed: 3},
			argoPhase: "Failed", want: Failed},
		{argo: "TestAssessMetricStatusFailureLimit (limit 3)", t: Template{Count: 10, FailureLimit: three}, r: MetricResult{Failed: 3},
			argoPhase: "Running", want: Running},
		{argo: "TestAssessMetricStatusInconclusiveLimit", t: Template{Count: 10, InconclusiveLimit: two}, r: MetricResult{Inconclusive: 3},
			argoPhase: "Inconclusive", want: Inconclusive},
		{argo: "TestAssessMetricStatusInconclusiveLimit (limit 3)", t: Template{Count: 10, InconclusiveLimit: three}, r: MetricResult{Inconclusive: 3},
			argoPhase: "Running", want: Running},
		{argo: "TestAssessMetricStatusConsecutiveErrors", t: Template{Count: 10}, r: MetricResult{Errors: 5, ConsecutiveErrors: 5},
			argoPhase: "Error", want: Inconclusive},
		{argo: "TestAssessMetricStatusConsecutiveErrors (4 errors)", t: Template{Count: 10}, r: MetricResult{Errors: 4, ConsecutiveErrors: 4},
			argoPhase: "Running", want: Running},
		{argo: "TestAssessMetricStatusConsecutiveErrors (limit 4 given)", t: Template{Count: 10, ConsecutiveErrorLimit: &four}, r: MetricResult{Errors: 5, ConsecutiveErrors: 5},
			argoPhase: "Error", want: Inconclusive},
		{argo: "TestAssessMetricStatusCountReached", t: Template{Count: 10}, r: MetricResult{Successful: 10},
			argoPhase: "Successful", want: Successful},
		{argo: "TestAssessMetricStatusCountReached (5 inconclusive)", t: Template{Count: 10}, r: MetricResult{Successful: 5, Inconclusive: 5},
			argoPhase: "Inconclusive", want: Inconclusive},
		{argo: "TestAssessMetricFailureInconclusiveOrError (failed)", t: Template{}, r: MetricResult{Failed: 1},
			argoPhase: "Failed", want: Failed},
		{argo: "TestAssessMetricFailureInconclusiveOrError (inconclusive)", t: Template{}, r: MetricResult{Inconclusive: 1},
			argoPhase: "Inconclusive", want: Inconclusive},
		{argo: "TestAssessMetricFailureInconclusiveOrError (errors)", t: Template{}, r: MetricResult{ConsecutiveErrors: 5},
			argoPhase: "Error", want: Inconclusive},
		// The case: count 1, one error. Argo measures again.
		{argo: "TestRunMeasurementsResetConsecutiveErrorCounter (an error leaves Count)", t: Template{}, r: MetricResult{Errors: 1, ConsecutiveErrors: 1},
			argoPhase: "Running", want: Running},
		{argo: "assessMetricStatus: 1 success and 2 errors of count 3", t: Template{Count: 3}, r: MetricResult{Successful: 1, Errors: 2, ConsecutiveErrors: 2},
			argoPhase: "Running", want: Running},
		{argo: "assessMetricStatus: count reached, errors within the limit", t: Template{Count: 2}, r: MetricResult{Successful: 2, Errors: 4},
			argoPhase: "Successful", want: Successful},
		// Deliberate differences.
		{argo: "assessMetricStatus: count reached, all tolerated inconclusive", t: Template{Count: 2, InconclusiveLimit: two}, r: MetricResult{Inconclusive: 2},
			argoPhase: "Successful", want: Inconclusive, differs: "no data is never a pass"},
		{argo: "assessMetricFailureInconclusiveOrError: failed and errors over their limits at once", t: Template{Count: 10}, r: MetricResult{Failed: 1, ConsecutiveErrors: 5},
			argoPhase: "Error", want: Failed, differs: "unreachable in a run (a metric stops at its first limit); a failure is evidence, an error is not"},
	}
	argoAsFerry := map[string]Verdict{"Pending": Running, "Running": Running, "Successful": Successful,
		"Failed": Failed, "Inconclusive": Inconclusive, "Error": Inconclusive}
	for _, tt := range tests {
		t.Run(tt.argo, func(t *testing.T) {
			got := AssessMetric(tt.r, tt.t)
			if got != tt.want {
				t.Errorf("AssessMetric = %s (%s), want %s", got, MetricReason(tt.r, tt.t), tt.want)
			}
			if same := argoAsFerry[tt.argoPhase] == tt.want; same == (tt.differs != "") {
				t.Errorf("Argo's %s is ferry's %s, ferry says %s: the differs field is wrong", tt.argoPhase, argoAsFerry[tt.argoPhase], tt.want)
			}
		})
	}
}

// TestNextDue: the next measurement is Interval after the last one ended,
// or DefaultErrorRetryInterval after an error whatever the interval
// (argo-rollouts TestCalculateNextReconcileTimeInterval and
// TestCalculateNextReconcileUponError).
func TestNextDue(t *testing.T) {
	t.Parallel()
	end := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		interval time.Duration
		last     Phase
		want     time.Duration
	}{
		{interval: time.Minute, last: PhaseSuccessful, want: time.Minute},
		{interval: time.Minute, last: PhaseFailed, want: time.Minute},
		{interval: time.Minute, last: PhaseInconclusive, want: time.Minute},
		{interval: 5 * time.Minute, last: PhaseError, want: 10 * time.Second},
		{interval: time.Second, last: PhaseError, want: 10 * time.Second},
		{interval: 0, last: PhaseSuccessful, want: DefaultInterval},
	}
	for _, tt := range tests {
		if got := nextDue(Template{Interval: tt.interval}, tt.last, end).Sub(end); got != tt.want {
			t.Errorf("interval %s, last %s: next after %s, want %s", tt.interval, tt.last, got, tt.want)
		}
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
		r.Errors != want.Errors || r.ConsecutiveErrors != want.ConsecutiveErrors || r.Taken() != 3 {
		t.Errorf("counts %+v (taken %d), want %+v (taken 3)", r, r.Taken(), want)
	}

	// argo-rollouts TestRunMeasurementsResetConsecutiveErrorCounter: from 4
	// errors in a row and a count of 4, an error makes 5 and 5 and leaves
	// the count; any other phase resets the run of errors and counts.
	for _, p := range []Phase{PhaseError, PhaseSuccessful, PhaseFailed, PhaseInconclusive} {
		r := MetricResult{Successful: 4, Errors: 4, ConsecutiveErrors: 4}
		r.Add(Measurement{Phase: p})
		wantErrs, wantRun, wantTaken := 4, 0, 5
		if p == PhaseError {
			wantErrs, wantRun, wantTaken = 5, 5, 4
		}
		if r.Errors != wantErrs || r.ConsecutiveErrors != wantRun || r.Taken() != wantTaken {
			t.Errorf("after %s: errors %d, in a row %d, taken %d; want %d, %d, %d", p, r.Errors, r.ConsecutiveErrors, r.Taken(), wantErrs, wantRun, wantTaken)
		}
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
		// argo-rollouts TestAssessRunStatus: one metric still running keeps
		// the run running; the worst completed metric decides.
		{[]Verdict{Successful, Running}, Running},
		{[]Verdict{Successful, Failed}, Failed},
		// argo-rollouts TestReconcileAnalysisRunTerminateSiblingAfterFail: a
		// Failed, Inconclusive or Error metric ends the run while a sibling
		// still runs, with its own phase (Error being Inconclusive here).
		{[]Verdict{Running, Failed}, Failed},
		{[]Verdict{Running, Inconclusive}, Inconclusive},
		{[]Verdict{Inconclusive, Failed, Running}, Failed},
		{[]Verdict{Successful, "Bogus"}, Inconclusive},
	}
	for _, tt := range tests {
		if got := AssessRun(tt.in); got != tt.want {
			t.Errorf("AssessRun(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
