package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzDecideJSON feeds `ferry policy eval --input` documents to the default
// policies: whatever the bytes, the result is an error or a consistent
// decision, never a panic, and never an allow alongside an error; and the
// document decoded to Go values, as the agent passes its input (of which
// only what the policies read is converted), is decided the same way.
func FuzzDecideJSON(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/inputs/*.json")
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{``, `{}`, `null`, `[]`, `{"environment": {"name": "prod", "tier": "production"}}`,
		`{"environment": {"name": "prod", "tier": "production"}, "evidence": {"freeze": [{"until": 7}]}}`,
		`{"environment": {"name": "qa", "tier": "test"}, "evidence": {"trivy": {"summary": {"CRITICAL": "1"}}}}`,
		`{"candidate": {"version": 1}, "evidence": {"rejected": "1"}}`, `{"a": 1e999}`} {
		f.Add([]byte(s))
	}
	e := defaultEngine(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := e.Decide(context.Background(), data)
		if m, ok := decodeObject(data); ok && err == nil {
			// (Where the whole document fails, a part of it may not.)
			g, gErr := e.Decide(context.Background(), m)
			if gErr != nil || !equalDecisions(d, g) {
				t.Fatalf("as JSON: %+v; as Go values: %+v, %v", d, g, gErr)
			}
		}
		if err != nil {
			if d.Allow || d.Deny != nil || d.Warn != nil {
				t.Fatalf("error %v came with a decision %+v", err, d)
			}
			return
		}
		if d.Allow != (len(d.Deny) == 0) || d.Deny == nil || d.Warn == nil {
			t.Fatalf("inconsistent decision %+v", d)
		}
	})
}

// FuzzLoadData feeds data files (as JSON and as YAML, at the root and in a
// subdirectory) to Load beside a policy reading them: whatever the bytes,
// Load fails with ErrCompile or loads; a file that is one JSON object
// always loads at the root, and anything else JSON is refused there.
func FuzzLoadData(f *testing.F) {
	for _, s := range []string{`{"blocklist": ["legacy"]}`, `{}`, `[]`, `null`, ``, `{"a": {"b": 1}} {}`,
		"blocklist:\n  - legacy\n", "a: &x [1]\nb: *x\n", "? [a]\n: 1\n", "\t- x", `{"ferry": {"promotion": {"deny_x": []}}}`,
		`{"ferry": 1}`, `{"a": 1e999}`, "1: one\ntrue: yes\n"} {
		f.Add([]byte(s))
	}
	const policy = "package ferry.promotion\n\ndeny contains \"blocked\" if input.app.name in data.blocklist\n"
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"p/data.json", "p/data.yaml", "p/teams/data.json", "p/teams/data.yml"} {
			fsys := fstest.MapFS{"p/p.rego": {Data: []byte(policy)}, name: {Data: data}}
			e, err := Load(context.Background(), fsys, "p")
			if err != nil {
				if !errors.Is(err, ErrCompile) {
					t.Fatalf("%s: error %v does not wrap ErrCompile", name, err)
				}
				if e != nil {
					t.Fatalf("%s: engine returned with error %v", name, err)
				}
			}
			if name != "p/data.json" {
				continue
			}
			trimmed := bytes.TrimSpace(data)
			isObject := json.Valid(data) && len(trimmed) > 0 && trimmed[0] == '{'
			// An object whose keys clash with the package's rules is refused
			// for that reason, not for its syntax.
			if isObject && err != nil && !strings.Contains(err.Error(), "rule data.ferry") && !strings.Contains(err.Error(), "decision rule") {
				t.Fatalf("valid JSON object refused: %v", err)
			}
			if !isObject && err == nil {
				t.Fatalf("%q loaded as root data", data)
			}
		}
	})
}

// decodeObject decodes one JSON object as jsonValue does (numbers exact).
func decodeObject(data []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || m == nil || dec.More() {
		return nil, false
	}
	return m, true
}
