package dora

import (
	"strings"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "36h", want: 36 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: " 90m ", want: 90 * time.Minute},
		{in: "0", want: 0},
		{in: "0d", want: 0},
		{in: "", err: "empty"},
		{in: "d", err: "whole number of days"},
		{in: "-1d", err: "whole number of days"},
		{in: "1.5d", err: "whole number of days"},
		{in: "1d-2h", err: "negative"},
		{in: "-3h", err: "negative"},
		{in: "30 days", err: "whole number of days"},
		{in: "week", err: "want a duration"},
		{in: "99999999d", err: "more than 100 years"},
		{in: "36500d2562047h", err: "too long"},
	} {
		got, err := ParseSince(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParseSince(%q) = %v, %v; want an error naming the input and %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"30d", "36h", "1d12h", "0", "-1d", "1d-2h", "99999999d", "1.5h", "d", "3d3d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseSince(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseSince(%q) = %v: negative without an error", s, d)
		}
	})
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Durations
	}{
		{nil, Durations{}},
		{[]float64{5}, Durations{Count: 1, P50: 5, P90: 5, Mean: 5}},
		{[]float64{4, 1, 3, 2}, Durations{Count: 4, P50: 2.5, P90: 3.7, Mean: 2.5}},
		{[]float64{10, 0}, Durations{Count: 2, P50: 5, P90: 9, Mean: 5}},
	} {
		got := summarize(tc.in)
		if got.Count != tc.want.Count || abs(got.P50-tc.want.P50) > 1e-9 || abs(got.P90-tc.want.P90) > 1e-9 || abs(got.Mean-tc.want.Mean) > 1e-9 {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
