package trivy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the parser's output")

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reports", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGolden(t *testing.T) {
	tests := []struct {
		fixture string
		// facts read off the fixture by hand, so a wrong golden cannot pass
		findings int
		critical int
		source   string
	}{
		{"image-alpine.json", 18, 4, "registry.example/shop/checkout:1.4.2"},
		{"image-alpine.sarif", 18, 4, "registry.example/shop/checkout:1.4.2"},
		{"fs-repo.json", 8, 0, "."},
		{"clean-image.json", 0, 0, "registry.example/shop/cart:2.0.0"},
		{"clean-image.sarif", 0, 0, "registry.example/shop/cart:2.0.0"},
		{"clean-fs.json", 0, 0, "services/cart"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r, err := Parse(readFixture(t, tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != tt.findings || r.Summary["CRITICAL"] != tt.critical || r.Source != tt.source {
				t.Errorf("%d findings, %d critical, source %q; want %d, %d, %q",
					len(r.Findings), r.Summary["CRITICAL"], r.Source, tt.findings, tt.critical, tt.source)
			}
			got, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", strings.NewReplacer(".json", "", ".sarif", "-sarif").Replace(tt.fixture)+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Parse(%s) differs from %s:\n%s", tt.fixture, golden, got)
			}
		})
	}
}

