package ferry.promotion_test

import data.ferry.promotion

test_ppd_clean_allowed if {
	count(promotion.deny) == 0 with input as with_env("ppd")
}

test_ppd_sonar_error_denied_with_failing_conditions if {
	inp := set(with_env("ppd"), "/evidence/sonar", {"status": "ERROR", "conditions": [
		{"metric": "coverage", "status": "ERROR", "actual": "61.0", "threshold": "80"},
		{"metric": "bugs", "status": "OK", "actual": "0", "threshold": "0"},
		{"metric": "new_security_hotspots", "status": "ERROR", "actual": "3", "threshold": "0"},
	]})
	promotion.deny == {"SonarQube quality gate is ERROR for 1.4.2: fix coverage is ERROR (actual 61.0, threshold 80); new_security_hotspots is ERROR (actual 3, threshold 0)"} with input as inp
}

test_ppd_sonar_warn_denied if {
	inp := set(with_env("ppd"), "/evidence/sonar", {"status": "WARN", "conditions": [{"metric": "duplicated_lines", "status": "WARN", "actual": "", "threshold": "3", "comparator": "GT"}]})
	promotion.deny == {"SonarQube quality gate is WARN for 1.4.2: fix duplicated_lines is WARN (actual none, threshold 3)"} with input as inp
}

test_ppd_sonar_not_ok_without_conditions_denied if {
	inp := set(with_env("ppd"), "/evidence/sonar", {"status": "NONE"})
	promotion.deny == {"SonarQube quality gate is NONE for 1.4.2: fix the failing conditions shown in SonarQube"} with input as inp
}

test_ppd_no_sonar_denied if {
	promotion.deny == {"no SonarQube quality gate for 1.4.2: run the analysis and make its result available to ferry"} with input as without(with_env("ppd"), "/evidence/sonar")
}

test_ppd_qa_analysis_failed_denied if {
	inp := set(with_env("ppd"), "/evidence/analysis/qa/verdict", "Failed")
	promotion.deny == {"the qa analysis of 1.4.2 was Failed: fix the regression and release a new version"} with input as inp
}

test_ppd_qa_analysis_inconclusive_denied if {
	inp := set(with_env("ppd"), "/evidence/analysis/qa/verdict", "Inconclusive")
	promotion.deny == {"the qa analysis of 1.4.2 was Inconclusive: fix the regression and release a new version"} with input as inp
}

test_ppd_no_qa_analysis_denied if {
	promotion.deny == {"no qa analysis for 1.4.2: let the qa analysis finish before promoting to ppd"} with input as without(with_env("ppd"), "/evidence/analysis")
}

test_ppd_no_evidence_denied_for_each_gate if {
	promotion.deny == {
		"no SonarQube quality gate for 1.4.2: run the analysis and make its result available to ferry",
		"no qa analysis for 1.4.2: let the qa analysis finish before promoting to ppd",
	} with input as without(with_env("ppd"), "/evidence")
}

test_ppd_without_qa_verdicts_needs_no_qa_analysis if {
	# qa has no analysis: in ferry.yaml, so no verdict will come: Trivy and
	# Sonar alone gate ppd.
	inp := set(without(with_env("ppd"), "/evidence/analysis"), "/environment/from_verifies", false)
	count(promotion.deny) == 0 with input as inp
}

test_ppd_failed_verdict_denies_even_when_not_waited_for if {
	inp := set(set(with_env("ppd"), "/environment/from_verifies", false), "/evidence/analysis/qa/verdict", "Failed")
	promotion.deny == {"the qa analysis of 1.4.2 was Failed: fix the regression and release a new version"} with input as inp
}

test_staging_reads_its_own_source_analysis if {
	inp := set(
		set(with_env("ppd"), "/environment", {"name": "uat", "tier": "staging", "from": "sit", "from_verifies": true}),
		"/evidence/analysis", {"sit": {"verdict": "Inconclusive"}},
	)
	promotion.deny == {"the sit analysis of 1.4.2 was Inconclusive: fix the regression and release a new version"} with input as inp
	promotion.deny == {"no sit analysis for 1.4.2: let the sit analysis finish before promoting to uat"} with input as without(inp, "/evidence/analysis")
}
