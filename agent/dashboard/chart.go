package dashboard

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/ferry-dev/ferry/analysis"
)

// Chart is one metric's measurements drawn as SVG: a polyline per run of
// numbers (NaN breaks it), a dot per measurement coloured by its phase, and
// the condition's threshold when it is a plain comparison.
type Chart struct {
	Metric      string
	Condition   string // as written in ferry.yaml, shown beside the chart
	Width       int
	Height      int
	Lines       []string // SVG points attributes
	Dots        []Dot
	Threshold   *Threshold
	Top, Bottom string // axis labels
	Last        string
	LastPhase   analysis.Phase
}

// Dot is one measurement.
type Dot struct {
	X, Y  float64
	Phase analysis.Phase
	Title string // value, phase, time and detail, for the tooltip
}

// Threshold is a horizontal line at a condition's number.
type Threshold struct {
	Y     float64
	Label string
}

const (
	chartW, chartH           = 360, 120
	padL, padR, padT, padB   = 8, 8, 10, 10
	plotW, plotH             = chartW - padL - padR, chartH - padT - padB
	maxChartPoints           = 120
	thresholdNumberPattern   = `[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?`
	thresholdOperatorPattern = `<=|>=|<|>|==`
)

// thresholdRe reads "result < 0.05" and "0.05 > result". Only such plain
// comparisons get a line: one drawn for a compound condition would mislead.
// maxChartPoints above matches what agent/verify's board keeps per run.
var (
	thresholdRe  = regexp.MustCompile(`^\s*result\s*(` + thresholdOperatorPattern + `)\s*(` + thresholdNumberPattern + `)\s*$`)
	thresholdRev = regexp.MustCompile(`^\s*(` + thresholdNumberPattern + `)\s*(` + thresholdOperatorPattern + `)\s*result\s*$`)
)

// threshold returns the number a simple condition compares result with.
func threshold(cond string) (float64, bool) {
	var num string
	if m := thresholdRe.FindStringSubmatch(cond); m != nil {
		num = m[2]
	} else if m := thresholdRev.FindStringSubmatch(cond); m != nil {
		num = m[1]
	} else {
		return 0, false
	}
	// An infinite threshold has no place on the axis.
	v, err := strconv.ParseFloat(num, 64)
	return v, err == nil && !math.IsInf(v, 0)
}

// NewChart draws ms (one metric's measurements, oldest first); cond is the
// metric's success or failure condition, "" when unknown.
func NewChart(metric, cond string, ms []analysis.Measurement) Chart {
	if len(ms) > maxChartPoints {
		ms = ms[len(ms)-maxChartPoints:]
	}
	c := Chart{Metric: metric, Condition: cond, Width: chartW, Height: chartH}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range ms {
		if finite(m.Value) {
			lo, hi = math.Min(lo, m.Value), math.Max(hi, m.Value)
		}
	}
	// The threshold is always in view, so the chart shows how far the
	// values are from it.
	th, hasTh := threshold(cond)
	if hasTh {
		lo, hi = math.Min(lo, th), math.Max(hi, th)
	}
	if math.IsInf(lo, 1) { // nothing to scale: no numbers at all
		lo, hi = 0, 1
	}
	// A flat series gets a band around it instead of a division by zero.
	if hi-lo < 1e-12 {
		pad := math.Max(math.Abs(hi)*0.1, 1e-3)
		lo, hi = lo-pad, hi+pad
	}
	y := func(v float64) float64 { return round(padT + (hi-v)/(hi-lo)*plotH) }
	x := func(i int) float64 {
		// A single point sits in the middle, not on the edge.
		if len(ms) == 1 {
			return padL + plotW/2
		}
		return round(padL + float64(i)/float64(len(ms)-1)*plotW)
	}
	var line []string
	flush := func() {
		if len(line) > 0 {
			c.Lines = append(c.Lines, strings.Join(line, " "))
			line = nil
		}
	}
	for i, m := range ms {
		val := analysis.FormatValue(m.Value)
		if math.IsNaN(m.Value) {
			val = "no value"
		}
		title := val + " (" + string(m.Phase) + ") at " + m.At.UTC().Format("15:04:05")
		if m.Detail != "" {
			title += ": " + m.Detail
		}
		if !finite(m.Value) {
			flush()
			// No number: the dot sits on the bottom edge, its phase still shown.
			c.Dots = append(c.Dots, Dot{X: x(i), Y: padT + plotH, Phase: m.Phase, Title: title})
			continue
		}
		px, py := x(i), y(m.Value)
		line = append(line, fmtNum(px)+","+fmtNum(py))
		c.Dots = append(c.Dots, Dot{X: px, Y: py, Phase: m.Phase, Title: title})
	}
	flush()
	if hasTh {
		c.Threshold = &Threshold{Y: y(th), Label: analysis.FormatValue(th)}
	}
	c.Top, c.Bottom = analysis.FormatValue(hi), analysis.FormatValue(lo)
	if n := len(ms); n > 0 {
		c.Last, c.LastPhase = analysis.FormatValue(ms[n-1].Value), ms[n-1].Phase
	}
	return c
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// round keeps one decimal: finer than a pixel, and a smaller SVG.
func round(v float64) float64 { return math.Round(v*10) / 10 }

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
