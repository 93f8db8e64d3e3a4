package policies

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// benchInput is a realistic prod input: every piece of evidence present,
// fixable findings to list, an expired freeze.
const benchInput = "testdata/inputs/fixable-high-prod.json"

// BenchmarkDecide measures one decision with the default policies (target:
// under 50µs), as wall time and as CPU time (cpu-ns/op, all threads: GC
// included, neighbours on a shared machine not). "map" converts a decoded JSON document per call, as the agent
// does; "parsed" passes an ast.Value converted beforehand.
func BenchmarkDecide(b *testing.B) {
	e := defaultEngine(b)
	data, err := os.ReadFile(benchInput)
	if err != nil {
		b.Fatal(err)
	}
	var asMap map[string]any
	if err := json.Unmarshal(data, &asMap); err != nil {
		b.Fatal(err)
	}
	parsed, err := ast.InterfaceToValue(asMap)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		input any
		deny  bool
	}{{"prod/map", asMap, true}, {"prod/parsed", parsed, true}, {"prod/json", data, true}}
	// The lighter gates, for comparison.
	for _, env := range []string{"clean-qa", "clean-prod", "dr"} {
		d, err := os.ReadFile("testdata/inputs/" + env + ".json")
		if err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(d, &m); err != nil {
			b.Fatal(err)
		}
		cases = append(cases, struct {
			name  string
			input any
			deny  bool
		}{env + "/map", m, false})
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				d, err := e.Decide(ctx, bc.input)
				if err != nil || d.Allow == bc.deny {
					b.Fatalf("decision %+v, error %v; want deny=%v", d, err, bc.deny)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkOPAEvalProcess runs the opa binary named by FERRY_OPA on the same
// policies and input, as a process per decision, for a side-by-side number
// with BenchmarkDecide. It checks once that opa reaches the same denials.
func BenchmarkOPAEvalProcess(b *testing.B) {
	opa := os.Getenv("FERRY_OPA")
	if opa == "" {
		b.Skip("FERRY_OPA is not set to an opa binary")
	}
	dir := b.TempDir()
	policyDir := filepath.Join(dir, "policies")
	if err := os.Mkdir(policyDir, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, data := range DefaultFiles() {
		// opa eval -d would load tests and read the schema as data.
		if strings.HasSuffix(name, "_test.rego") || name == SchemaFile {
			continue
		}
		if err := os.WriteFile(filepath.Join(policyDir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	schema := filepath.Join(dir, SchemaFile)
	if err := os.WriteFile(schema, DefaultFiles()[SchemaFile], 0o644); err != nil {
		b.Fatal(err)
	}
	input, err := filepath.Abs(benchInput)
	if err != nil {
		b.Fatal(err)
	}
	args := []string{"eval", "--strict", "-d", policyDir, "-s", schema, "-i", input, "--format", "raw", "data.ferry.promotion"}

	out, err := exec.Command(opa, args...).Output()
	if err != nil {
		b.Fatalf("%s %s: %v", opa, strings.Join(args, " "), err)
	}
	var doc struct{ Deny []string }
	if err := json.Unmarshal(out, &doc); err != nil {
		b.Fatalf("opa output %q: %v", out, err)
	}
	data, err := os.ReadFile(benchInput)
	if err != nil {
		b.Fatal(err)
	}
	want, err := defaultEngine(b).Decide(context.Background(), data)
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(doc.Deny)
	if !slices.Equal(doc.Deny, want.Deny) {
		b.Fatalf("opa denies %q, Decide %q", doc.Deny, want.Deny)
	}

	var cpu time.Duration
	for b.Loop() {
		cmd := exec.Command(opa, args...)
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
