// Package deploy holds the Grafana dashboard and Prometheus rules shipped
// with ferry; its tests check them against the series ferry exports.
package deploy

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/ferry-dev/ferry/agent/dora"
	"github.com/ferry-dev/ferry/agent/observe"
)

// prometheusOwn are series Prometheus makes itself, not ferry.
var prometheusOwn = []string{"up"}

// exported lists every series name ferry's /metrics can carry: the agent's
// metrics, the DORA collector and the Go and process collectors
// cmd/ferry registers (histograms with their _bucket, _sum and _count).
func exported(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	observe.NewMetrics(reg)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		dora.NewCollector(func(context.Context) (dora.State, error) { return dora.State{}, nil }, dora.CollectorOptions{}))
	names := map[string]bool{}
	// Describe gives every name, even of a vector nothing was counted in yet.
	descs := make(chan *prometheus.Desc, 1024)
	go func() {
		for _, c := range []prometheus.Collector{reg} {
			c.Describe(descs)
		}
		close(descs)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for n := range names {
		if strings.HasSuffix(n, "_seconds") || strings.HasSuffix(n, "_bytes") {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[n+s] = true
			}
		}
	}
	if !names["ferry_promotions_total"] || !names["ferry_dora_deployments"] || !names["process_resident_memory_bytes"] || !names["go_goroutines"] {
		t.Fatalf("the registry lacks expected series: %v", names)
	}
	return names
}

// metricsIn returns the metric names a PromQL expression selects.
func metricsIn(t *testing.T, where, expr string) []string {
	t.Helper()
	// Grafana's variables are not PromQL: give them values that parse.
	expr = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m").Replace(expr)
	expr = regexp.MustCompile(`\$\{?\w+\}?`).ReplaceAllString(expr, "x")
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q: %v", where, expr, err)
		return nil
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%s: %q selects no metric by name", where, expr)
			}
			out = append(out, name)
		}
		return nil
	})
	return out
}

type dashboard struct {
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboardNamesOnlyExportedMetrics(t *testing.T) {
	have := exported(t)
	data, err := os.ReadFile("grafana/ferry.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana/ferry.json: %v", err)
	}
	used := map[string]bool{}
	queries := 0
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			for _, m := range metricsIn(t, "panel "+p.Title, tg.Expr) {
				used[m] = true
				if !have[m] {
					t.Errorf("panel %q uses %s, which ferry does not export", p.Title, m)
				}
			}
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((\w+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)["query"].(string)
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q)
			continue
		}
		if !have[m[1]] {
			t.Errorf("variable %s uses %s, which ferry does not export", v.Name, m[1])
		}
	}
	// The dashboard covers what the issue asks for.
	for _, m := range []string{"ferry_promotions_total", "ferry_decisions_total", "ferry_promotion_duration_seconds_bucket",
		"ferry_analysis_runs_total", "ferry_rollbacks_total", "ferry_registry_polls_total", "ferry_registry_rate_limit_waits_total",
		"ferry_git_push_retries_total", "ferry_dora_deployment_frequency_per_day", "ferry_dora_lead_time_seconds",
		"ferry_dora_change_failure_ratio", "ferry_dora_time_to_restore_seconds", "process_resident_memory_bytes", "go_goroutines"} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	if queries < 10 {
		t.Errorf("only %d queries", queries)
	}
}

func TestRulesNameOnlyExportedMetrics(t *testing.T) {
	have := exported(t)
	// promtool (TestPromtool) validates the file; Prometheus's rulefmt
	// package would pull modules go.sum does not hold.
	data, err := os.ReadFile("prometheus/ferry-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var groups struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Record, Expr, For string
				Labels, Annotations      map[string]string
			}
		}
	}
	if err := yaml.UnmarshalWithOptions(data, &groups, yaml.Strict()); err != nil {
		t.Fatalf("prometheus/ferry-rules.yaml: %v", err)
	}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			for _, m := range metricsIn(t, "rule "+r.Alert, r.Expr) {
				if !have[m] && !slices.Contains(prometheusOwn, m) {
					t.Errorf("rule %s uses %s, which ferry does not export", r.Alert, m)
				}
			}
			if r.Alert != "" && r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no summary", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}

// TestPromtool runs Prometheus's own checker and the rules' unit tests.
func TestPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool is not installed (Debian: apt-get install prometheus)")
	}
	for _, args := range [][]string{
		{"check", "rules", "ferry-rules.yaml"},
		{"test", "rules", "ferry-rules.test.yaml"},
	} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
