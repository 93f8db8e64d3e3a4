package analysis

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// AssessMeasurement is the phase of one measurement of m, with why. An
// error is PhaseError; NaN is inconclusive whatever the conditions (it is
// missing data, such as 0/0 without traffic). Otherwise Argo Rollouts'
// rules: a failureCondition that holds fails (even when the
// successCondition holds too); with only a successCondition, not holding
// fails; with only a failureCondition, not holding succeeds; with both and
// neither holding, inconclusive.
func AssessMeasurement(m *CompiledMetric, value float64, err error) (Phase, string) {
	if err != nil {
		return PhaseError, err.Error()
	}
	if math.IsNaN(value) {
		return PhaseInconclusive, "NaN is not a success (no data to divide?)"
	}
	shown := FormatValue(value)
	success, err := evalCondition(m.success, value)
	if err != nil {
		return PhaseError, fmt.Sprintf("%s: successCondition %s: %v", shown, m.m.SuccessCondition, err)
	}
	failure, err := evalCondition(m.failure, value)
	if err != nil {
		return PhaseError, fmt.Sprintf("%s: failureCondition %s: %v", shown, m.m.FailureCondition, err)
	}
	switch {
	case m.failure != nil && failure:
		return PhaseFailed, fmt.Sprintf("%s: failureCondition %s holds", shown, m.m.FailureCondition)
	case m.success != nil && success:
		return PhaseSuccessful, fmt.Sprintf("%s: successCondition %s holds", shown, m.m.SuccessCondition)
	case m.failure == nil:
		return PhaseFailed, fmt.Sprintf("%s: successCondition %s does not hold", shown, m.m.SuccessCondition)
	case m.success == nil:
		return PhaseSuccessful, fmt.Sprintf("%s: failureCondition %s does not hold", shown, m.m.FailureCondition)
	}
	return PhaseInconclusive, fmt.Sprintf("%s: neither successCondition %s nor failureCondition %s holds",
		shown, m.m.SuccessCondition, m.m.FailureCondition)
}

// evalCondition runs a compiled condition; nil is false.
func evalCondition(p *vm.Program, value float64) (bool, error) {
	if p == nil {
		return false, nil
	}
	out, err := expr.Run(p, exprEnv{Result: value})
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("gave %T, not a boolean", out)
	}
	return b, nil
}

// FormatValue shows a measured value briefly: 4 significant digits.
func FormatValue(v float64) string {
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// AssessMetric is the verdict of a metric from its counts, with t's
// defaults applied (Compiled.Template), as Argo's assessMetricStatus:
// Failed when Failed > FailureLimit; Inconclusive when Inconclusive >
// InconclusiveLimit or ConsecutiveErrors > ConsecutiveErrorLimit (Argo:
// Error); once Count measurements that did not error are in, Successful,
// unless none of them succeeded (Inconclusive where Argo says Successful:
// NaN within the inconclusive limit is never a pass); Running before.
// Errors never count toward Count.
func AssessMetric(r MetricResult, t Template) Verdict {
	v, _ := assessMetric(r, t)
	return v
}

// MetricReason is the one-line reason for AssessMetric's verdict.
func MetricReason(r MetricResult, t Template) string {
	_, why := assessMetric(r, t)
	return why
}

func assessMetric(r MetricResult, t Template) (Verdict, string) {
	count := max(t.Count, 1)
	errLimit := DefaultConsecutiveErrorLimit
	if t.ConsecutiveErrorLimit != nil {
		errLimit = *t.ConsecutiveErrorLimit
	}
	taken := r.Taken()
	// Argo checks the three limits in this order but lets a later one
	// override an earlier; a run stops a metric at the first limit it
	// crosses, so counts over two limits at once only reach this function
	// by hand, and then a failure (evidence against the version) wins.
	switch {
	case r.Failed > t.FailureLimit:
		return Failed, fmt.Sprintf("%d of %d measurements failed (limit %d)%s",
			r.Failed, taken, t.FailureLimit, lastDetail(r, PhaseFailed))
	case r.Inconclusive > t.InconclusiveLimit:
		return Inconclusive, fmt.Sprintf("%d of %d measurements inconclusive (limit %d)%s",
			r.Inconclusive, taken, t.InconclusiveLimit, lastDetail(r, PhaseInconclusive))
	case r.ConsecutiveErrors > errLimit:
		return Inconclusive, fmt.Sprintf("%d consecutive measurement errors (limit %d)%s",
			r.ConsecutiveErrors, errLimit, lastDetail(r, PhaseError))
	case taken < count:
		why := fmt.Sprintf("%d of %d measurements taken", taken, count)
		if r.ConsecutiveErrors > 0 {
			why += fmt.Sprintf(", %d errors in a row (limit %d)", r.ConsecutiveErrors, errLimit)
		}
		return Running, why
	case r.Successful == 0:
		return Inconclusive, fmt.Sprintf("none of %d measurements succeeded%s", taken, lastDetail(r, ""))
	}
	why := fmt.Sprintf("%d of %d measurements successful", r.Successful, taken)
	if r.Failed+r.Inconclusive+r.Errors > 0 {
		why += fmt.Sprintf(" (%d failed, %d inconclusive within limits; %d errors retried)", r.Failed, r.Inconclusive, r.Errors)
	}
	return Successful, why
}

// nextDue is when a metric whose last measurement ended at finished in
// phase is measured next: Interval later, or DefaultErrorRetryInterval
// after an error whatever the interval (Argo's calculateNextReconcileTime).
func nextDue(t Template, last Phase, finished time.Time) time.Time {
	if last == PhaseError {
		return finished.Add(DefaultErrorRetryInterval)
	}
	interval := t.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	return finished.Add(interval)
}

// lastDetail is ": " and the detail of the last measurement in phase (any
// phase when ""), or "" without one.
func lastDetail(r MetricResult, phase Phase) string {
	for i := len(r.Measurements) - 1; i >= 0; i-- {
		if m := r.Measurements[i]; phase == "" || m.Phase == phase {
			return ": " + m.Detail
		}
	}
	return ""
}

// AssessRun is the verdict of a run from its metrics' verdicts: any Failed
// is Failed; else any Inconclusive is Inconclusive; else any Running is
// Running; else Successful. No verdict at all is Inconclusive.
func AssessRun(v []Verdict) Verdict {
	if len(v) == 0 {
		return Inconclusive
	}
	has := func(want Verdict) bool {
		for _, x := range v {
			if x == want {
				return true
			}
		}
		return false
	}
	switch {
	case has(Failed):
		return Failed
	case has(Inconclusive):
		return Inconclusive
	case has(Running):
		return Running
	}
	for _, x := range v {
		if x != Successful {
			return Inconclusive // an unknown verdict is not a pass
		}
	}
	return Successful
}
