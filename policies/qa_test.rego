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
