package gate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/registry"
)

// referrerImages serves a fixed list of referrers, newest first, as the
// registry client returns them.
type referrerImages struct{ arts []registry.Artifact }

func (referrerImages) Resolve(context.Context, string, string, bool) (registry.Descriptor, error) {
	return registry.Descriptor{}, nil
}
func (referrerImages) Inspect(context.Context, string, string, bool) (registry.ImageInfo, error) {
	return registry.ImageInfo{}, nil
}
func (r referrerImages) Referrers(_ context.Context, _, _ string, types []string, _ int64, _ bool) ([]registry.Artifact, error) {
	var out []registry.Artifact
	for _, a := range r.arts {
		for _, t := range types {
			if a.ArtifactType == t {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

func scanArtifact(digest, kind, artifact string, critical ...string) registry.Artifact {
	var vulns []string
	for _, id := range critical {
		vulns = append(vulns, `{"VulnerabilityID":"`+id+`","PkgName":"openssl","InstalledVersion":"3.0.1","FixedVersion":"3.0.2","Severity":"CRITICAL"}`)
	}
	anns := map[string]string{}
	if kind != "" {
		anns[KindAnnotation] = kind
	}
	return registry.Artifact{ArtifactType: TrivyReportType, Digest: digest, Created: time.Now(), Annotations: anns,
		Data: []byte(`{"SchemaVersion":2,"ArtifactName":"` + artifact + `","Results":[{"Target":"t","Vulnerabilities":[` + strings.Join(vulns, ",") + `]}]}`)}
}

// fsByOtherTool is a trivy fs report attached without ferry's kind
// annotation (oras attach).
func fsByOtherTool(digest, artifact string) registry.Artifact {
	return registry.Artifact{ArtifactType: TrivyReportType, Digest: digest, Created: time.Now(), Annotations: map[string]string{},
		Data: []byte(`{"SchemaVersion":2,"ArtifactName":"` + artifact + `","ArtifactType":"filesystem","Results":[]}`)}
}

// sameCreated dates every artifact to one second.
func sameCreated(arts ...registry.Artifact) []registry.Artifact {
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	for i := range arts {
		arts[i].Created = at
	}
	return arts
}

// TestTrivyKinds: the image scan and the file-system scan both reach the
// policy input; the top-level summary and findings stay the image scan's
// (a report without a kind is one), and without an image scan they are
// absent, so a policy on them fails closed.
func TestTrivyKinds(t *testing.T) {
	tests := []struct {
		name       string
		arts       []registry.Artifact
		wantTop    string // the top-level source, "" for absent
		wantImage  string
		wantFS     string
		wantLines  []string
		wantNote   string
		wantAbsent bool
	}{
		{name: "both kinds", arts: []registry.Artifact{
			scanArtifact("sha256:fs2", KindFS, "src-new", "CVE-2"),
			scanArtifact("sha256:img", KindImage, "img"),
			scanArtifact("sha256:fs1", KindFS, "src-old"),
		}, wantTop: "img", wantImage: "img", wantFS: "src-new",
			wantLines: []string{"trivy referrer sha256:img: CRITICAL=0 HIGH=0 MEDIUM=0 LOW=0", "trivy fs referrer sha256:fs2: CRITICAL=1 HIGH=0 MEDIUM=0 LOW=0"}},
		{name: "no kind is the image scan", arts: []registry.Artifact{
			scanArtifact("sha256:fs", KindFS, "src"),
			scanArtifact("sha256:old", "", "img-unmarked", "CVE-1"),
		}, wantTop: "img-unmarked", wantImage: "img-unmarked", wantFS: "src"},
		{name: "fs only", arts: []registry.Artifact{scanArtifact("sha256:fs", KindFS, "src")},
			wantFS: "src", wantNote: "no Trivy image scan is attached"},
		// Two scans dated the same second (a tool that dates to the second):
		// the worse counts, whichever the list names first.
		{name: "tie: the worse counts", arts: sameCreated(
			scanArtifact("sha256:aaa", KindImage, "img-clean"),
			scanArtifact("sha256:bbb", KindImage, "img-critical", "CVE-9"),
		), wantTop: "img-critical", wantImage: "img-critical"},
		{name: "tie, other order", arts: sameCreated(
			scanArtifact("sha256:aaa", KindImage, "img-critical", "CVE-9"),
			scanArtifact("sha256:bbb", KindImage, "img-clean"),
		), wantTop: "img-critical", wantImage: "img-critical"},
		// Attached by another tool without ferry's kind: a report of a
		// source tree is the fs scan, not a stand-in for the image scan.
		{name: "unannotated fs report", arts: []registry.Artifact{fsByOtherTool("sha256:oras", "src-oras")},
			wantFS: "src-oras", wantNote: "no Trivy image scan is attached"},
		{name: "unknown kind ignored", arts: []registry.Artifact{scanArtifact("sha256:x", "sbom-ish", "x")},
			wantAbsent: true, wantNote: "no Trivy report is attached"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Pipeline{}
			g := New(Options{Config: cfg, Images: referrerImages{tc.arts}})
			app := &config.App{Name: "checkout", Image: "registry.example/shop/checkout", Evidence: config.Evidence{Trivy: &config.TrivyEvidence{From: config.TrivyFromReferrers}}}
			req := &Request{App: app, Candidate: ledger.Version{Tag: "1.0.0", Digest: "sha256:abc"}, Cache: g.NewCache()}
			out, d := map[string]any{}, &Decision{}
			if err := (trivySource{g}).Gather(context.Background(), req, out, d); err != nil {
				t.Fatal(err)
			}
			if tc.wantAbsent {
				if _, ok := out["trivy"]; ok {
					t.Fatalf("trivy present: %v", out["trivy"])
				}
			} else {
				// As the policy sees it: through JSON.
				raw, err := json.Marshal(out["trivy"])
				if err != nil {
					t.Fatal(err)
				}
				var doc struct {
					Summary map[string]int `json:"summary"`
					Source  *string        `json:"source"`
					Image   *struct {
						Source  string         `json:"source"`
						Summary map[string]int `json:"summary"`
					} `json:"image"`
					FS *struct {
						Source  string         `json:"source"`
						Summary map[string]int `json:"summary"`
					} `json:"fs"`
				}
				if err := json.Unmarshal(raw, &doc); err != nil {
					t.Fatal(err)
				}
				if got := deref(doc.Source); got != tc.wantTop || (tc.wantTop == "") != (doc.Summary == nil) {
					t.Errorf("top-level source %q summary %v, want source %q", got, doc.Summary, tc.wantTop)
				}
				if doc.Image == nil && tc.wantImage != "" || doc.Image != nil && doc.Image.Source != tc.wantImage {
					t.Errorf("image = %+v, want source %q", doc.Image, tc.wantImage)
				}
				if doc.FS == nil && tc.wantFS != "" || doc.FS != nil && doc.FS.Source != tc.wantFS {
					t.Errorf("fs = %+v, want source %q", doc.FS, tc.wantFS)
				}
				if doc.Image != nil && doc.Summary["CRITICAL"] != doc.Image.Summary["CRITICAL"] {
					t.Errorf("top-level summary %v is not the image scan's %v", doc.Summary, doc.Image.Summary)
				}
			}
			for _, l := range tc.wantLines {
				if !containsLine(d.Evidence, l) {
					t.Errorf("evidence %q lacks %q", d.Evidence, l)
				}
			}
			if tc.wantNote != "" && !strings.Contains(strings.Join(d.Notes, "\n"), tc.wantNote) {
				t.Errorf("notes %q lack %q", d.Notes, tc.wantNote)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func containsLine(lines []string, l string) bool {
	for _, x := range lines {
		if x == l {
			return true
		}
	}
	return false
}

// TestTrivyKindsMalformed: a report that does not parse, of either kind,
// is an error that names its kind and referrer, not absent evidence.
func TestTrivyKindsMalformed(t *testing.T) {
	bad := scanArtifact("sha256:bad", KindFS, "src")
	bad.Data = []byte(`{"SchemaVersion": 2, "Results": [`)
	g := New(Options{Config: &config.Pipeline{}, Images: referrerImages{[]registry.Artifact{bad}}})
	app := &config.App{Name: "checkout", Image: "registry.example/shop/checkout", Evidence: config.Evidence{Trivy: &config.TrivyEvidence{}}}
	req := &Request{App: app, Candidate: ledger.Version{Tag: "1.0.0", Digest: "sha256:abc"}, Cache: g.NewCache()}
	err := (trivySource{g}).Gather(context.Background(), req, map[string]any{}, &Decision{})
	if err == nil || !strings.Contains(err.Error(), "fs referrer sha256:bad") {
		t.Fatalf("err = %v, want one naming the fs referrer", err)
	}
}
