package policies

import (
	"context"
	"slices"
	"testing"
	"testing/fstest"
)

// TestRequireSourceScan: the rule the README gives to require the
// file-system scan compiles against the schema (input.evidence.trivy.fs is
// typed) beside the default policies, and denies only when fs is absent.
func TestRequireSourceScan(t *testing.T) {
	const rule = `package ferry.promotion

deny contains "no source scan" if { input.environment.tier == "test"; not input.evidence.trivy.fs }
`
	fsys := fstest.MapFS{"policies/require_fs.rego": {Data: []byte(rule)}}
	for name, data := range DefaultFiles() {
		fsys["policies/"+name] = &fstest.MapFile{Data: data}
	}
	e, err := Load(context.Background(), fsys, "policies")
	if err != nil {
		t.Fatal(err)
	}
	scan := `{"summary": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0}, "findings": []}`
	input := func(trivy string) []byte {
		return []byte(`{"app": {"name": "checkout", "image": "r/shop/checkout"}, "environment": {"name": "qa", "tier": "test", "from": "dev", "from_verifies": false},
			"candidate": {"version": "1.0.0", "tag": "1.0.0", "digest": "sha256:00"}, "time": "2026-11-25T18:00:00Z", "evidence": {"trivy": ` + trivy + `}}`)
	}
	withFS, err := e.Decide(context.Background(), input(`{"summary": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0}, "findings": [], "image": `+scan+`, "fs": `+scan+`}`))
	if err != nil || !withFS.Allow {
		t.Fatalf("with both scans: %+v, %v", withFS, err)
	}
	without, err := e.Decide(context.Background(), input(`{"summary": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0}, "findings": [], "image": `+scan+`}`))
	if err != nil || without.Allow || !slices.Equal(without.Deny, []string{"no source scan"}) {
		t.Fatalf("without the fs scan: %+v, %v", without, err)
	}
}
