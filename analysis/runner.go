package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/clock"
)

// Runner runs compiled templates against providers.
type Runner struct {
	Providers Providers
	Now       func() time.Time                                 // nil: time.Now
	Sleep     func(ctx context.Context, d time.Duration) error // nil: a real timer honouring ctx
	Observe   func(Measurement)                                // called for every measurement; may be nil
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	return clock.Sleep(ctx, d)
}

// Run waits InitialDelay, then measures each metric on its own schedule,
// as Argo's controller does: Interval after its last measurement ended,
// or DefaultErrorRetryInterval after an error, until its verdict is
// decided (Count measurements that did not error, or a limit crossed).
// The run stops as soon as its verdict is (the first failing measurement
// of a bad canary ends it). It always ends: every measurement either
// counts toward Count or adds to a run of errors that
// ConsecutiveErrorLimit bounds, so a metric takes at most
// (Count+1)*(ConsecutiveErrorLimit+1) measurements.
//
// A judge template queries every metric over [now-Lookback, now] for the
// canary (.Version = Canary) and the baseline (.Version = Stable) and
// judges them together each round (the score is over all of them); the
// round is recorded for the metrics that were due. When ctx ends, Run
// returns the result so far, Inconclusive, with ctx.Err(). A provider
// missing from r.Providers is an error.
func (r *Runner) Run(ctx context.Context, c *Compiled, vars Vars) (Result, error) {
	t := c.Template()
	res := Result{Template: t.Name, Started: r.now(), Metrics: make([]MetricResult, len(c.metrics))}
	provs := make([]Provider, len(c.metrics))
	for i, cm := range c.metrics {
		res.Metrics[i] = MetricResult{Name: cm.m.Name, Verdict: Running}
		p, err := r.Providers.Get(cm.m.Provider)
		if err != nil {
			err = fmt.Errorf("analysis %s: metric %s: %w", t.Name, cm.m.Name, err)
			res.Verdict, res.Reason, res.Finished = Inconclusive, err.Error(), r.now()
			return res, err
		}
		provs[i] = p
	}
	rounds := 0
	cancelled := func() (Result, error) {
		res.Verdict = Inconclusive
		res.Reason = fmt.Sprintf("cancelled after %d rounds of measurements (count %d): %v", rounds, t.Count, context.Cause(ctx))
		res.Finished = r.now()
		return res, ctx.Err()
	}
	due := make([]time.Time, len(c.metrics))
	for i := range due {
		due[i] = res.Started.Add(t.InitialDelay)
	}
	for AssessRun(res.Verdicts()) == Running {
		next, ok := earliestDue(res.Metrics, due)
		if !ok { // unreachable: a Running run has a Running metric
			break
		}
		if d := next.Sub(r.now()); d > 0 {
			if err := r.sleep(ctx, d); err != nil {
				return cancelled()
			}
		}
		if ctx.Err() != nil {
			return cancelled()
		}
		// Every Running metric due by now is measured; the earliest one
		// always is, so each round measures something and the loop ends.
		cut := r.now()
		if cut.Before(next) {
			cut = next
		}
		todo := make([]bool, len(c.metrics))
		for i, m := range res.Metrics {
			todo[i] = m.Verdict == Running && !due[i].After(cut)
		}
		var ms []Measurement
		if t.Judge != nil {
			rep, judged := r.judgeRound(ctx, c, vars, provs)
			if ctx.Err() != nil {
				return cancelled()
			}
			res.Judge = append(res.Judge, rep)
			ms = judged
		} else {
			ms = r.conditionRound(ctx, c, vars, provs, todo)
			if ctx.Err() != nil {
				return cancelled()
			}
		}
		rounds++
		finished := r.now()
		for i, m := range ms {
			if !todo[i] {
				continue
			}
			mr := &res.Metrics[i]
			mr.Add(m)
			mr.Verdict, mr.Reason = assessMetric(*mr, t)
			due[i] = nextDue(t, m.Phase, finished)
			if r.Observe != nil {
				r.Observe(m)
			}
		}
	}
	res.Verdict = AssessRun(res.Verdicts())
	if res.Verdict == Running { // unreachable: the loop runs until it is not
		res.Verdict = Inconclusive
	}
	res.Reason = runReason(res)
	res.Finished = r.now()
	return res, nil
}

// earliestDue is the earliest due time of a Running metric.
func earliestDue(ms []MetricResult, due []time.Time) (time.Time, bool) {
	var next time.Time
	found := false
	for i, m := range ms {
		if m.Verdict == Running && (!found || due[i].Before(next)) {
			next, found = due[i], true
		}
	}
	return next, found
}

