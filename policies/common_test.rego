package ferry.promotion_test

import data.ferry.promotion

# clean is an input every gate allows: a candidate with a clean scan, a
# passing quality gate and qa analysis, and two hours in ppd. Tests derive
# their inputs from it with with_env and json.patch.
clean := {
	"app": {"name": "checkout", "image": "registry.example/shop/checkout"},
	"environment": {"name": "qa", "from": "dev"},
	"candidate": {"version": "1.4.2", "tag": "1.4.2", "digest": "sha256:8d1c2b", "created": "2026-11-25T17:00:00Z"},
	"current": {"version": "1.4.1", "digest": "sha256:2f0a9e"},
	"evidence": {
		"trivy": {
			"summary": {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 5, "LOW": 9, "UNKNOWN": 0},
			"fixable": {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0},
			"findings": [{"id": "CVE-2026-1111", "package": "zlib", "severity": "HIGH", "installed": "1.3"}],
		},
		"sonar": {"status": "OK", "analysisId": "AX1", "conditions": [{"metric": "coverage", "status": "OK", "actual": "81.2", "threshold": "80"}]},
		"analysis": {"qa": {"verdict": "Successful"}},
		"soak": {"env": "ppd", "seconds": 7200},
		"freeze": [{"name": "black-friday", "reason": "black friday", "until": "2026-11-20T00:00:00Z"}],
		"rejected": ["1.4.0"],
	},
	"time": "2026-11-25T18:00:00Z",
}

from := {"dev": "", "qa": "dev", "ppd": "qa", "prod": "ppd", "dr": "prod"}

tier := {"dev": "development", "qa": "test", "ppd": "staging", "prod": "production", "dr": "dr"}

# with_env returns clean moved to environment name e, with its default tier
# and every source giving verdicts (ferry.yaml's analysis:).
with_env(e) := json.patch(clean, [{"op": "replace", "path": "/environment", "value": {"name": e, "tier": tier[e], "from": from[e], "from_verifies": true}}])

# without returns x with the value at JSON pointer p removed.
without(x, p) := json.patch(x, [{"op": "remove", "path": p}])

# set returns x with the value at JSON pointer p set to v.
set(x, p, v) := json.patch(x, [{"op": "add", "path": p, "value": v}])

test_clean_candidate_allowed_everywhere if {
	every e in object.keys(from) {
		count(promotion.deny) == 0 with input as with_env(e)
		count(promotion.warn) == 0 with input as with_env(e)
	}
}

test_rejected_version_denied_everywhere if {
	every e in object.keys(from) {
		promotion.deny == {"1.4.0 was rolled back earlier and is rejected: release a fixed version"} with input as set(set(with_env(e), "/candidate/version", "1.4.0"), "/current/version", "1.3.9")
	}
}

test_downgrade_warns_but_allows if {
	inp := set(with_env("qa"), "/current/version", "1.5.0")
	count(promotion.deny) == 0 with input as inp
	promotion.warn == {"1.4.2 is older than 1.5.0, the current version in qa: check that this downgrade is intended"} with input as inp
}

test_downgrade_with_v_prefix_warns if {
	inp := set(set(with_env("qa"), "/current/version", "v1.5.0"), "/candidate/version", "v1.4.2")
	promotion.warn == {"v1.4.2 is older than v1.5.0, the current version in qa: check that this downgrade is intended"} with input as inp
}

test_no_warning_for_upgrade_or_non_semver_tags if {
	count(promotion.warn) == 0 with input as with_env("qa")
	count(promotion.warn) == 0 with input as set(set(with_env("qa"), "/current/version", "main-42"), "/candidate/version", "main-41")
}

test_no_warning_without_current_version if {
	count(promotion.warn) == 0 with input as without(with_env("qa"), "/current")
}

# A freeze holds whichever environment it names, not only prod.
test_freeze_holds_any_environment if {
	inp := json.patch(clean, [{"op": "replace", "path": "/environment/name", "value": "qa"}, {"op": "replace", "path": "/evidence/freeze", "value": [{"name": "audit", "reason": "audit", "until": "2026-12-31T00:00:00Z"}]}])
	"qa is frozen until 2026-12-31T00:00:00Z (audit): promote after the freeze ends" in promotion.deny with input as inp
}
