package dora

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// summarize gives the count, median, 90th percentile and mean of xs.
func summarize(xs []float64) Durations {
	if len(xs) == 0 {
		return Durations{}
	}
	// A copy: the caller's slice is in history order and stays so.
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Durations{Count: len(s), P50: quantile(s, 0.5), P90: quantile(s, 0.9), Mean: sum / float64(len(s))}
}

// quantile interpolates linearly between the closest ranks of sorted
// (numpy's default, R's type 7).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// ParseSince reads a window length: a Go duration ("36h", "90m"), days
// ("30d") or both ("1d12h"). Zero is allowed (the whole history).
func ParseSince(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("since %q: empty; want a duration like 30d, 36h or 1d12h", s)
	}
	// Days by hand: time.ParseDuration has none, and DORA windows are
	// counted in days. 100 years keeps the sum far from overflow.
	var total time.Duration
	if i := strings.IndexByte(in, 'd'); i >= 0 {
		days, err := strconv.ParseUint(in[:i], 10, 32)
		if err != nil || i == 0 {
			return 0, fmt.Errorf("since %q: %q is not a whole number of days", s, in[:i])
		}
		if days > 100*365 {
			return 0, fmt.Errorf("since %q: more than 100 years", s)
		}
		total = time.Duration(days) * 24 * time.Hour
		in = in[i+1:]
		if in == "" {
			return total, nil
		}
	}
	d, err := time.ParseDuration(in)
	if err != nil {
		return 0, fmt.Errorf("since %q: want a duration like 30d, 36h or 1d12h", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("since %q: negative", s)
	}
	if total > math.MaxInt64-d {
		return 0, fmt.Errorf("since %q: too long", s)
	}
	return total + d, nil
}
