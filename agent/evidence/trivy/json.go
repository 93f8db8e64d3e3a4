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
	Results       []struct {
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

func parseJSON(data []byte) ([]Finding, string, error) {
	var r jsonReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, "", err
	}
	if r.SchemaVersion != 2 {
		return nil, "", fmt.Errorf("SchemaVersion is %d, only 2 is supported", r.SchemaVersion)
	}
	var out []Finding
	for i, res := range r.Results {
		for j, v := range res.Vulnerabilities {
			where := fmt.Sprintf("Results[%d].Vulnerabilities[%d]", i, j)
			if v.VulnerabilityID == "" {
				return nil, "", fmt.Errorf("%s (target %q): no VulnerabilityID", where, res.Target)
			}
			if v.PkgName == "" {
				return nil, "", fmt.Errorf("%s (%s in target %q): no PkgName", where, v.VulnerabilityID, res.Target)
			}
			sev, ok := normSeverity(v.Severity)
			if !ok {
				return nil, "", fmt.Errorf("%s (%s): Severity %q is not one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN", where, v.VulnerabilityID, v.Severity)
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
	return out, r.ArtifactName, nil
}
