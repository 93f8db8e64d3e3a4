package ferry.promotion_test

import data.ferry.promotion

test_prod_clean_allowed if {
	count(promotion.deny) == 0 with input as with_env("prod")
}

test_prod_fixable_high_and_critical_denied if {
	inp := set(with_env("prod"), "/evidence/trivy/findings", [
		{"id": "CVE-2026-1234", "package": "openssl", "severity": "HIGH", "installed": "3.0.1", "fixed": "3.0.2"},
		{"id": "CVE-2026-0001", "package": "curl", "severity": "CRITICAL", "installed": "8.0", "fixed": "8.1"},
		{"id": "CVE-2026-0002", "package": "glibc", "severity": "HIGH", "installed": "2.36"},
		{"id": "CVE-2026-0003", "package": "zlib", "severity": "HIGH", "installed": "1.3", "fixed": ""},
		{"id": "CVE-2026-0004", "package": "bash", "severity": "MEDIUM", "installed": "5.2", "fixed": "5.3"},
	])
	promotion.deny == {"1.4.2 has HIGH or CRITICAL vulnerabilities with a fix available: CVE-2026-0001 in curl (fixed in 8.1); CVE-2026-1234 in openssl (fixed in 3.0.2); update those packages and rebuild"} with input as inp
}

test_prod_unfixable_findings_allowed if {
	inp := set(with_env("prod"), "/evidence/trivy/findings", [
		{"id": "CVE-2026-0002", "package": "glibc", "severity": "CRITICAL", "installed": "2.36", "fixed": ""},
		{"id": "CVE-2026-0003", "package": "zlib", "severity": "HIGH", "installed": "1.3"},
	])
	count(promotion.deny) == 0 with input as inp
}

test_prod_no_trivy_report_denied if {
	promotion.deny == {"no Trivy report for 1.4.2: scan the image and attach the report"} with input as without(with_env("prod"), "/evidence/trivy")
}

test_prod_sonar_error_denied if {
	inp := set(with_env("prod"), "/evidence/sonar", {"status": "ERROR", "conditions": [{"metric": "coverage", "status": "ERROR", "actual": "61.0", "threshold": "80"}]})
	promotion.deny == {"SonarQube quality gate is ERROR for 1.4.2: fix coverage is ERROR (actual 61.0, threshold 80)"} with input as inp
}

test_prod_no_sonar_denied if {
	promotion.deny == {"no SonarQube quality gate for 1.4.2: run the analysis and make its result available to ferry"} with input as without(with_env("prod"), "/evidence/sonar")
}

test_prod_soak_not_reached_denied if {
	inp := set(with_env("prod"), "/evidence/soak/seconds", 1800)
	promotion.deny == {"1.4.2 has run 1800s in ppd, prod needs 3600s: wait 1800s more"} with input as inp
}

test_prod_soak_from_config_applies if {
	inp := set(with_env("prod"), "/environment/soak_seconds", 14400)
	promotion.deny == {"1.4.2 has run 7200s in ppd, prod needs 14400s: wait 7200s more"} with input as inp
}

test_prod_soak_exactly_reached_allowed if {
	inp := set(set(with_env("prod"), "/environment/soak_seconds", 7200), "/evidence/soak/seconds", 7200)
	count(promotion.deny) == 0 with input as inp
}

test_prod_soak_in_wrong_env_denied if {
	inp := set(with_env("prod"), "/evidence/soak/env", "qa")
	promotion.deny == {"1.4.2 soaked in qa, but prod needs its soak in ppd: promote it to ppd and wait 3600s"} with input as inp
}

test_prod_no_soak_denied if {
	promotion.deny == {"no soak time known for 1.4.2 in ppd: deploy it there and wait 3600s"} with input as without(with_env("prod"), "/evidence/soak")
}

test_prod_frozen_denied if {
	inp := set(with_env("prod"), "/evidence/freeze/-", {"reason": "black friday", "until": "2026-11-30T00:00:00Z"})
	promotion.deny == {"prod is frozen until 2026-11-30T00:00:00Z (black friday): promote after the freeze ends"} with input as inp
}

test_prod_freeze_without_end_denied if {
	inp := set(with_env("prod"), "/evidence/freeze", [{"reason": "incident 42"}])
	promotion.deny == {"prod is frozen until further notice (incident 42): promote after the freeze ends"} with input as inp
}

test_prod_freeze_ended_allowed if {
	# clean's only freeze ended on 2026-11-20, before input.time.
	count(promotion.deny) == 0 with input as with_env("prod")
	count(promotion.deny) == 0 with input as set(with_env("prod"), "/evidence/freeze/0/until", "2026-11-25T18:00:00Z")
}

test_prod_freeze_without_input_time_uses_the_clock if {
	no_time := without(with_env("prod"), "/time")
	count(promotion.deny) == 0 with input as no_time
	promotion.deny == {"prod is frozen until 2100-01-01T00:00:00Z (forever): promote after the freeze ends"} with input as set(no_time, "/evidence/freeze/-", {"reason": "forever", "until": "2100-01-01T00:00:00Z"})
}

