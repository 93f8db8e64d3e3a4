package analysis

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// normalP is the two-sided p of z from the standard library, not gonum.
func normalP(z float64) float64 { return math.Erfc(z / math.Sqrt2) }

func TestMannWhitney(t *testing.T) {
	t.Parallel()
	seq := func(from, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(from + i)
		}
		return out
	}
	tests := []struct {
		name string
		x, y []float64
		u, p float64
	}{
		// scipy.stats.mannwhitneyu(males, females) in SciPy's documentation:
		// statistic=17.0, pvalue=0.1111111111111111 (exact: 4 and 5 points,
		// no ties); 0.11134688653314041 with method="asymptotic".
		{name: "scipy documentation", x: []float64{19, 22, 16, 29, 24}, y: []float64{20, 11, 17, 12}, u: 17, p: 0.1111111111111111},
		// By hand: ranks 1 | 3 3 3 | 6 6 6 | 8; R(x) = 1+3+3+6 = 13, U = 13-10 = 3;
		// sigma² = 16/12 * (9 - (24+24)/56); z = (|3-8| - 0.5) / sigma.
		{name: "ties", x: []float64{1, 2, 2, 3}, y: []float64{2, 3, 3, 4}, u: 3, p: normalP(4.5 / math.Sqrt(16.0/12*(9-48.0/56)))},
		// Separated: U = 0, sigma² = 400*41/12, z = (200 - 0.5) / sigma.
		{name: "separated", x: seq(1, 20), y: seq(21, 20), u: 0, p: normalP(199.5 / math.Sqrt(400*41.0/12))},
		{name: "separated the other way", x: seq(21, 20), y: seq(1, 20), u: 400, p: normalP(199.5 / math.Sqrt(400*41.0/12))},
		{name: "all tied", x: []float64{1, 1}, y: []float64{1, 1, 1}, u: 3, p: 1},
		{name: "one each", x: []float64{1}, y: []float64{2}, u: 0, p: 1}, // |0-0.5|-0.5 = 0: no evidence
		{name: "infinities rank", x: []float64{math.Inf(1), math.Inf(1), 5}, y: []float64{1, 2, math.Inf(-1)}, u: 9, p: normalP(4 / math.Sqrt(9.0/12*(7-6.0/30)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, p, err := MannWhitney(tt.x, tt.y)
			if err != nil {
				t.Fatal(err)
			}
			if u != tt.u || math.Abs(p-tt.p) > 1e-12 {
				t.Errorf("U = %v, p = %.17g; want %v, %.17g", u, p, tt.u, tt.p)
			}
		})
	}
	for _, bad := range [][2][]float64{{nil, {1}}, {{1}, {}}, {{math.NaN()}, {1}}} {
		if _, _, err := MannWhitney(bad[0], bad[1]); err == nil {
			t.Errorf("MannWhitney(%v, %v): no error", bad[0], bad[1])
		}
	}
}

// around returns n (odd) points evenly spread over v ± 1%: their median
// is v.
func around(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v * (1 + 0.02*(float64(i)/float64(n-1)-0.5))
	}
	return out
}

