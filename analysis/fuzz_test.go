package analysis

import (
	"errors"
	"math"
	"testing"
)

// FuzzCompile: any query or condition compiles or is refused with field
// errors; never a panic. What compiles also assesses without a panic.
func FuzzCompile(f *testing.F) {
	f.Add(errQuery, "result < 0.01", "")
	f.Add(`up{app="{{.App}}"}`, "", "result >= 0.05 || isNaN(result)")
	f.Add(`sum(rate(x[1m])`, "result <", "value > 1")
	f.Add(`{{.App`, "result in [1, 2]", "result ?? 1")
	f.Add(`{{range .}}{{end}}`, "let x = result; x > 1", "1..3 | all(# > result)")
	f.Add(`histogram_quantile(0.99, sum by (le) (rate(b{version="{{.Version}}"}[5m])))`, "abs(result) < 1e300", "string(result) == 'NaN'")
	f.Fuzz(func(t *testing.T, query, success, failure string) {
		c, err := Compile(Template{Name: "f", Metrics: []Metric{{Name: "m", Query: query, SuccessCondition: success, FailureCondition: failure}}}, []string{"prometheus"})
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) || fe.Path == "" {
					t.Fatalf("error %v is not a *FieldError with a path", e)
				}
			}
			return
		}
		if _, err := c.Metric(0).Query(vars); err != nil {
			t.Logf("renders with sample values, not with vars: %v", err)
		}
		for _, v := range []float64{0, -1, 0.01, math.NaN(), math.Inf(1), 1e308} {
			if p, detail := AssessMeasurement(c.Metric(0), v, nil); p == "" || detail == "" {
				t.Fatalf("AssessMeasurement(%v) = %q, %q", v, p, detail)
			}
		}
	})
}

// FuzzMannWhitney: no panic, p in [0, 1], U in [0, n1*n2], the same p
// with the samples swapped.
func FuzzMannWhitney(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5}, []byte{3, 3, 3})
	f.Add([]byte{0}, []byte{0})
	f.Add([]byte{}, []byte{7})
	f.Add([]byte{9, 9, 9, 9, 1}, []byte{9, 1, 1, 0, 0, 0, 0})
	f.Add([]byte{12, 11, 10, 8, 4}, []byte{1, 2, 3, 5, 6, 7, 9}) // exact: no ties
	f.Fuzz(func(t *testing.T, a, b []byte) {
		x, y := floats(a), floats(b)
		u, p, err := MannWhitney(x, y)
		if len(x) == 0 || len(y) == 0 {
			if err == nil {
				t.Fatal("empty sample accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !(p >= 0 && p <= 1) {
			t.Fatalf("p = %v", p)
		}
		if !(u >= 0 && u <= float64(len(x)*len(y))) {
			t.Fatalf("U = %v for %d x %d", u, len(x), len(y))
		}
		// Two-sided: swapping the samples mirrors U and keeps p.
		if u2, p2, _ := MannWhitney(y, x); u2 != float64(len(x)*len(y))-u || p2 != p {
			t.Fatalf("swapped: U %v p %v; want U %v p %v", u2, p2, float64(len(x)*len(y))-u, p)
		}
		rep := JudgeRun(Judge{}, []JudgeMetric{{Name: "m", Canary: x, Baseline: y}})
		if rep.Verdict != Successful && rep.Verdict != Failed {
			t.Fatalf("judge of data on both sides: %s (%s)", rep.Verdict, rep.Reason)
		}
	})
}

// floats maps bytes to a few values so that ties are common; 255 is +Inf.
func floats(b []byte) []float64 {
	out := make([]float64, len(b))
	for i, c := range b {
		out[i] = float64(c%16) / 4
		if c == 255 {
			out[i] = math.Inf(1)
		}
	}
	return out
}
