package trivy

import (
	"encoding/json"
	"fmt"
)

// jsonReport is the part of Trivy's types.Report (SchemaVersion 2) that
// matters here; Metadata, Packages, Misconfigurations, Secrets and Licenses
// are skipped.
type jsonReport struct {
	SchemaVersion int
	ArtifactName  string
	ArtifactType  string
	Metadata      struct {
		RepoDigests []string
	}
	Results []struct {
		Target          string
		Class           string
		Type            string
		Vulnerabilities []struct {
			VulnerabilityID  string
			PkgName          string
			InstalledVersion string
			FixedVersion     string
			Severity         string
		}
	}
}

func parseJSON(data []byte) ([]Finding, Scanned, error) {
	var r jsonReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, Scanned{}, err
	}
	if r.SchemaVersion != 2 {
		return nil, Scanned{}, fmt.Errorf("SchemaVersion is %d, only 2 is supported", r.SchemaVersion)
	}
	var out []Finding
	for i, res := range r.Results {
		for j, v := range res.Vulnerabilities {
			where := fmt.Sprintf("Results[%d].Vulnerabilities[%d]", i, j)
			if v.VulnerabilityID == "" {
				return nil, Scanned{}, fmt.Errorf("%s (target %q): no VulnerabilityID", where, res.Target)
			}
			if v.PkgName == "" {
				return nil, Scanned{}, fmt.Errorf("%s (%s in target %q): no PkgName", where, v.VulnerabilityID, res.Target)
			}
			sev, ok := normSeverity(v.Severity)
			if !ok {
				return nil, Scanned{}, fmt.Errorf("%s (%s): Severity %q is not one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN", where, v.VulnerabilityID, v.Severity)
			}
			out = append(out, Finding{
				ID:        v.VulnerabilityID,
				Package:   v.PkgName,
				Severity:  sev,
				Installed: v.InstalledVersion,
				Fixed:     v.FixedVersion,
			})
		}
	}
	// Trivy names what it scanned in every report; a document that does
	// not is not a scan, and must not pass for a clean one.
	if r.ArtifactName == "" {
		return nil, Scanned{}, fmt.Errorf("no ArtifactName: not a Trivy scan (trivy image/fs --format json names what it scanned)")
	}
	return out, Scanned{Name: r.ArtifactName, Type: r.ArtifactType, RepoDigests: r.Metadata.RepoDigests}, nil
}
