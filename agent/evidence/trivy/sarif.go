package trivy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// sarifLog is the part of SARIF 2.1.0 that Trivy's SARIF writer fills and
// that matters here.
type sarifLog struct {
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name  string      `json:"name"`
				Rules []sarifRule `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex *int   `json:"ruleIndex"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
		} `json:"results"`
		Properties struct {
			ImageName string `json:"imageName"`
		} `json:"properties"`
	} `json:"runs"`
}

type sarifRule struct {
	ID         string `json:"id"`
	Properties struct {
		Tags             []string   `json:"tags"`
		SecuritySeverity scoreValue `json:"security-severity"`
	} `json:"properties"`
}

// scoreValue is a CVSS score that SARIF producers write as a string (Trivy:
// "7.5") or a number.
type scoreValue struct {
	set   bool
	value float64
}

func (s *scoreValue) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	str := string(b)
	if unq, err := strconv.Unquote(str); err == nil {
		str = unq
	}
	if str == "" {
		return nil
	}
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return fmt.Errorf("security-severity %s is not a number", b)
	}
	s.set, s.value = true, v
	return nil
}

func parseSARIF(data []byte) ([]Finding, Scanned, error) {
	var l sarifLog
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, Scanned{}, err
	}
	if !strings.HasPrefix(l.Version, "2.") {
		return nil, Scanned{}, fmt.Errorf("version is %q, want SARIF 2.1.0", l.Version)
	}
	// Trivy writes one run; a log with none says nothing was scanned, and
	// must not pass for a clean scan.
	if len(l.Runs) == 0 {
		return nil, Scanned{}, fmt.Errorf("%w: no runs: the log holds no scan", ErrNotTrivy)
	}
	var (
		out    []Finding
		source string
	)
	for i, run := range l.Runs {
		if name := run.Tool.Driver.Name; !strings.EqualFold(name, "Trivy") {
			return nil, Scanned{}, fmt.Errorf("%w: runs[%d].tool.driver.name is %q, want Trivy", ErrNotTrivy, i, name)
		}
		source = cmp.Or(source, run.Properties.ImageName)
		rules := run.Tool.Driver.Rules
		for j, res := range run.Results {
			where := fmt.Sprintf("runs[%d].results[%d]", i, j)
			var rule *sarifRule
			if k := res.RuleIndex; k != nil && *k >= 0 && *k < len(rules) && rules[*k].ID == res.RuleID {
				rule = &rules[*k]
			} else if k := slices.IndexFunc(rules, func(r sarifRule) bool { return r.ID == res.RuleID }); k >= 0 {
				rule = &rules[k]
			}
			f, isVuln, err := sarifFinding(res.RuleID, res.Message.Text, rule)
			if err != nil {
				return nil, Scanned{}, fmt.Errorf("%s (rule %q): %w", where, res.RuleID, err)
			}
			if isVuln {
				out = append(out, f)
			}
		}
	}
	return out, Scanned{Name: source}, nil
}

// sarifFinding reads a result's message, which Trivy writes as
//
//	Package: openssl
//	Installed Version: 3.0.1
//	Vulnerability CVE-2026-1234
//	Severity: HIGH
//	Fixed Version: 3.0.2
//	Link: [CVE-2026-1234](https://avd.aquasec.com/nvd/cve-2026-1234)
//
// isVuln is false for misconfiguration, secret and license results.
func sarifFinding(ruleID, text string, rule *sarifRule) (f Finding, isVuln bool, err error) {
	fields := map[string]string{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		} else if id, ok := strings.CutPrefix(line, "Vulnerability "); ok {
			fields["Vulnerability"] = strings.TrimSpace(id)
		}
	}
	pkg, hasPkg := fields["Package"]
	tagged := rule != nil && slices.Contains(rule.Properties.Tags, "vulnerability")
	if !hasPkg {
		if tagged {
			return Finding{}, false, fmt.Errorf("vulnerability message has no \"Package:\" line")
		}
		return Finding{}, false, nil
	}
	f = Finding{
		ID:        cmp.Or(fields["Vulnerability"], ruleID),
		Package:   pkg,
		Installed: fields["Installed Version"],
		Fixed:     fields["Fixed Version"],
	}
	if f.ID == "" {
		return Finding{}, false, fmt.Errorf("vulnerability of %s has no id", pkg)
	}
	if pkg == "" {
		return Finding{}, false, fmt.Errorf("%s: empty package name", f.ID)
	}
	sev, ok := sarifSeverity(fields["Severity"], rule)
	if !ok {
		return Finding{}, false, fmt.Errorf("%s: severity %q is not one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN", f.ID, fields["Severity"])
	}
	f.Severity = sev
	return f, true, nil
}

// sarifSeverity takes the message's Severity line, else the severity tag of
// the rule, else the rule's security-severity score in CVSS bands.
func sarifSeverity(msg string, rule *sarifRule) (string, bool) {
	if msg != "" {
		return normSeverity(msg)
	}
	if rule == nil {
		return "UNKNOWN", true
	}
	for _, tag := range rule.Properties.Tags {
		if s, ok := normSeverity(tag); ok && tag != "" {
			return s, true
		}
	}
	if sc := rule.Properties.SecuritySeverity; sc.set {
		switch {
		case sc.value >= 9:
			return "CRITICAL", true
		case sc.value >= 7:
			return "HIGH", true
		case sc.value >= 4:
			return "MEDIUM", true
		case sc.value > 0:
			return "LOW", true
		}
	}
	return "UNKNOWN", true
}
