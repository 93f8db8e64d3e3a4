package ferry.promotion_test

import data.ferry.promotion

test_qa_clean_allowed if {
	count(promotion.deny) == 0 with input as with_env("qa")
}

test_qa_critical_denied if {
	inp := set(
		set(with_env("qa"), "/evidence/trivy/summary/CRITICAL", 2),
		"/evidence/trivy/findings",
		[
			{"id": "CVE-2026-2", "package": "openssl", "severity": "CRITICAL", "installed": "3.0.1", "fixed": "3.0.2"},
			{"id": "CVE-2026-1", "package": "glibc", "severity": "CRITICAL", "installed": "2.36"},
			{"id": "CVE-2026-3", "package": "zlib", "severity": "HIGH", "installed": "1.3"},
		],
	)
	promotion.deny == {"CRITICAL vulnerabilities in 1.4.2: 2 (CVE-2026-1, CVE-2026-2); update the affected packages and rebuild"} with input as inp
}

test_qa_critical_without_findings_denied if {
	inp := without(set(with_env("qa"), "/evidence/trivy/summary/CRITICAL", 1), "/evidence/trivy/findings")
	promotion.deny == {"CRITICAL vulnerabilities in 1.4.2: 1; update the affected packages and rebuild"} with input as inp
}

test_qa_no_trivy_report_denied if {
	promotion.deny == {"no Trivy report for 1.4.2: scan the image and attach the report"} with input as without(with_env("qa"), "/evidence/trivy")
}

test_qa_no_evidence_at_all_denied if {
	promotion.deny == {"no Trivy report for 1.4.2: scan the image and attach the report"} with input as without(with_env("qa"), "/evidence")
}

test_qa_ignores_sonar_and_soak if {
	inp := without(without(with_env("qa"), "/evidence/sonar"), "/evidence/soak")
	count(promotion.deny) == 0 with input as inp
}

test_gate_follows_the_tier_not_the_name if {
	# An environment renamed from qa to quality keeps qa's gate through its
	# tier; one named qa with another tier does not get it.
	inp := set(with_env("qa"), "/evidence/trivy/summary/CRITICAL", 1)
	renamed := set(set(inp, "/environment/name", "quality"), "/environment/tier", "test")
	promotion.deny == {"CRITICAL vulnerabilities in 1.4.2: 1 (CVE-2026-1111); update the affected packages and rebuild"} with input as set(renamed, "/evidence/trivy/findings/0/severity", "CRITICAL")
	count(promotion.deny) == 0 with input as set(inp, "/environment/tier", "development")
}

# Two scans per image: the image scan (input.evidence.trivy.summary, also
# .image) and the file-system scan of the source (.fs).
fs_scan(findings) := {
	"summary": {"CRITICAL": count([f | some f in findings; f.severity == "CRITICAL"]), "HIGH": 0, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0},
	"fixable": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0},
	"findings": findings,
}

test_qa_critical_in_fs_scan_denied if {
	inp := set(with_env("qa"), "/evidence/trivy/fs", fs_scan([{"id": "CVE-2026-7001", "package": "github.com/example/yaml", "severity": "CRITICAL", "installed": "1.0.0", "fixed": "1.0.1"}]))
	promotion.deny == {"CRITICAL vulnerabilities in the source of 1.4.2 (file-system scan): 1 (CVE-2026-7001); update the affected dependencies and rebuild"} with input as inp
}

test_qa_critical_in_both_scans_denied_twice if {
	inp := set(
		set(set(with_env("qa"), "/evidence/trivy/summary/CRITICAL", 1), "/evidence/trivy/findings/0/severity", "CRITICAL"),
		"/evidence/trivy/fs", fs_scan([{"id": "CVE-2026-7001", "package": "lodash", "severity": "CRITICAL", "installed": "4.17.0"}]),
	)
	count(promotion.deny) == 2 with input as inp
}

test_qa_clean_fs_scan_allowed if {
	count(promotion.deny) == 0 with input as set(with_env("qa"), "/evidence/trivy/fs", fs_scan([]))
}

test_qa_fs_scan_alone_is_no_image_scan if {
	# The source was scanned, the image was not: the image scan still
	# decides, and it is missing.
	inp := set(without(without(without(with_env("qa"), "/evidence/trivy/summary"), "/evidence/trivy/findings"), "/evidence/trivy/fixable"), "/evidence/trivy/fs", fs_scan([]))
	promotion.deny == {"no Trivy report for 1.4.2: scan the image and attach the report"} with input as inp
}

test_qa_missing_fs_scan_not_denied if {
	not with_env("qa").evidence.trivy.fs
	count(promotion.deny) == 0 with input as with_env("qa")
}
