package analysis

import (
	"fmt"
	"math"
	"strings"
)

// maxShown bounds the values listed per metric in Explain.
const maxShown = 12

// Explain is a multi-line account of r, one line per metric with its
// values, for a git note or a pull request body.
func (r Result) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "analysis %s: %s", r.Template, r.Verdict)
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		fmt.Fprintf(&b, " after %s", r.Finished.Sub(r.Started).Round(1e9))
	}
	fmt.Fprintf(&b, ": %s\n", r.Reason)
	for _, m := range r.Metrics {
		fmt.Fprintf(&b, "  %s: %s: %s; values %s\n", m.Name, m.Verdict, m.Reason, values(m.Measurements))
	}
	if n := len(r.Judge); n > 0 {
		last := r.Judge[n-1]
		fmt.Fprintf(&b, "  judge, window %d of %d: %s: %s\n", n, n, last.Verdict, last.Reason)
		for _, j := range last.Metrics {
			fmt.Fprintf(&b, "    %s\n", j.Explanation)
		}
	}
	return b.String()
}

func values(ms []Measurement) string {
	if len(ms) == 0 {
		return "none"
	}
	var parts []string
	start := max(0, len(ms)-maxShown)
	if start > 0 {
		parts = append(parts, fmt.Sprintf("(%d earlier)", start))
	}
	for _, m := range ms[start:] {
		switch {
		case m.Phase == PhaseError:
			parts = append(parts, "error")
		case math.IsNaN(m.Value):
			parts = append(parts, "NaN")
		default:
			parts = append(parts, FormatValue(m.Value))
		}
	}
	return strings.Join(parts, ", ")
}