# ferry puts in input.evidence.freeze only the freezes that name the
# environment, so one there holds ppd as it holds prod.
test_freeze_holds_ppd_too if {
	inp := set(with_env("ppd"), "/evidence/freeze/-", {"name": "black-friday", "reason": "black friday", "until": "2026-11-30T00:00:00Z"})
	promotion.deny == {"ppd is frozen until 2026-11-30T00:00:00Z (black friday): promote after the freeze ends"} with input as inp
}

test_prod_no_evidence_denied_for_each_gate if {
	promotion.deny == {
		"no Trivy report for 1.4.2: scan the image and attach the report",
		"no SonarQube quality gate for 1.4.2: run the analysis and make its result available to ferry",
		"no soak time known for 1.4.2 in ppd: deploy it there and wait 3600s",
	} with input as without(with_env("prod"), "/evidence")
}

test_prod_fixable_in_fs_scan_denied if {
	inp := set(with_env("prod"), "/evidence/trivy/fs", {
		"summary": {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0},
		"findings": [
			{"id": "CVE-2026-7001", "package": "lodash", "severity": "CRITICAL", "installed": "4.17.0", "fixed": "4.17.21"},
			{"id": "CVE-2026-7002", "package": "minimist", "severity": "HIGH", "installed": "1.2.0"},
		],
	})
	promotion.deny == {"the source of 1.4.2 has HIGH or CRITICAL vulnerabilities with a fix available (file-system scan): CVE-2026-7001 in lodash (fixed in 4.17.21); update those dependencies and rebuild"} with input as inp
}

# signed_prod is the clean prod input of an app with verify: and two
# trusted builders, whose image, scan and provenance are all signed.
ci_key := {"kind": "cosign", "signer": "SHA256:nTq0bWkGfJ2c", "key": "/etc/ferry/cosign.pub", "format": "bundle"}

signed_prod := json.patch(with_env("prod"), [
	{"op": "add", "path": "/app/verify", "value": {"builders": ["https://jenkins.example.com/job/checkout", "https://github.com/actions/runner"]}},
	{"op": "add", "path": "/candidate/signatures", "value": [ci_key]},
	{"op": "add", "path": "/evidence/trivy/signed", "value": true},
	{"op": "add", "path": "/evidence/attestations", "value": {"slsaprovenance": {
		"type": "slsaprovenance", "predicateType": "https://slsa.dev/provenance/v0.2", "signer": ci_key,
		"predicate": {"builder": {"id": "https://jenkins.example.com/job/checkout"}}, "builder": "https://jenkins.example.com/job/checkout",
	}}},
])

test_prod_signed_everything_allowed if {
	count(promotion.deny) == 0 with input as signed_prod
}

test_prod_verified_app_unsigned_image_denied if {
	promotion.deny == {"1.4.2 carries no verified signature: sign it (cosign sign or notation sign) with a key verify: trusts"} with input as set(signed_prod, "/candidate/signatures", [])
}

test_prod_verified_app_unsigned_scan_denied if {
	msg := "no signed vulnerability scan for 1.4.2: attest the Trivy result (trivy image --format cosign-vuln, then cosign attest --type vuln) with a key verify: trusts"
	promotion.deny == {msg} with input as set(signed_prod, "/evidence/trivy/signed", false)
	promotion.deny == {msg} with input as without(signed_prod, "/evidence/trivy/signed")
}

test_prod_no_provenance_denied if {
	promotion.deny == {"no signed SLSA provenance for 1.4.2: attest it (cosign attest --type slsaprovenance) from one of the builders verify.builders names"} with input as without(signed_prod, "/evidence/attestations")
}

test_prod_provenance_from_other_builder_denied if {
	inp := set(signed_prod, "/evidence/attestations/slsaprovenance/builder", "https://evil.example/runner")
	promotion.deny == {"1.4.2 was built by https://evil.example/runner, which is not a builder verify.builders trusts (https://jenkins.example.com/job/checkout, https://github.com/actions/runner): build it on a trusted builder"} with input as inp
}

test_prod_no_builders_no_provenance_needed if {
	inp := without(set(signed_prod, "/app/verify/builders", []), "/evidence/attestations")
	count(promotion.deny) == 0 with input as inp
}

test_prod_unverified_app_needs_no_signature if {
	count(promotion.deny) == 0 with input as with_env("prod")
}

