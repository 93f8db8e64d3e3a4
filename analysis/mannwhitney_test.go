package analysis

import (
	"encoding/json"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// goldenCase is one row of testdata/mannwhitney.golden.json, which
// testdata/mannwhitney_golden.py writes with SciPy.
type goldenCase struct {
	Name        string   `json:"name"`
	X           []string `json:"x"`
	Y           []string `json:"y"`
	U           float64  `json:"u"`
	PAsymptotic float64  `json:"p_asymptotic"`
	PExact      *float64 `json:"p_exact"` // nil: ties, or too large for SciPy's table
	PAuto       float64  `json:"p_auto"`
	Auto        string   `json:"auto"` // the method SciPy's "auto" chose
}

func loadGolden(t testing.TB) []goldenCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mannwhitney.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		SciPy string       `json:"scipy"`
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("mannwhitney.golden.json: %v", err)
	}
	if len(g.Cases) < 100 {
		t.Fatalf("%d golden cases, want at least 100", len(g.Cases))
	}
	return g.Cases
}

func parseFloats(t testing.TB, ss []string) []float64 {
	t.Helper()
	out := make([]float64, len(ss))
	for i, s := range ss {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}

// relErr is |got-want| / |want|, or |got| when want is 0.
func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// goldenTol is the largest relative error allowed against SciPy. Both
// sides compute the same z and the same counts; what remains is erfc
// against SciPy's ndtr and the order of a few float sums, a few ulps.
const goldenTol = 1e-12

// TestMannWhitneyGolden compares U and the p-values of the asymptotic,
// exact and default ("auto") methods with SciPy's, case by case.
func TestMannWhitneyGolden(t *testing.T) {
	t.Parallel()
	var worst [3]float64
	for _, c := range loadGolden(t) {
		x, y := parseFloats(t, c.X), parseFloats(t, c.Y)
		check := func(which int, method mwuMethod, want float64) {
			u, p, err := mannWhitney(x, y, method)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if u != c.U {
				t.Errorf("%s: U = %v, SciPy %v", c.Name, u, c.U)
			}
			e := relErr(p, want)
			worst[which] = max(worst[which], e)
			if e > goldenTol {
				t.Errorf("%s (method %d): p = %.17g, SciPy %.17g (relative error %.2g)", c.Name, method, p, want, e)
			}
		}
		check(0, mwuAsymptotic, c.PAsymptotic)
		if c.PExact != nil {
			check(1, mwuExact, *c.PExact)
		}
		check(2, mwuAuto, c.PAuto)
		if _, p, _ := MannWhitney(x, y); relErr(p, c.PAuto) > goldenTol {
			t.Errorf("%s: MannWhitney p = %.17g, SciPy's default %.17g", c.Name, p, c.PAuto)
		}
	}
	t.Logf("largest relative error against SciPy: asymptotic %.2g, exact %.2g, auto %.2g", worst[0], worst[1], worst[2])
}

// TestExactPEnumerated checks exactP against the distribution of U found
// by enumerating every way to place n1 x-values among n1+n2 ranks, for
// all sizes up to 8 x 9 and every U: no SciPy needed.
func TestExactPEnumerated(t *testing.T) {
	t.Parallel()
	for n1 := 1; n1 <= 8; n1++ {
		for n2 := 1; n2 <= 9; n2++ {
			n := n1 + n2
			counts := make([]float64, n1*n2+1)
			total := 0.0
			for mask := uint32(0); mask < 1<<n; mask++ {
				if bits.OnesCount32(mask) != n1 {
					continue
				}
				// U of x: for each x (bit set), the y-values ranked below it.
				u, ysBelow := 0, 0
				for r := range n {
					if mask&(1<<r) != 0 {
						u += ysBelow
					} else {
						ysBelow++
					}
				}
				counts[u]++
				total++
			}
			for u := 0; u <= n1*n2; u++ {
				lo := min(u, n1*n2-u)
				tail := 0.0
				for k := 0; k <= lo; k++ {
					tail += counts[k]
				}
				want := min(2*tail/total, 1)
				if got := exactP(float64(u), n1, n2); relErr(got, want) > 1e-15 {
					t.Errorf("%dx%d U=%d: exactP %.17g, enumeration %.17g", n1, n2, u, got, want)
				}
			}
		}
	}
}

// TestMannWhitneyMethod: SciPy's "auto" rule. Exact when the smaller
// sample has at most 8 points and there are no ties; the 5 x 7
// case with U = 30 is 0.0480 exactly, 0.0513 by the normal approximation,
// so a borderline regression is now significant at 0.05.
func TestMannWhitneyMethod(t *testing.T) {
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
		want mwuMethod
	}{
		{"5x7", []float64{12, 11, 10, 8, 4}, []float64{1, 2, 3, 5, 6, 7, 9}, mwuExact},
		{"8x40", seq(1, 8), seq(100, 40), mwuExact},
		{"40x8", seq(100, 40), seq(1, 8), mwuExact},
		{"9x9", seq(1, 9), seq(100, 9), mwuAsymptotic},
		{"5x7 with a tie", []float64{12, 11, 10, 8, 4}, []float64{1, 2, 3, 5, 6, 7, 4}, mwuAsymptotic},
		{"tie inside x", []float64{1, 1, 3}, []float64{2, 4}, mwuAsymptotic},
	}
	for _, tt := range tests {
		_, got, _ := MannWhitney(tt.x, tt.y)
		_, want, _ := mannWhitney(tt.x, tt.y, tt.want)
		_, other, _ := mannWhitney(tt.x, tt.y, mwuExact+mwuAsymptotic-tt.want)
		if got != want || got == other {
			t.Errorf("%s: p %.17g, want the %d method's %.17g (the other gives %.17g)", tt.name, got, tt.want, want, other)
		}
	}
	_, p, _ := MannWhitney([]float64{12, 11, 10, 8, 4}, []float64{1, 2, 3, 5, 6, 7, 9})
	if math.Abs(p-19.0/396) > 1e-15 {
		t.Errorf("5x7 U=30: p %.17g, want 19/396 = 0.04798", p)
	}
}