func TestJudgeRun(t *testing.T) {
	t.Parallel()
	base := around(0.004, 31)
	high := around(0.051, 13)
	same := around(0.004, 13)
	slightly := around(0.0042, 13) // +5%: significant, within the 10% tolerance
	low := around(0.001, 13)
	// 13 canary points all above (or below) 31 baseline points: U = 0 or
	// 403, sigma² = 13*31*45/12, z = (403/2 - 0.5) / sigma.
	separated := fmt.Sprintf("p=%.2g", normalP(201/math.Sqrt(13*31*45.0/12)))
	tests := []struct {
		name    string
		cfg     Judge
		metrics []JudgeMetric
		verdict Verdict
		score   float64
		classes string
		reason  string
		explain []string // substrings of each metric's explanation
	}{
		{name: "regression, increase is bad", metrics: []JudgeMetric{{Name: "error-ratio", Canary: high, Baseline: base}},
			verdict: Failed, score: 0, classes: "High", reason: "score 0 < marginal 75: failing error-ratio",
			explain: []string{"error-ratio: canary median 0.051 vs baseline 0.004 (+1175%), " + separated + " < 0.05: High, increase is bad -> fail"}},
		{name: "same", metrics: []JudgeMetric{{Name: "error-ratio", Canary: same, Baseline: base}},
			verdict: Successful, score: 100, classes: "Pass", reason: "score 100 >= pass 95", explain: []string{"canary median 0.004 vs baseline 0.004 (+0%), p=", " >= 0.05: Pass"}},
		{name: "within tolerance", metrics: []JudgeMetric{{Name: "error-ratio", Canary: slightly, Baseline: base}},
			verdict: Successful, score: 100, classes: "Pass", explain: []string{"(+5%), " + separated + " < 0.05 but |0.0002| <= tolerance 0.0004: Pass"}},
		{name: "within a larger tolerance", cfg: Judge{Tolerance: 20}, metrics: []JudgeMetric{{Name: "error-ratio", Canary: high, Baseline: base}},
			verdict: Successful, score: 100, classes: "Pass"},
		{name: "stricter confidence", cfg: Judge{Confidence: 1 - 1e-9}, metrics: []JudgeMetric{{Name: "error-ratio", Canary: high, Baseline: base}},
			verdict: Successful, classes: "Pass", score: 100, explain: []string{separated + " >= 1e-09: Pass"}},
		{name: "higher, decrease is bad", metrics: []JudgeMetric{{Name: "throughput", Direction: "decrease", Canary: high, Baseline: base}},
			verdict: Successful, score: 100, classes: "High", explain: []string{"High, decrease is bad -> pass"}},
		{name: "lower, decrease is bad", metrics: []JudgeMetric{{Name: "throughput", Direction: "decrease", Canary: low, Baseline: base}},
			verdict: Failed, score: 0, classes: "Low", explain: []string{"(-75%), " + separated + " < 0.05: Low, decrease is bad -> fail"}},
		{name: "lower, increase is bad", metrics: []JudgeMetric{{Name: "error-ratio", Canary: low, Baseline: base}},
			verdict: Successful, score: 100, classes: "Low"},
		{name: "lower, either", metrics: []JudgeMetric{{Name: "cpu", Direction: "either", Canary: low, Baseline: base}},
			verdict: Failed, score: 0, classes: "Low", explain: []string{"any change is bad -> fail"}},
		{name: "critical fails whatever the score", cfg: Judge{Pass: 50, Marginal: 10},
			metrics: []JudgeMetric{{Name: "a", Canary: same, Baseline: base}, {Name: "b", Canary: same, Baseline: base}, {Name: "errors", Critical: true, Canary: high, Baseline: base}},
			verdict: Failed, score: 100 * 2.0 / 3, classes: "Pass Pass High", reason: "critical metric errors failed (score 66.67)", explain: []string{"", "", "-> fail (critical)"}},
		{name: "weights carry a failing metric", metrics: []JudgeMetric{{Name: "a", Canary: high, Baseline: base}, {Name: "b", Weight: 19, Canary: same, Baseline: base}},
			verdict: Successful, score: 95, classes: "High Pass"},
		{name: "marginal", metrics: []JudgeMetric{{Name: "a", Canary: high, Baseline: base}, {Name: "b", Canary: same, Baseline: base}, {Name: "c", Canary: same, Baseline: base}, {Name: "d", Canary: same, Baseline: base}},
			verdict: Inconclusive, score: 75, classes: "High Pass Pass Pass", reason: "marginal 75 <= score 75 < pass 95: failing a"},
		{name: "no data is never a pass", metrics: []JudgeMetric{{Name: "error-ratio", Canary: nil, Baseline: base}},
			verdict: Inconclusive, score: 0, classes: "NoData", reason: "no data for error-ratio",
			explain: []string{"error-ratio: no data (0 canary points, 31 baseline points) -> not a pass"}},
		{name: "only NaN is no data", metrics: []JudgeMetric{{Name: "e", Canary: same, Baseline: []float64{math.NaN(), math.NaN()}}},
			verdict: Inconclusive, score: 0, classes: "NoData"},
		{name: "no data and a failure", metrics: []JudgeMetric{{Name: "a", Canary: high, Baseline: base}, {Name: "b", Baseline: base}},
			verdict: Failed, score: 0, classes: "High NoData"},
		{name: "no data beside passes", metrics: []JudgeMetric{{Name: "a", Canary: same, Baseline: base}, {Name: "b", Baseline: base}},
			verdict: Inconclusive, score: 50, classes: "Pass NoData"},
		{name: "NaN points are dropped", metrics: []JudgeMetric{{Name: "e", Canary: append([]float64{math.NaN()}, high...), Baseline: append(base, math.NaN())}},
			verdict: Failed, classes: "High", explain: []string{"canary median 0.051 vs baseline 0.004"}},
		{name: "zero baseline", metrics: []JudgeMetric{{Name: "e", Canary: around(0.01, 12), Baseline: make([]float64, 30)}},
			verdict: Failed, classes: "High", explain: []string{"vs baseline 0 (up from 0)"}},
		{name: "zero baseline, tiny effect under minEffect", cfg: Judge{MinEffect: 0.02}, metrics: []JudgeMetric{{Name: "e", Canary: around(0.01, 12), Baseline: make([]float64, 30)}},
			verdict: Successful, classes: "Pass", score: 100, explain: []string{"<= tolerance 0.02"}},
		{name: "no metrics", verdict: Inconclusive, reason: "no metrics to judge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := JudgeRun(tt.cfg, tt.metrics)
			var classes []string
			for _, m := range rep.Metrics {
				classes = append(classes, m.Class)
			}
			if rep.Verdict != tt.verdict || strings.Join(classes, " ") != tt.classes {
				t.Errorf("verdict %s, classes %v (%s); want %s, %s", rep.Verdict, classes, rep.Reason, tt.verdict, tt.classes)
			}
			if tt.score != 0 || rep.Verdict != Failed {
				if math.Abs(rep.Score-tt.score) > 1e-9 {
					t.Errorf("score %v, want %v", rep.Score, tt.score)
				}
			}
			if !strings.Contains(rep.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", rep.Reason, tt.reason)
			}
			// explain holds substrings of the first metric's explanation,
			// or one per metric when there are several.
			for i, want := range tt.explain {
				m := rep.Metrics[min(i, len(rep.Metrics)-1)]
				if len(rep.Metrics) > 1 {
					m = rep.Metrics[i]
				}
				if !strings.Contains(m.Explanation, want) {
					t.Errorf("explanation %q, want it to contain %q", m.Explanation, want)
				}
			}
		})
	}
}

