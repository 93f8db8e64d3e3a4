package analysis

import (
	"errors"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// MannWhitney is the two-sided Mann-Whitney U test of x against y. u is
// U of x (the number of pairs where x wins, ties counting half), as
// scipy.stats.mannwhitneyu returns it. p uses the normal approximation
// with tie correction and continuity correction (scipy's method
// "asymptotic"). gonum has no Mann-Whitney; the normal distribution is
// gonum's. NaN values are an error: drop them first.
func MannWhitney(x, y []float64) (u, p float64, err error) {
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
		i = j
	}
	f1, f2 := float64(n1), float64(n2)
	n := f1 + f2
	u = rankX - f1*(f1+1)/2
	mu := f1 * f2 / 2
	sigma := math.Sqrt(f1 * f2 / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 || math.IsNaN(sigma) {
		return u, 1, nil // every value equal (or one value in all): no evidence of a difference
	}
	z := (math.Abs(u-mu) - 0.5) / sigma
	if z <= 0 {
		return u, 1, nil
	}
	p = 2 * distuv.UnitNormal.Survival(z)
	return u, min(max(p, 0), 1), nil
}