// conditionRound measures the metrics marked in todo with an instant
// query each; the others are left zero.
func (r *Runner) conditionRound(ctx context.Context, c *Compiled, vars Vars, provs []Provider, todo []bool) []Measurement {
	out := make([]Measurement, len(c.metrics))
	for i, cm := range c.metrics {
		if !todo[i] {
			continue
		}
		at := r.now()
		v := math.NaN()
		q, err := cm.Query(vars)
		if err == nil {
			v, err = provs[i].Value(ctx, q, at)
		}
		if err != nil {
			v = math.NaN()
		}
		phase, detail := AssessMeasurement(cm, v, err)
		out[i] = Measurement{Metric: cm.m.Name, At: at, Value: v, Phase: phase, Detail: detail}
	}
	return out
}

// judgeRound queries canary and baseline of every metric over the
// lookback and judges them together: one measurement per metric, valued
// at the canary's median.
func (r *Runner) judgeRound(ctx context.Context, c *Compiled, vars Vars, provs []Provider) (JudgeReport, []Measurement) {
	cfg := *c.t.Judge
	end := r.now()
	start := end.Add(-cfg.Lookback)
	canaryVars, baseVars := vars, vars
	if vars.Canary != "" {
		canaryVars.Version = vars.Canary
	}
	baseVars.Version = vars.Stable
	jms := make([]JudgeMetric, len(c.metrics))
	errs := make([]error, len(c.metrics))
	for i, cm := range c.metrics {
		m := cm.m
		jms[i] = JudgeMetric{Name: m.Name, Direction: m.Direction, Critical: m.Critical, Weight: m.Weight}
		var errC, errB error
		jms[i].Canary, errC = r.series(ctx, cm, provs[i], canaryVars, start, end, cfg.Step)
		if vars.Stable == "" {
			errB = errors.New("no stable version to compare the canary with")
		} else {
			jms[i].Baseline, errB = r.series(ctx, cm, provs[i], baseVars, start, end, cfg.Step)
		}
		if errC != nil {
			errC = fmt.Errorf("canary: %w", errC)
		}
		if errB != nil {
			errB = fmt.Errorf("baseline: %w", errB)
		}
		errs[i] = errors.Join(errC, errB)
	}
	rep := JudgeRun(cfg, jms)
	out := make([]Measurement, len(c.metrics))
	for i, j := range rep.Metrics {
		phase := judgePhase(j, rep.Verdict)
		detail := strings.TrimPrefix(j.Explanation, j.Name+": ") + "; " + rep.Reason
		if errs[i] != nil {
			phase = PhaseError
			detail = strings.ReplaceAll(errs[i].Error(), "\n", "; ")
		}
		out[i] = Measurement{Metric: j.Name, At: end, Value: j.CanaryMedian, Phase: phase, Detail: detail}
	}
	return rep, out
}

func (r *Runner) series(ctx context.Context, cm *CompiledMetric, p Provider, vars Vars, start, end time.Time, step time.Duration) ([]float64, error) {
	q, err := cm.Query(vars)
	if err != nil {
		return nil, err
	}
	v, err := p.Values(ctx, q, start, end, step)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// judgePhase is the phase of a judged metric's measurement: no data is an
// error; a failing metric fails when it is critical or the score fails
// the window, is inconclusive when the score is, and is tolerated when
// the score passes.
func judgePhase(j MetricJudgement, window Verdict) Phase {
	switch {
	case j.Class == ClassNoData:
		return PhaseError
	case !j.Fails:
		return PhaseSuccessful
	case j.Critical || window == Failed:
		return PhaseFailed
	case window == Successful:
		return PhaseSuccessful
	}
	return PhaseInconclusive
}

// runReason names the metrics that decided the run.
func runReason(res Result) string {
	var parts []string
	for _, m := range res.Metrics {
		if m.Verdict == res.Verdict {
			parts = append(parts, m.Name+": "+m.Reason)
		}
	}
	if res.Verdict == Successful {
		why := fmt.Sprintf("all %d metrics successful", len(res.Metrics))
		if n := len(res.Judge); n > 0 {
			why += fmt.Sprintf(" (last judge %s)", res.Judge[n-1].Reason)
		}
		return why
	}
	if len(parts) == 0 {
		return string(res.Verdict)
	}
	return strings.Join(parts, "; ")
}