# approved_prod is prod with approval: {required: 2, from: [team:product-owners, user:alice], forbidSelf: true}
# and the votes ferry counted: bob's review, carol's own as the pull request's
# author (not counted), dave not in from.
approved_prod := json.patch(with_env("prod"), [
	{"op": "add", "path": "/environment/approval", "value": {"required": 2, "from": ["team:product-owners", "user:alice"], "forbid_self": true, "expires_seconds": 259200}},
	{"op": "add", "path": "/request", "value": {"kind": "pass"}},
	{"op": "add", "path": "/evidence/approvals", "value": {"required": 2, "count": 2, "approved_by": ["alice", "bob"], "rejected_by": [], "entries": [
		{"by": "alice", "via": "cli", "at": "2026-11-25T17:00:00Z", "groups": [], "decision": "approve", "signed": true, "counts": true, "matched": "user:alice"},
		{"by": "bob", "via": "review", "at": "2026-11-25T17:10:00Z", "groups": [], "decision": "approve", "signed": false, "counts": true, "matched": "team:product-owners"},
		{"by": "carol", "via": "review", "at": "2026-11-25T17:20:00Z", "groups": [], "decision": "approve", "signed": false, "counts": false, "why": "the requester's own (forbidSelf)"},
		{"by": "dave", "via": "dashboard", "at": "2026-11-25T17:30:00Z", "groups": ["shop"], "decision": "reject", "signed": true, "counts": false, "why": "not in from (team:product-owners, user:alice)"},
	]}},
])

test_prod_approval_quorum_allowed if {
	count(promotion.deny) == 0 with input as approved_prod
}

test_prod_approval_below_quorum_denied if {
	inp := json.patch(approved_prod, [
		{"op": "replace", "path": "/evidence/approvals/count", "value": 1},
		{"op": "replace", "path": "/evidence/approvals/approved_by", "value": ["bob"]},
	])
	promotion.deny == {"checkout 1.4.2 needs 2 approvals for prod and has 1 (bob): 1 more from team:product-owners or user:alice; approve with `ferry approve checkout 1.4.2 --env prod` or a review on the pull request"} with input as inp
}

test_prod_approval_none_from_anyone_denied if {
	inp := json.patch(approved_prod, [
		{"op": "replace", "path": "/environment/approval/from", "value": []},
		{"op": "replace", "path": "/evidence/approvals", "value": {"required": 2, "count": 0, "approved_by": [], "rejected_by": [], "entries": []}},
	])
	promotion.deny == {"checkout 1.4.2 needs 2 approvals for prod and has 0 (none): 2 more from anyone; approve with `ferry approve checkout 1.4.2 --env prod` or a review on the pull request"} with input as inp
}

test_prod_approval_counted_rejection_denied if {
	inp := json.patch(approved_prod, [
		{"op": "replace", "path": "/evidence/approvals/rejected_by", "value": ["erin"]},
		{"op": "add", "path": "/evidence/approvals/entries/-", "value": {"by": "erin", "via": "dashboard", "at": "2026-11-25T17:40:00Z", "groups": ["shop:product-owners"], "decision": "reject", "reason": "migration first", "signed": true, "counts": true, "matched": "team:product-owners"}},
	])
	promotion.deny == {"erin rejected checkout 1.4.2 for prod (dashboard, migration first): it is not promoted while the rejection stands; erin withdraws it with `ferry approve checkout 1.4.2 --env prod` or an approving review"} with input as inp
}

# dave's rejection does not count (not in from): it blocks nothing.
test_prod_approval_uncounted_rejection_allowed if {
	count(promotion.deny) == 0 with input as approved_prod
}

test_prod_approval_without_evidence_denied if {
	promotion.deny == {"no approvals known for checkout 1.4.2 in prod: approve with `ferry approve checkout 1.4.2 --env prod` or a review on the pull request"} with input as without(approved_prod, "/evidence/approvals")
}

# approval: holds whatever the environment's tier.
test_approval_applies_to_any_tier if {
	inp := json.patch(with_env("qa"), [
		{"op": "add", "path": "/environment/approval", "value": {"required": 1, "from": ["user:alice"], "forbid_self": false, "expires_seconds": 0}},
		{"op": "add", "path": "/evidence/approvals", "value": {"required": 1, "count": 0, "approved_by": [], "rejected_by": [], "entries": []}},
	])
	promotion.deny == {"checkout 1.4.2 needs 1 approval for qa and has 0 (none): 1 more from user:alice; approve with `ferry approve checkout 1.4.2 --env qa` or a review on the pull request"} with input as inp
}

# A manual promotion (ferry promote) needs the same evidence as ferry's own
# pass: the default policies do not relax for input.request.kind == "manual".
test_manual_request_needs_the_same_evidence if {
	every e in object.keys(from) {
		manual := set(with_env(e), "/request", {"kind": "manual", "by": "alice", "via": "cli", "reason": "hotfix"})
		count(promotion.deny) == 0 with input as manual
	}
	promotion.deny == {"no soak time known for 1.4.2 in ppd: deploy it there and wait 3600s"} with input as without(set(with_env("prod"), "/request", {"kind": "manual", "by": "alice", "via": "cli", "reason": "hotfix"}), "/evidence/soak")
}
