package sonar

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParseStatus feeds project_status bodies to the parser: it must never
// panic, and whatever it accepts must be a gate the policy can read.
func FuzzParseStatus(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "project_status", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed recordings: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"projectStatus":{"status":"OK","conditions":[{"metricKey":"x","status":"WARN","warningThreshold":"1"}]}}`))
	f.Add([]byte(`{"projectStatus":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		g, err := parseStatus(body)
		if err != nil {
			return
		}
		if !slices.Contains([]string{StatusOK, StatusWarn, StatusError, StatusNone}, g.Status) {
			t.Errorf("accepted status %q", g.Status)
		}
		if g.Conditions == nil {
			t.Error("accepted gate has nil Conditions")
		}
		for i, c := range g.Conditions {
			if c.Metric == "" {
				t.Errorf("condition %d has no metric", i)
			}
		}
		if g.AnalysisID != "" {
			t.Errorf("parser invented analysis id %q", g.AnalysisID)
		}
	})
}
