package trivy

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics and that what it accepts is
// consistent: all five keys, counts that add up to the findings, fixable
// never above the summary, findings unique and in order.
func FuzzParse(f *testing.F) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "reports", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range fixtures {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"SchemaVersion":2}`, `{"runs":[]}`,
		`{"SchemaVersion":2,"Results":[{"Target":"a","Vulnerabilities":[{"VulnerabilityID":"X","PkgName":"p","Severity":"low"}]}]}`,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Trivy","rules":[{"id":"X","properties":{"security-severity":9.8}}]}},"results":[{"ruleId":"X","ruleIndex":0,"message":{"text":"Package: p\nInstalled Version: 1"}}]}]}`,
		"\xef\xbb\xbf{\"SchemaVersion\":2}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		if len(r.Summary) != len(Severities) || len(r.Fixable) != len(Severities) {
			t.Fatalf("maps lack keys: %v %v", r.Summary, r.Fixable)
		}
		if r.Findings == nil {
			t.Fatal("nil Findings")
		}
		sum := 0
		for _, s := range Severities {
			n, ok := r.Summary[s]
			if !ok {
				t.Fatalf("Summary lacks %s", s)
			}
			if fx := r.Fixable[s]; fx < 0 || fx > n {
				t.Fatalf("Fixable[%s] = %d, Summary %d", s, fx, n)
			}
			sum += n
		}
		if sum != len(r.Findings) {
			t.Fatalf("Summary adds up to %d, %d findings", sum, len(r.Findings))
		}
		type key struct{ id, pkg, installed string }
		seen := map[key]bool{}
		for i, fd := range r.Findings {
			k := key{fd.ID, fd.Package, fd.Installed}
			if seen[k] {
				t.Fatalf("duplicate finding %+v", fd)
			}
			seen[k] = true
			if fd.ID == "" || fd.Package == "" || rank(fd.Severity) == len(Severities) {
				t.Fatalf("bad finding %+v", fd)
			}
			if i > 0 && rank(r.Findings[i-1].Severity) > rank(fd.Severity) {
				t.Fatalf("findings out of order at %d", i)
			}
		}
	})
}

// FuzzParseVulnPredicate: a cosign vuln predicate never panics the parser,
// and one it accepts holds a report Parse accepts too (all five counts).
func FuzzParseVulnPredicate(f *testing.F) {
	for _, s := range []string{
		``, `null`, `{}`, `{"scanner":{}}`, `{"scanner":{"result":null}}`, `{"scanner":{"result":{}}}`,
		`{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.58.0","result":{"SchemaVersion":2,"ArtifactName":"a","Results":[]}}}`,
		`{"scanner":{"result":{"SchemaVersion":2,"ArtifactName":"a","Results":[{"Target":"a","Vulnerabilities":[{"VulnerabilityID":"X","PkgName":"p","Severity":"CRITICAL","FixedVersion":"2"}]}]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseVulnPredicate(data)
		if err != nil {
			return
		}
		if len(r.Summary) != len(Severities) || r.Findings == nil {
			t.Fatalf("accepted predicate gives an incomplete report: %+v", r)
		}
	})
}
