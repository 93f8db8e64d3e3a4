package analysis

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Classes of a judged metric.
const (
	ClassPass   = "Pass"   // no significant difference beyond the tolerance
	ClassHigh   = "High"   // the canary is significantly higher
	ClassLow    = "Low"    // the canary is significantly lower
	ClassNoData = "NoData" // no points on one side (or both)
)

// JudgeMetric is one metric's samples for the judge. Direction "" means
// "increase" and Weight 0 means 1.
type JudgeMetric struct {
	Name, Direction  string
	Critical         bool
	Weight           float64
	Canary, Baseline []float64
}

// MetricJudgement is the judge's finding on one metric.
type MetricJudgement struct {
	Name                            string
	Class                           string // "Pass", "High", "Low", "NoData"
	P, CanaryMedian, BaselineMedian float64
	Effect                          float64 // relative: (canary - baseline) / |baseline|; ±Inf on a zero baseline
	Critical                        bool
	Fails                           bool // NoData, or a class in the bad direction
	Explanation                     string
}

// JudgeReport is the judgement of one window.
type JudgeReport struct {
	Score   float64 // 0..100: weight of passing metrics over all weight
	Verdict Verdict
	Metrics []MetricJudgement
	Reason  string
}

// JudgeRun compares canary and baseline, Kayenta-like. NaN points are
// dropped. A metric is High or Low when Mann-Whitney's two-sided p (as
// Kayenta's and SciPy's default; see MannWhitney) < 1-Confidence and the
// medians differ by more than max(Tolerance*|baseline median|,
// MinEffect); it fails when that is its bad direction, or when it has no
// data. Score = 100 * weight of passing metrics / all weight. Verdict: a
// critical metric failing on data fails the run; so does a score below
// Marginal even if every metric without data passed; a score >= Pass
// passes; missing data otherwise makes it Inconclusive, never a pass or
// a fail; a score in between is Inconclusive. cfg's zero fields take the
// defaults.
func JudgeRun(cfg Judge, metrics []JudgeMetric) JudgeReport {
	cfg = judgeDefaults(cfg)
	if len(metrics) == 0 {
		return JudgeReport{Verdict: Inconclusive, Reason: "no metrics to judge"}
	}
	var rep JudgeReport
	var total, passing, optimistic float64
	var criticalFail, noData []string
	for _, m := range metrics {
		j := judgeMetric(cfg, m)
		w := m.Weight
		if w <= 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			w = 1
		}
		total += w
		switch {
		case !j.Fails:
			passing += w
			optimistic += w
		case j.Class == ClassNoData:
			optimistic += w
			noData = append(noData, j.Name)
		case j.Critical:
			criticalFail = append(criticalFail, j.Name)
		}
		rep.Metrics = append(rep.Metrics, j)
	}
	rep.Score = 100 * passing / total
	best := 100 * optimistic / total
	score := fmt.Sprintf("score %.4g", rep.Score)
	switch {
	case len(criticalFail) > 0:
		rep.Verdict = Failed
		rep.Reason = fmt.Sprintf("critical metric %s failed (%s)", strings.Join(criticalFail, ", "), score)
	case best < cfg.Marginal:
		rep.Verdict = Failed
		rep.Reason = fmt.Sprintf("%s < marginal %.4g%s", score, cfg.Marginal, failing(rep.Metrics))
	case rep.Score >= cfg.Pass:
		rep.Verdict = Successful
		rep.Reason = fmt.Sprintf("%s >= pass %.4g", score, cfg.Pass)
	case len(noData) > 0:
		rep.Verdict = Inconclusive
		rep.Reason = fmt.Sprintf("no data for %s (%s, pass %.4g)", strings.Join(noData, ", "), score, cfg.Pass)
	default:
		rep.Verdict = Inconclusive
		rep.Reason = fmt.Sprintf("marginal %.4g <= %s < pass %.4g%s", cfg.Marginal, score, cfg.Pass, failing(rep.Metrics))
	}
	return rep
}