// The same scan written as JSON and as SARIF reads the same.
func TestJSONAndSARIFAgree(t *testing.T) {
	pairs := [][2]string{{"image-alpine.json", "image-alpine.sarif"}, {"clean-image.json", "clean-image.sarif"}}
	for _, p := range pairs {
		a, err := Parse(readFixture(t, p[0]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(readFixture(t, p[1]))
		if err != nil {
			t.Fatal(err)
		}
		// What the policy sees agrees; SARIF does not carry the JSON's
		// ArtifactType and RepoDigests (checked before an attach only).
		a.Scanned, b.Scanned = Scanned{}, Scanned{}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s and %s differ:\n%+v\n%+v", p[0], p[1], a, b)
		}
	}
}

func TestParseShape(t *testing.T) {
	r, err := Parse(readFixture(t, "fs-repo.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]int{r.Summary, r.Fixable} {
		if len(m) != len(Severities) {
			t.Errorf("map has %d keys, want %d: %v", len(m), len(Severities), m)
		}
	}
	// Two micromatch versions stay apart; the unfixed request finding is
	// not fixable.
	var micromatch int
	for _, f := range r.Findings {
		if f.Package == "micromatch" {
			micromatch++
		}
		if f.Package == "request" && f.Fixed != "" {
			t.Errorf("request has a fixed version %q", f.Fixed)
		}
	}
	if micromatch != 2 {
		t.Errorf("%d micromatch findings, want 2", micromatch)
	}
	if r.Summary["MEDIUM"]-r.Fixable["MEDIUM"] != 1 {
		t.Errorf("summary %v, fixable %v: want exactly one unfixable MEDIUM", r.Summary, r.Fixable)
	}

	clean, err := Parse(readFixture(t, "clean-fs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(clean.Findings); string(b) != "[]" {
		t.Errorf("clean findings marshal to %s, want []", b)
	}
}

func TestDedupKeepsGraverSeverity(t *testing.T) {
	doc := `{"SchemaVersion":2,"ArtifactName":"x","Results":[
	 {"Target":"a","Vulnerabilities":[{"VulnerabilityID":"CVE-1","PkgName":"p","InstalledVersion":"1","Severity":"low"}]},
	 {"Target":"b","Vulnerabilities":[{"VulnerabilityID":"CVE-1","PkgName":"p","InstalledVersion":"1","FixedVersion":"2","Severity":"HIGH"}]},
	 {"Target":"c","Vulnerabilities":[{"VulnerabilityID":"CVE-0","PkgName":"q","InstalledVersion":"1"}]}]}`
	r, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{ID: "CVE-1", Package: "p", Severity: "HIGH", Installed: "1", Fixed: "2"},
		{ID: "CVE-0", Package: "q", Severity: "UNKNOWN", Installed: "1"},
	}
	if !reflect.DeepEqual(r.Findings, want) {
		t.Errorf("Findings = %+v, want %+v", r.Findings, want)
	}
	if r.Summary["HIGH"] != 1 || r.Fixable["HIGH"] != 1 || r.Summary["UNKNOWN"] != 1 || r.Fixable["UNKNOWN"] != 0 {
		t.Errorf("Summary %v Fixable %v", r.Summary, r.Fixable)
	}
}

func TestParseErrors(t *testing.T) {
	trivySARIF := func(results string) string {
		return `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Trivy","rules":[
		  {"id":"CVE-1","properties":{"tags":["vulnerability","security","HIGH"]}}]}},"results":[` + results + `]}]}`
	}
	tests := []struct {
		name  string
		doc   string
		want  []string
		trivy bool // errors.Is(err, ErrNotTrivy)
	}{
		{"empty", ``, []string{"Trivy JSON report", "line 1, column 1", "unexpected end"}, false},
		{"not JSON", `<html>502 Bad Gateway</html>`, []string{"Trivy JSON report", "line 1, column 1", "invalid character '<'"}, false},
		{"truncated JSON report", "{\n  \"SchemaVersion\": 2,\n  \"Results\": [\n    {\"Target\": \"x\"", []string{"Trivy JSON report", "line 4", "unexpected end"}, false},
		{"syntax error in SARIF", "{\"runs\": [\n  {\"tool\": }\n]}", []string{"Trivy SARIF log", "line 2, column 12", "invalid character '}'"}, false},
		{"array", `[1,2]`, []string{"Trivy JSON report", "line 1", "document: got array, want object"}, false},
		{"other JSON", `{"kind":"Deployment"}`, []string{"neither SchemaVersion", "nor runs"}, true},
		{"null", `null`, []string{"neither SchemaVersion"}, true},
		{"schema 1", `{"SchemaVersion":1,"Results":[]}`, []string{"Trivy JSON report", "SchemaVersion is 1"}, false},
		{"wrong type", "{\"SchemaVersion\": 2,\n \"Results\": [{\"Target\": \"a\", \"Vulnerabilities\": [{\"VulnerabilityID\": 7}]}]}",
			[]string{"Trivy JSON report", "line 2, column 70", "Results.Vulnerabilities.VulnerabilityID: got number, want string"}, false},
		{"object for array", "{\"SchemaVersion\": 2,\n\"Results\": {\n  \"Target\": \"a\"\n}}",
			[]string{"line 2, column 12", "Results: got object, want array"}, false},
		{"string for number", `{"SchemaVersion": "tw\"o"}`, []string{"line 1, column 19", "SchemaVersion: got string, want integer"}, false},
		{"wrong type after multibyte", "{\"ArtifactName\": \"é\", \"SchemaVersion\": true}", []string{"line 1, column 40", "got bool"}, false},
		{"no id", `{"SchemaVersion":2,"Results":[{"Target":"a"},{"Target":"go.mod","Vulnerabilities":[{"PkgName":"x"}]}]}`,
			[]string{"Results[1].Vulnerabilities[0]", `target "go.mod"`, "no VulnerabilityID"}, false},
		{"no package", `{"SchemaVersion":2,"Results":[{"Target":"a","Vulnerabilities":[{"VulnerabilityID":"CVE-1"}]}]}`,
			[]string{"Results[0].Vulnerabilities[0]", "CVE-1", "no PkgName"}, false},
		{"bad severity", `{"SchemaVersion":2,"Results":[{"Target":"a","Vulnerabilities":[{"VulnerabilityID":"CVE-1","PkgName":"p","Severity":"SEVERE"}]}]}`,
			[]string{"Results[0].Vulnerabilities[0]", `Severity "SEVERE"`}, false},
		// Nothing scanned must not read as a clean scan (fail closed).
		{"JSON naming no artifact", `{"SchemaVersion":2}`, []string{"no ArtifactName", "not a Trivy scan"}, false},
		{"SARIF without runs", `{"version":"2.1.0","runs":[]}`, []string{"no runs"}, true},
		{"SARIF from another tool", `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"CodeQL"}},"results":[]}]}`,
			[]string{"Trivy SARIF log", `runs[0].tool.driver.name is "CodeQL"`}, true},
		{"SARIF version", `{"version":"1.0.0","runs":[]}`, []string{"Trivy SARIF log", `version is "1.0.0"`}, false},
		{"SARIF vulnerability without package", trivySARIF(`{"ruleId":"CVE-1","message":{"text":"Vulnerability CVE-1\nSeverity: HIGH"}}`),
			[]string{"runs[0].results[0]", `rule "CVE-1"`, `no "Package:" line`}, false},
		{"SARIF bad severity", trivySARIF(`{"ruleId":"CVE-1","message":{"text":"Package: p\nSeverity: BAD"}}`),
			[]string{"runs[0].results[0]", `severity "BAD"`}, false},
		{"SARIF bad score", `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Trivy","rules":[{"id":"X","properties":{"security-severity":"high"}}]}}}]}`,
			[]string{"Trivy SARIF log", "security-severity \"high\" is not a number"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := errors.Is(err, ErrNotTrivy); got != tt.trivy {
				t.Errorf("errors.Is(err, ErrNotTrivy) = %v, want %v", got, tt.trivy)
			}
		})
	}
}

func TestSARIFSeverityFallbacks(t *testing.T) {
	doc := `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Trivy","rules":[
	  {"id":"CVE-A","properties":{"tags":["vulnerability","security","CRITICAL"]}},
	  {"id":"CVE-B","properties":{"security-severity":7.2,"tags":["vulnerability"]}},
	  {"id":"CVE-C","properties":{"security-severity":"4.1"}},
	  {"id":"CVE-D"},
	  {"id":"DS002","properties":{"tags":["misconfiguration","security","HIGH"]}}]}},
	 "results":[
	  {"ruleId":"CVE-A","ruleIndex":0,"message":{"text":"Package: a\nInstalled Version: 1\nVulnerability CVE-A\nFixed Version: 2"}},
	  {"ruleId":"CVE-B","ruleIndex":1,"message":{"text":"Package: b\nInstalled Version: 1"}},
	  {"ruleId":"CVE-C","message":{"text":"Package: c\nInstalled Version: 1"}},
	  {"ruleId":"CVE-D","message":{"text":"Package: d\nInstalled Version: 1"}},
	  {"ruleId":"DS002","ruleIndex":4,"message":{"text":"Artifact: Dockerfile\nType: dockerfile\nVulnerability DS002\nSeverity: HIGH\nMessage: Specify at least 1 USER command"}}]}]}`
	r, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{ID: "CVE-A", Package: "a", Severity: "CRITICAL", Installed: "1", Fixed: "2"},
		{ID: "CVE-B", Package: "b", Severity: "HIGH", Installed: "1"},
		{ID: "CVE-C", Package: "c", Severity: "MEDIUM", Installed: "1"},
		{ID: "CVE-D", Package: "d", Severity: "UNKNOWN", Installed: "1"},
	}
	if !reflect.DeepEqual(r.Findings, want) {
		t.Errorf("Findings = %+v\nwant %+v", r.Findings, want)
	}
}