func TestFormatP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p, alpha float64
		want     string
	}{
		{2.335375328463411e-07, 0.05, "=2.3e-07 0.05"},
		{0.0513, 0.05, "=0.051 0.05"},
		{0.0496, 0.05, "=0.0496 0.05"},     // 2 digits would show 0.05 < 0.05
		{0.049996, 0.05, "=0.049996 0.05"}, // as many digits as it takes
		{0.05, 0.05, "=0.05 0.05"},
		{0.0500001, 0.05, "=0.05 0.05"}, // >= reads true at 2 digits
		{1 - 0.95, 1 - 0.95, "=0.05 0.05"},
		{7.066071930388932e-18, 1e-9, "=7.1e-18 1e-09"},
		{0, 0.05, "<1e-300 0.05"}, // erfc underflowed
		{1, 0.05, "=1 0.05"},
	}
	for _, tt := range tests {
		p, a := formatP(tt.p, tt.alpha)
		if got := p + " " + a; got != tt.want {
			t.Errorf("formatP(%v, %v) = %q, want %q", tt.p, tt.alpha, got, tt.want)
		}
	}
}

// TestJudgeSmallAndStrong: the two p-value cases through the
// judge. A 5 x 7 window with U = 30 is significant at 0.05 with the
// exact distribution (0.048; the normal approximation's 0.051 missed
// it), and a strong effect shows its p, not p=0.
func TestJudgeSmallAndStrong(t *testing.T) {
	t.Parallel()
	scale := func(v []float64, k float64) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = x * k
		}
		return out
	}
	seq := func(from, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(from+i) * 0.001
		}
		return out
	}
	tests := []struct {
		name             string
		canary, baseline []float64
		verdict          Verdict
		explain          string
	}{
		{name: "5x7, U=30: exact p", canary: scale([]float64{12, 11, 10, 8, 4}, 0.001), baseline: scale([]float64{1, 2, 3, 5, 6, 7, 9}, 0.001),
			verdict: Failed, explain: "canary median 0.01 vs baseline 0.005 (+100%), p=0.048 < 0.05: High, increase is bad -> fail"},
		{name: "50x50 separated: p=7.1e-18", canary: seq(51, 50), baseline: seq(1, 50),
			verdict: Failed, explain: "p=7.1e-18 < 0.05: High"},
		{name: "1200x1200 separated: p underflows", canary: seq(1201, 1200), baseline: seq(1, 1200),
			verdict: Failed, explain: "p<1e-300 < 0.05: High"},
	}
	for _, tt := range tests {
		rep := JudgeRun(Judge{}, []JudgeMetric{{Name: "error-ratio", Canary: tt.canary, Baseline: tt.baseline}})
		if rep.Verdict != tt.verdict || !strings.Contains(rep.Metrics[0].Explanation, tt.explain) {
			t.Errorf("%s: %s, %q; want %s, %q", tt.name, rep.Verdict, rep.Metrics[0].Explanation, tt.verdict, tt.explain)
		}
	}
}