func failing(ms []MetricJudgement) string {
	var names []string
	for _, m := range ms {
		if m.Fails {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return ": failing " + strings.Join(names, ", ")
}

// judgeDefaults fills cfg's zero fields as Compile does.
func judgeDefaults(cfg Judge) Judge {
	def := func(v *float64, d float64) {
		if *v == 0 || math.IsNaN(*v) {
			*v = d
		}
	}
	def(&cfg.Confidence, DefaultConfidence)
	def(&cfg.Tolerance, DefaultTolerance)
	def(&cfg.MinEffect, DefaultMinEffect)
	def(&cfg.Pass, DefaultPass)
	def(&cfg.Marginal, DefaultMarginal)
	if cfg.Lookback == 0 {
		cfg.Lookback = DefaultLookback
	}
	if cfg.Step == 0 {
		cfg.Step = DefaultStep
	}
	return cfg
}

func judgeMetric(cfg Judge, m JudgeMetric) MetricJudgement {
	dir := m.Direction
	if dir == "" {
		dir = DefaultDirection
	}
	canary, baseline := dropNaN(m.Canary), dropNaN(m.Baseline)
	j := MetricJudgement{Name: m.Name, Critical: m.Critical, P: math.NaN(),
		CanaryMedian: median(canary), BaselineMedian: median(baseline), Effect: math.NaN()}
	if len(canary) == 0 || len(baseline) == 0 {
		j.Class, j.Fails = ClassNoData, true
		j.Explanation = fmt.Sprintf("%s: no data (%d canary points, %d baseline points) -> not a pass",
			m.Name, len(canary), len(baseline))
		return j
	}
	_, p, err := MannWhitney(canary, baseline)
	if err != nil { // unreachable: both sides have points and no NaN
		j.Class, j.Fails = ClassNoData, true
		j.Explanation = fmt.Sprintf("%s: %v -> not a pass", m.Name, err)
		return j
	}
	j.P = p
	diff := j.CanaryMedian - j.BaselineMedian
	switch {
	case j.BaselineMedian != 0:
		j.Effect = diff / math.Abs(j.BaselineMedian)
	case diff == 0:
		j.Effect = 0
	default:
		j.Effect = math.Copysign(math.Inf(1), diff)
	}
	alpha := 1 - cfg.Confidence
	allowed := max(cfg.Tolerance*math.Abs(j.BaselineMedian), cfg.MinEffect)
	significant := p < alpha
	big := math.Abs(diff) > allowed
	j.Class = ClassPass
	if significant && big {
		j.Class = ClassHigh
		if diff < 0 {
			j.Class = ClassLow
		}
	}
	j.Fails = (j.Class == ClassHigh && dir != DirectionDecrease) || (j.Class == ClassLow && dir != DirectionIncrease)

	var why string
	shownP, shownAlpha := formatP(p, alpha)
	switch {
	case !significant:
		why = fmt.Sprintf("p%s >= %s: Pass", shownP, shownAlpha)
	case !big:
		why = fmt.Sprintf("p%s < %s but |%s| <= tolerance %s: Pass", shownP, shownAlpha, FormatValue(diff), FormatValue(allowed))
	default:
		why = fmt.Sprintf("p%s < %s: %s, %s", shownP, shownAlpha, j.Class, directionPhrase(dir))
		if j.Fails {
			why += " -> fail"
			if m.Critical {
				why += " (critical)"
			}
		} else {
			why += " -> pass"
		}
	}
	j.Explanation = fmt.Sprintf("%s: canary median %s vs baseline %s (%s), %s",
		m.Name, FormatValue(j.CanaryMedian), FormatValue(j.BaselineMedian), formatEffect(j.Effect), why)
	return j
}

// formatP shows p (as "=0.0013", or "<1e-300" when it underflowed to 0)
// and alpha, each with 2 significant digits, and p with more where 2
// would put it on the wrong side of the alpha shown: p=0.04996 is not
// shown as "p=0.05 < 0.05".
func formatP(p, alpha float64) (shownP, shownAlpha string) {
	shownAlpha = strconv.FormatFloat(alpha, 'g', 2, 64)
	if p == 0 {
		// erfc underflows beyond z of about 38: p is below the smallest
		// float64, not zero.
		return "<1e-300", shownAlpha
	}
	a, _ := strconv.ParseFloat(shownAlpha, 64)
	for prec := 2; prec <= 17; prec++ {
		s := strconv.FormatFloat(p, 'g', prec, 64)
		if v, _ := strconv.ParseFloat(s, 64); (v < a) == (p < alpha) {
			return "=" + s, shownAlpha
		}
	}
	return "=" + strconv.FormatFloat(p, 'g', -1, 64), shownAlpha
}

func directionPhrase(dir string) string {
	switch dir {
	case DirectionDecrease:
		return "decrease is bad"
	case DirectionEither:
		return "any change is bad"
	}
	return "increase is bad"
}

func formatEffect(e float64) string {
	switch {
	case math.IsNaN(e):
		return "no effect"
	case math.IsInf(e, 1):
		return "up from 0"
	case math.IsInf(e, -1):
		return "down from 0"
	}
	return fmt.Sprintf("%+.0f%%", 100*e)
}

func dropNaN(v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// median of v (NaN when empty), the mean of the middle two for an even
// count.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1]/2 + s[n/2]/2
}
