// Package trivy reads Trivy vulnerability reports, as `trivy image|fs -f
// json` (SchemaVersion 2) and `-f sarif` write them, into the summary that
// promotion policies see as input.evidence.trivy.
package trivy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-dev/ferry/internal/jsonpos"
)

// Severities in Trivy's order, most severe first. Report maps always carry
// all five keys.
var Severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}

// Finding is one vulnerable package.
type Finding struct {
	ID        string `json:"id"`
	Package   string `json:"package"`
	Severity  string `json:"severity"`
	Installed string `json:"installed"`
	Fixed     string `json:"fixed"`
}

// Report is a scan reduced to what policies judge. Only vulnerabilities count:
// misconfigurations, secrets and licenses in the same scan are left out.
type Report struct {
	// Summary counts findings per severity.
	Summary map[string]int `json:"summary"`
	// Fixable counts findings per severity that have a fixed version.
	Fixable map[string]int `json:"fixable"`
	// Findings are unique by (id, package, installed), most severe first,
	// then by id; never nil.
	Findings []Finding `json:"findings"`
	// Source is what was scanned: the report's ArtifactName, or the SARIF
	// run's imageName property; empty when the report does not say.
	Source string `json:"source"`
	// Scanned is what the report says it scanned, for checks before it is
	// attached; policies see only Source.
	Scanned Scanned `json:"-"`
}

// Scanned is what a report names as its subject.
type Scanned struct {
	Name        string   // ArtifactName, or SARIF's imageName
	Type        string   // ArtifactType: container_image, filesystem, repository, ...; empty in SARIF
	RepoDigests []string // Metadata.RepoDigests: repo@sha256:... of a scanned image
}

// ErrNotTrivy marks a well-formed JSON document that is not a Trivy report.
var ErrNotTrivy = errors.New("not a Trivy report")

const (
	formatJSON  = "Trivy JSON report"
	formatSARIF = "Trivy SARIF log"
)

// Parse reads a Trivy JSON report or SARIF log, telling them apart by their
// top-level keys (SchemaVersion vs runs). Errors name the expected format and
// where the document went wrong (line:column, or the field path).
func Parse(data []byte) (Report, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	format := formatJSON
	if bytes.Contains(data, []byte(`"runs"`)) {
		format = formatSARIF
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return Report{}, fmt.Errorf("parse %s: %w", format, jsonpos.Locate(data, err))
	}
	var (
		findings []Finding
		scanned  Scanned
		err      error
	)
	switch {
	case top["SchemaVersion"] != nil:
		format = formatJSON
		findings, scanned, err = parseJSON(data)
	case top["runs"] != nil:
		format = formatSARIF
		findings, scanned, err = parseSARIF(data)
	default:
		return Report{}, fmt.Errorf("parse Trivy report: %w: a JSON object with neither SchemaVersion (Trivy JSON) nor runs (SARIF)", ErrNotTrivy)
	}
	if err != nil {
		return Report{}, fmt.Errorf("parse %s: %w", format, jsonpos.Locate(data, err))
	}
	r := newReport(findings, scanned.Name)
	r.Scanned = scanned
	return r, nil
}

// newReport deduplicates and sorts findings and counts them.
func newReport(findings []Finding, source string) Report {
	type key struct{ id, pkg, installed string }
	seen := map[key]int{}
	unique := make([]Finding, 0, len(findings))
	for _, f := range findings {
		k := key{f.ID, f.Package, f.Installed}
		i, dup := seen[k]
		if !dup {
			seen[k] = len(unique)
			unique = append(unique, f)
			continue
		}
		// The same package at the same version seen twice (two binaries,
		// two targets): keep the graver severity, fail closed.
		if rank(f.Severity) < rank(unique[i].Severity) {
			unique[i].Severity = f.Severity
		}
		unique[i].Fixed = cmp.Or(unique[i].Fixed, f.Fixed)
	}
	slices.SortFunc(unique, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(rank(a.Severity), rank(b.Severity)),
			cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Package, b.Package),
			cmp.Compare(a.Installed, b.Installed),
		)
	})
	r := Report{Summary: zeroCounts(), Fixable: zeroCounts(), Findings: unique, Source: source}
	for _, f := range unique {
		r.Summary[f.Severity]++
		if f.Fixed != "" {
			r.Fixable[f.Severity]++
		}
	}
	return r
}

func zeroCounts() map[string]int {
	m := make(map[string]int, len(Severities))
	for _, s := range Severities {
		m[s] = 0
	}
	return m
}

func rank(severity string) int {
	if i := slices.Index(Severities, severity); i >= 0 {
		return i
	}
	return len(Severities)
}

// normSeverity maps Trivy's severity names, in any case, to the upper-case
// set; empty means UNKNOWN. ok is false for anything else.
func normSeverity(s string) (string, bool) {
	if s == "" {
		return "UNKNOWN", true
	}
	u := strings.ToUpper(strings.TrimSpace(s))
	return u, slices.Contains(Severities, u)
}

// VulnPredicateType is the predicate of cosign's `attest --type vuln`
// (what `trivy --format cosign-vuln` writes): the scan is its
// scanner.result.
const VulnPredicateType = "https://cosign.sigstore.dev/attestation/vuln/v1"

// ParseVulnPredicate reads the Trivy report inside a cosign vuln
// predicate. A predicate without a result, or whose result is not a Trivy
// report, is an error: a signed statement that says nothing about the
// image's vulnerabilities must not pass for a clean scan.
func ParseVulnPredicate(predicate []byte) (Report, error) {
	var p struct {
		Scanner struct {
			URI    string          `json:"uri"`
			Result json.RawMessage `json:"result"`
		} `json:"scanner"`
	}
	if err := json.Unmarshal(predicate, &p); err != nil {
		return Report{}, fmt.Errorf("vuln predicate: %w", err)
	}
	if len(p.Scanner.Result) == 0 || string(p.Scanner.Result) == "null" {
		return Report{}, fmt.Errorf("vuln predicate: no scanner.result (attest the output of trivy --format cosign-vuln)")
	}
	r, err := Parse(p.Scanner.Result)
	if err != nil {
		return Report{}, fmt.Errorf("vuln predicate scanner.result: %w", err)
	}
	return r, nil
}
