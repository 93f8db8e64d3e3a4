package policies

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecideJSON feeds `ferry policy eval --input` documents to the default
// policies: whatever the bytes, the result is an error or a consistent
// decision, never a panic, and never an allow alongside an error.
func FuzzDecideJSON(f *testing.F) {
	inputs, _ := filepath.Glob("testdata/inputs/*.json")
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{``, `{}`, `null`, `[]`, `{"environment": {"name": "prod"}}`,
		`{"environment": {"name": "prod"}, "evidence": {"freeze": [{"until": 7}]}}`,
		`{"environment": {"name": "qa"}, "evidence": {"trivy": {"summary": {"CRITICAL": "1"}}}}`,
		`{"candidate": {"version": 1}, "evidence": {"rejected": "1"}}`, `{"a": 1e999}`} {
		f.Add([]byte(s))
	}
	e := defaultEngine(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := e.Decide(context.Background(), data)
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
