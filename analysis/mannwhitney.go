package analysis

import (
	"errors"
	"math"
	"slices"
)

// exactMaxN is the size of the smaller sample up to which, without ties,
// the p-value comes from the exact distribution of U: SciPy's
// mannwhitneyu(method="auto") switches at 8.
const exactMaxN = 8

// mwuMethod is how MannWhitney gets p from U.
type mwuMethod int

const (
	mwuAuto       mwuMethod = iota // exact for a small sample without ties, else asymptotic
	mwuAsymptotic                  // normal approximation, tie and continuity corrections
	mwuExact                       // the exact null distribution of U (no ties)
)

// MannWhitney is the two-sided Mann-Whitney U test of x against y, as
// scipy.stats.mannwhitneyu(x, y) with its defaults (two-sided,
// method="auto", continuity correction). u is U of x: the number of
// pairs where x wins, ties counting half. p is exact (the null
// distribution of U) when the smaller sample has at most 8 points and no
// value occurs twice; otherwise it is the normal approximation with tie
// and continuity corrections. NaN values are an error: drop them first.
func MannWhitney(x, y []float64) (u, p float64, err error) {
	return mannWhitney(x, y, mwuAuto)
}

func mannWhitney(x, y []float64, method mwuMethod) (u, p float64, err error) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return math.NaN(), math.NaN(), errors.New("mann-whitney: a sample is empty")
	}
	type obs struct {
		v     float64
		fromX bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	for _, o := range all {
		if math.IsNaN(o.v) {
			return math.NaN(), math.NaN(), errors.New("mann-whitney: a sample holds NaN")
		}
	}
	slices.SortFunc(all, func(a, b obs) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	// Ranks from 1; a run of ties gets their mean rank, and adds t³-t to
	// the tie correction.
	var rankX, ties float64
	tied := false
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // mean of ranks i+1 .. j
		for k := i; k < j; k++ {
			if all[k].fromX {
				rankX += rank
			}
		}
		t := float64(j - i)
		ties += t*t*t - t
		tied = tied || j-i > 1
		i = j
	}
	f1, f2 := float64(n1), float64(n2)
	u = rankX - f1*(f1+1)/2
	if method == mwuAuto {
		method = mwuAsymptotic
		if min(n1, n2) <= exactMaxN && !tied {
			method = mwuExact
		}
	}
	if method == mwuExact {
		return u, exactP(u, n1, n2), nil
	}
	return u, asymptoticP(u, f1, f2, ties), nil
}

// asymptoticP is SciPy's two-sided asymptotic p: z = (|U - n1n2/2| - 0.5)
// / sigma with sigma tie-corrected, p = 2 * P(Z >= z), at most 1. The
// tail is erfc's, not 1 - erf's: 1 - erf(z/√2) cancels to zero for z
// above about 8.3 and loses digits from p around 1e-7.
func asymptoticP(u, f1, f2, ties float64) float64 {
	n := f1 + f2
	sigma := math.Sqrt(f1 * f2 / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 || math.IsNaN(sigma) {
		return 1 // every value equal: no evidence of a difference
	}
	z := (math.Abs(u-f1*f2/2) - 0.5) / sigma
	if z <= 0 {
		return 1
	}
	return min(math.Erfc(z/math.Sqrt2), 1) // 2 * ½erfc(z/√2)
}

// exactP is the two-sided exact p of U for samples of n1 and n2 values
// without ties: 2 * P(U <= min(u, n1n2-u)) under the null hypothesis
// (the distribution is symmetric), at most 1, as SciPy's method="exact".
// The number of orderings giving U = k is the coefficient of q^k in the
// Gaussian binomial [n1+n2 choose m]_q, m = min(n1, n2), built factor by
// factor as prod (1-q^(n+i))/(1-q^i) and cut at the degree the tail
// needs: O(m * k) steps. The counts are exact integers while C(n1+n2, m)
// < 2^53 (m = 8: up to about 370 points on the other side) and within a
// few ulps beyond; the tail that small p-values sum is always exact.
func exactP(u float64, n1, n2 int) float64 {
	m, n := min(n1, n2), max(n1, n2)
	k := int(math.Floor(min(u, float64(n1*n2)-u)))
	if k < 0 {
		return 1
	}
	f := make([]float64, k+1)
	f[0] = 1
	total := 1.0 // C(n+i, i) after step i
	for i := 1; i <= m; i++ {
		for j := k; j >= n+i; j-- { // times (1 - q^(n+i))
			f[j] -= f[j-n-i]
		}
		for j := i; j <= k; j++ { // divided by (1 - q^i)
			f[j] += f[j-i]
		}
		total = total * float64(n+i) / float64(i)
	}
	var tail float64
	for _, c := range f {
		tail += c
	}
	return min(2*tail/total, 1)
}
