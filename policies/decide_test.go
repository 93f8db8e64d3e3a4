package policies

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

var update = flag.Bool("update", false, "rewrite golden files")

// defaultEngine loads the embedded default policies.
func defaultEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := Load(context.Background(), Default, ".")
	if err != nil {
		t.Fatalf("load default policies: %v", err)
	}
	return e
}

// TestDefaultDecisions runs the default policies over each input fixture
// and compares the printed decision with its golden file.
func TestDefaultDecisions(t *testing.T) {
	e := defaultEngine(t)
	inputs, err := filepath.Glob("testdata/inputs/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no input fixtures: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(context.Background(), data)
			if err != nil {
				t.Fatalf("decide: %v", err)
			}
			if d.Allow != (len(d.Deny) == 0) {
				t.Errorf("Allow = %v with %d deny reasons", d.Allow, len(d.Deny))
			}
			var got bytes.Buffer
			if err := PrintDecision(&got, d, nil, false); err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(in, ".json")+".golden", got.Bytes())

			// Eval, the CLI's path, reaches the same decision.
			d2, err := Eval(context.Background(), Default, ".", data)
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if !equalDecisions(d, d2) {
				t.Errorf("Eval = %+v, Decide = %+v", d2, d)
			}
		})
	}
}

func equalDecisions(a, b Decision) bool {
	return a.Allow == b.Allow && strings.Join(a.Deny, "\n") == strings.Join(b.Deny, "\n") && strings.Join(a.Warn, "\n") == strings.Join(b.Warn, "\n")
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestDecideInputForms checks that every accepted input form reaches the
// same decision as the JSON bytes.
func TestDecideInputForms(t *testing.T) {
	e := defaultEngine(t)
	data, err := os.ReadFile("testdata/inputs/critical-qa.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.Decide(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if want.Allow {
		t.Fatalf("fixture critical-qa should deny, got %+v", want)
	}
	m, err := jsonValue(data)
	if err != nil {
		t.Fatal(err)
	}
	asMap, err := ast.JSON(m)
	if err != nil {
		t.Fatal(err)
	}
	type app struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	}
	type env struct {
		Name string `json:"name"`
		Tier string `json:"tier"`
		From string `json:"from,omitempty"`
	}
	type cand struct {
		Version string `json:"version"`
	}
	type trivy struct {
		Summary map[string]int `json:"summary"`
	}
	type evidence struct {
		Trivy *trivy `json:"trivy,omitempty"`
	}
	type input struct {
		App         app      `json:"app"`
		Environment env      `json:"environment"`
		Candidate   cand     `json:"candidate"`
		Evidence    evidence `json:"evidence"`
		Time        string   `json:"time"`
	}
	asStruct := input{
		App: app{"checkout", "registry.example/shop/checkout"}, Environment: env{"qa", "test", "dev"},
		Candidate: cand{"1.4.2"}, Time: "2026-11-25T18:00:00Z",
		Evidence: evidence{Trivy: &trivy{Summary: map[string]int{"CRITICAL": 1}}},
	}
	structWant := Decision{Deny: []string{"CRITICAL vulnerabilities in 1.4.2: 1; update the affected packages and rebuild"}, Warn: []string{}}
	for _, tc := range []struct {
		name  string
		input any
		want  Decision
	}{
		{"json bytes", data, want},
		{"ast value", m, want},
		{"map", asMap, want},
		{"struct", asStruct, structWant},
		{"struct pointer", &asStruct, structWant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Decide(context.Background(), tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if !equalDecisions(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestFailClosed checks that whatever goes wrong is an error, never an allow.
func TestFailClosed(t *testing.T) {
	clean, err := os.ReadFile("testdata/inputs/clean-prod.json")
	if err != nil {
		t.Fatal(err)
	}
	badUntil := bytes.Replace(clean, []byte(`"until": "2026-10-01T00:00:00Z"`), []byte(`"until": "next monday"`), 1)
	if bytes.Equal(badUntil, clean) {
		t.Fatal("fixture clean-prod has no freeze to break")
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	def := defaultEngine(t)
	for _, tc := range []struct {
		name   string
		policy string // empty: the default policies
		ctx    context.Context
		input  any
		want   string
	}{
		{"built-in error in a rule", "", nil, badUntil, "next monday"},
		{"message not a string", `deny contains 42 if input.app.name`, nil, clean, "want only strings"},
		{"conflicting values", "x := 1 if input.app\nx := 2 if input.app\ndeny contains \"d\" if x == 3", nil, clean, "conflict"},
		{"division by zero", `deny contains "d" if 1 / count(input.app.name) == 0`, nil, []byte(`{"app": {"name": ""}}`), "divide by zero"},
		{"input not an object", "", nil, []byte(`[1, 2]`), "must be a JSON object, got an array"},
		{"input null", "", nil, []byte(`null`), "got null"},
		{"input missing", "", nil, nil, "input is missing"},
		{"input a string value", "", nil, ast.String("x"), "must be an object, got string"},
		{"input bad JSON", "", nil, []byte("{\n  \"app\": {\"name\": \"x\",}\n}"), "line 2, column 23"},
		{"input truncated", "", nil, []byte(`{"app": {`), "unexpected end of JSON"},
		{"input trailing data", "", nil, []byte(`{"app": {}} {}`), "more data after the JSON object"},
		{"input empty", "", nil, []byte(``), "empty document"},
		{"context canceled", "", canceled, clean, "cancel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := def
			if tc.policy != "" {
				fsys := fstest.MapFS{"p/p.rego": {Data: []byte("package ferry.promotion\n\n" + tc.policy + "\n")}}
				var err error
				if e, err = Load(context.Background(), fsys, "p"); err != nil {
					t.Fatalf("load: %v", err)
				}
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			d, err := e.Decide(ctx, tc.input)
			if err == nil {
				t.Fatalf("decision %+v, want an error", d)
			}
			if d.Allow {
				t.Errorf("Allow set alongside error %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestNoPolicyRefused (H8): a policies/ directory holding no policy
// module (only tests, data or docs; Git has no empty directories) is a
// gate that was lost, not "no gates": it is refused, where it used to
// allow every promotion. A typo in a policy is a compile error even
// without the directory's own input.schema.json: ferry's built-in schema
// types the input it builds.
func TestNoPolicyRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"empty directory", fstest.MapFS{"policies": {Mode: os.ModeDir | 0o755}}, "holds no policy"},
		{"only tests and docs", fstest.MapFS{
			"policies/README.md":   {Data: []byte("# policies\n")},
			"policies/x_test.rego": {Data: []byte("package ferry.promotion_test\n\ntest_x if true\n")},
		}, "holds no policy"},
		{"only data", fstest.MapFS{"policies/data.yaml": {Data: []byte("blocklist: [checkout]\n")}}, "holds no policy"},
		{"a typo and no input.schema.json", fstest.MapFS{
			"policies/gate.rego": {Data: []byte("package ferry.promotion\n\ndeny contains \"x\" if input.evidence.trivvy.summary.CRITICAL > 0\n")},
		}, "undefined ref: input.evidence.trivvy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(context.Background(), tc.fsys, "policies/")
			if !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v; want a compile error saying %q", err, tc.want)
			}
		})
	}
}

// TestDecideSortsAndDeduplicates checks the order of reasons does not depend
// on rule order, and that equal messages from two rules appear once.
func TestDecideSortsAndDeduplicates(t *testing.T) {
	fsys := fstest.MapFS{
		"p/b.rego": {Data: []byte("package ferry.promotion\n\ndeny contains \"zebra\" if input.app\ndeny contains \"same\" if input.app\nwarn contains \"w2\" if input.app\n")},
		"p/a.rego": {Data: []byte("package ferry.promotion\n\ndeny contains \"apple\" if input.app\ndeny contains \"same\" if input.app\nwarn contains \"w1\" if input.app\n")},
	}
	e, err := Load(context.Background(), fsys, "p")
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), map[string]any{"app": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{Deny: []string{"apple", "same", "zebra"}, Warn: []string{"w1", "w2"}}
	if !equalDecisions(d, want) {
		t.Errorf("got %+v, want %+v", d, want)
	}
}

func TestErrCompileIsWrapped(t *testing.T) {
	_, err := Load(context.Background(), fstest.MapFS{"p/a.rego": {Data: []byte("package ferry.promotion\n\ndeny contains if\n")}}, "p")
	if !errors.Is(err, ErrCompile) {
		t.Fatalf("error %v does not wrap ErrCompile", err)
	}
}

// TestDecideGoValues feeds the Go types the agent builds its input from
// (int64, float64 from math.Floor, structs with JSON tags inside maps) and
// checks numbers read naturally in messages.
func TestDecideGoValues(t *testing.T) {
	type finding struct {
		ID       string `json:"id"`
		Package  string `json:"package"`
		Severity string `json:"severity"`
		Fixed    string `json:"fixed"`
	}
	type report struct {
		Summary  map[string]int `json:"summary"`
		Findings []finding      `json:"findings"`
	}
	input := map[string]any{
		"app":         map[string]any{"name": "checkout", "image": "registry.example/shop/checkout"},
		"environment": map[string]any{"name": "prod", "tier": "production", "from": "ppd", "soak_seconds": int64(3600)},
		"candidate":   map[string]any{"version": "1.4.2", "tag": "1.4.2"},
		"time":        "2026-11-25T18:00:00Z",
		"evidence": map[string]any{
			"trivy": report{Summary: map[string]int{"CRITICAL": 0, "HIGH": 1}, Findings: []finding{{"CVE-2026-1234", "openssl", "HIGH", "3.0.2"}}},
			"sonar": map[string]any{"status": "OK"},
			"soak":  map[string]any{"env": "ppd", "seconds": 1800.0},
		},
	}
	d, err := defaultEngine(t).Decide(context.Background(), input)
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{Deny: []string{
		"1.4.2 has HIGH or CRITICAL vulnerabilities with a fix available: CVE-2026-1234 in openssl (fixed in 3.0.2); update those packages and rebuild",
		"1.4.2 has run 1800s in ppd, prod needs 3600s: wait 1800s more",
	}, Warn: []string{}}
	if !equalDecisions(d, want) {
		t.Errorf("got %+v\nwant %+v", d, want)
	}
}

// TestDecideStopsWhenCanceled checks a runaway policy is stopped by the
// context and reported as such.
func TestDecideStopsWhenCanceled(t *testing.T) {
	fsys := fstest.MapFS{"p/p.rego": {Data: []byte(`package ferry.promotion

deny contains "slow" if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i + j < 0
}
`)}}
	e, err := Load(context.Background(), fsys, "p")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Most likely mid-evaluation (the loop runs 10^10 times); if before
		// it, Decide must still answer Canceled.
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	d, err := e.Decide(ctx, map[string]any{"app": map[string]any{}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %+v, %v; want context.Canceled", d, err)
	}
}

// TestMissingDirectory checks a directory that is not there is an error the
// caller can recognise, not a silent allow.
func TestMissingDirectory(t *testing.T) {
	fsys := fstest.MapFS{"ferry.yaml": {Data: []byte("kind: Pipeline\n")}}
	_, err := Load(context.Background(), fsys, "policies/")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "policy directory policies does not exist") {
		t.Fatalf("Load: %v", err)
	}
	var out bytes.Buffer
	code, err := RunTests(context.Background(), fsys, "policies", false, &out)
	if code != TestsBroken || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("RunTests: exit %d, %v", code, err)
	}
}

// TestSchemaTypesFreezeEvidence (H10): the built-in schema describes the
// freeze entries ferry builds ({"name", "reason", "until"}; until absent
// for a freeze held until an alert resolves): a policy naming f.name was a
// compile error that stopped every promotion.
func TestSchemaTypesFreezeEvidence(t *testing.T) {
	fsys := fstest.MapFS{"policies/gate.rego": {Data: []byte(`package ferry.promotion

deny contains msg if {
	some f in input.evidence.freeze
	msg := sprintf("frozen by %s: %s (until %s)", [f.name, f.reason, object.get(f, "until", "it resolves")])
}
`)}}
	e, err := Load(context.Background(), fsys, "policies")
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), map[string]any{
		"app": map[string]any{"name": "checkout", "image": "r/checkout"}, "environment": map[string]any{"name": "prod"},
		"candidate": map[string]any{"version": "1.0.0"}, "time": "2026-12-01T00:00:00Z",
		"evidence": map[string]any{"freeze": []any{map[string]any{"name": "alert-fcc7", "reason": "HighErrorRate"}}},
	})
	if err != nil || d.Allow || len(d.Deny) != 1 || d.Deny[0] != "frozen by alert-fcc7: HighErrorRate (until it resolves)" {
		t.Fatalf("decision %+v, %v", d, err)
	}
}
