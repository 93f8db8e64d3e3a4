package dashboard

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestThreshold(t *testing.T) {
	tests := []struct {
		cond string
		want float64
		ok   bool
	}{
		{"result < 0.05", 0.05, true},
		{"result<=1e-3", 0.001, true},
		{" result >= 95 ", 95, true},
		{"result == 0", 0, true},
		{"0.5 > result", 0.5, true},
		{"result < .5", 0.5, true},
		{"result < 0.05 && result > 0", 0, false},
		{"len(result) > 1", 0, false},
		{"result < Inf", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := threshold(tt.cond)
		if ok != tt.ok || got != tt.want {
			t.Errorf("threshold(%q) = %v, %v; want %v, %v", tt.cond, got, ok, tt.want, tt.ok)
		}
	}
}

func measurements(vals ...float64) []analysis.Measurement {
	start := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	out := make([]analysis.Measurement, len(vals))
	for i, v := range vals {
		ph := analysis.PhaseSuccessful
		switch {
		case math.IsNaN(v):
			ph = analysis.PhaseInconclusive
		case v >= 0.05:
			ph = analysis.PhaseFailed
		}
		out[i] = analysis.Measurement{Metric: "error-ratio", At: start.Add(time.Duration(i) * 10 * time.Second), Value: v, Phase: ph}
	}
	return out
}

func TestNewChart(t *testing.T) {
	tests := []struct {
		name      string
		cond      string
		vals      []float64
		lines     int
		threshold bool
		top, bot  string
	}{
		{"rising with threshold", "result < 0.05", []float64{0.01, 0.02, 0.08}, 1, true, "0.08", "0.01"},
		{"threshold above every value", "result < 0.05", []float64{0.01, 0.02}, 1, true, "0.05", "0.01"},
		{"NaN splits the line", "", []float64{1, 2, math.NaN(), 3, 4}, 2, false, "4", "1"},
		{"flat", "", []float64{2, 2, 2}, 1, false, "2.2", "1.8"},
		{"single", "", []float64{0}, 1, false, "0.001", "-0.001"},
		{"no numbers", "result == 0", []float64{math.NaN(), math.NaN()}, 0, true, "0.001", "-0.001"},
		{"none", "", nil, 0, false, "1", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChart("error-ratio", tt.cond, measurements(tt.vals...))
			if len(c.Lines) != tt.lines || (c.Threshold != nil) != tt.threshold || c.Top != tt.top || c.Bottom != tt.bot {
				t.Fatalf("lines %d threshold %v top %s bottom %s: %+v", len(c.Lines), c.Threshold != nil, c.Top, c.Bottom, c)
			}
			if len(c.Dots) != len(tt.vals) {
				t.Fatalf("%d dots for %d measurements", len(c.Dots), len(tt.vals))
			}
			for _, d := range c.Dots {
				if d.X < padL || d.X > chartW-padR || d.Y < padT || d.Y > chartH-padB {
					t.Fatalf("dot outside the plot: %+v", d)
				}
			}
		})
	}
	many := make([]float64, 3*maxChartPoints)
	if c := NewChart("m", "", measurements(many...)); len(c.Dots) != maxChartPoints {
		t.Fatalf("%d dots, want the newest %d", len(c.Dots), maxChartPoints)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file (run with -update after checking):\n%s", name, got)
	}
}

// TestGoldenSnippets renders the chart of an analysis and a matrix cell of a
// canary delivery, with markup in every string a provider or Git controls.
func TestGoldenSnippets(t *testing.T) {
	tmpl := parsePages(false)["home"]
	ms := measurements(0.01, 0.02, math.NaN(), 0.08)
	ms[3].Detail = `result < 0.05 is false for <img src=x onerror=alert(3)>`
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "chart", NewChart("error-ratio", "result < 0.05", ms)); err != nil {
		t.Fatal(err)
	}
	golden(t, "chart.golden.html", b.Bytes())

	b.Reset()
	cell := Cell{
		App: "checkout", Env: "prod",
		Version:  ledger.Version{Tag: "1.1.0", Digest: "sha256:0123456789abcdef0123456789abcdef"},
		Delivery: &Delivery{Strategy: "canary", Version: ledger.Version{Tag: `1.2.0"><script>`}, Step: "2/4", Label: "25%", Weight: 25},
		Verdict:  &Verdict{Verdict: analysis.Successful, Template: "errors", Commit: "89abcdef0123456789abcdef0123456789abcdef", Reason: "0 < 0.05 <ok>"},
	}
	if err := tmpl.ExecuteTemplate(&b, "cell", cell); err != nil {
		t.Fatal(err)
	}
	golden(t, "cell.golden.html", b.Bytes())
	for _, bad := range []string{"<script", "<img"} {
		if bytes.Contains(b.Bytes(), []byte(bad)) {
			t.Fatalf("%s in a rendered cell", bad)
		}
	}
}

// TestGoldenAnalyses renders the analyses section: a canary step's live
// measurements grouped per metric, each drawn with its condition's threshold.
func TestGoldenAnalyses(t *testing.T) {
	p := mustPipeline(t)
	ms := append(measurements(0.01, 0.02, 0.03), analysis.Measurement{Metric: "latency-p99", At: time.Date(2026, 11, 25, 18, 0, 5, 0, time.UTC), Value: 0.25, Phase: analysis.PhaseSuccessful})
	progress := []Analysis{{
		App: "checkout", Env: "prod", Commit: "0123456789abcdef0123456789abcdef01234567",
		Version: ledger.Version{Tag: "1.2.0"}, Template: "errors", Step: "2/4",
		Started: time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC), Verdict: analysis.Running, Measurements: ms,
	}}
	views := analyses(p, progress, "")
	if len(views) != 1 || len(views[0].Charts) != 2 || views[0].Charts[0].Threshold == nil || views[0].Charts[1].Threshold != nil {
		t.Fatalf("analyses: %+v", views)
	}
	var b bytes.Buffer
	if err := parsePages(false)["home"].ExecuteTemplate(&b, "analyses", views); err != nil {
		t.Fatal(err)
	}
	golden(t, "analyses.golden.html", b.Bytes())
	if got := analyses(p, progress, "cart"); len(got) != 0 {
		t.Fatalf("cart's page shows checkout's analysis: %+v", got)
	}
}

func mustPipeline(t *testing.T) *config.Pipeline {
	t.Helper()
	p, err := config.Parse("ferry.yaml", []byte(`apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "https://git.example/fleet.git"}
apps:
  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: prod, overlay: overlays/prod, auto: true, analysis: errors}
providers:
  prometheus: {address: "http://127.0.0.1:9"}
analyses:
  errors:
    metrics:
      - {name: error-ratio, query: 'sum(rate(errors[1m]))', successCondition: result < 0.05}
      - {name: latency-p99, query: 'histogram_quantile(0.99, x)', successCondition: 'result < 0.5 && result > 0'}
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChartEscapesDetails(t *testing.T) {
	ms := measurements(0.1)
	ms[0].Detail = `</title><script>alert(1)</script>`
	var b bytes.Buffer
	if err := parsePages(false)["home"].ExecuteTemplate(&b, "chart", NewChart(`m<script>`, `result < 0.05`, ms)); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); strings.Contains(s, "<script") || !strings.Contains(s, "&lt;/title&gt;&lt;script&gt;") {
		t.Fatalf("detail not escaped:\n%s", s)
	}
}
