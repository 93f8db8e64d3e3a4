# Rules for every environment, and the helpers the other files share.
#
# ferry asks data.ferry.promotion.deny and data.ferry.promotion.warn for each
# (app, candidate, environment): the promotion is allowed when deny is empty;
# warnings are shown but do not block. Evidence ferry could not find is
# absent from input (never zero), so every rule that needs evidence denies
# when it is missing.
package ferry.promotion

env := input.environment.name

version := input.candidate.version

# A version rolled back earlier is never promoted again, anywhere.
deny contains msg if {
	version in input.evidence.rejected
	msg := sprintf("%s was rolled back earlier and is rejected: release a fixed version", [version])
}

# A freeze holds every environment it names (ferry freeze --env, or an
# alert's rollback with freezeUntilResolved); one without an end date holds
# until someone removes it, or its alert resolves.
deny contains msg if {
	some f in input.evidence.freeze
	not ended(f)
	msg := sprintf("%s is frozen until %s (%s): promote after the freeze ends", [env, object.get(f, "until", "further notice"), object.get(f, "reason", "no reason given")])
}

# ended reports a freeze whose end has passed.
ended(f) if time.parse_rfc3339_ns(f.until) <= now_ns

# Going back to an older version is allowed (it may be a deliberate
# downgrade) but should be noticed.
warn contains msg if {
	# Tags that are not semantic versions (e.g. main-42) are not compared.
	cand := trim_prefix(version, "v")
	cur := trim_prefix(input.current.version, "v")
	semver.is_valid(cand)
	semver.is_valid(cur)
	semver.compare(cand, cur) < 0
	msg := sprintf("%s is older than %s, the current version in %s: check that this downgrade is intended", [version, input.current.version, env])
}

# Messages for the gates several environments share (qa.rego, ppd.rego,
# prod.rego); each is computed only when a rule uses it.

no_trivy_report := sprintf("no Trivy report for %s: scan the image and attach the report", [version])

no_sonar_gate := sprintf("no SonarQube quality gate for %s: run the analysis and make its result available to ferry", [version])

# sonar_failed names the conditions that failed the quality gate.
sonar_failed := msg if {
	failing := [sprintf("%s is %s (actual %s, threshold %s)", [c.metric, c.status, shown(c, "actual"), shown(c, "threshold")]) |
		some c in object.get(input.evidence.sonar, "conditions", [])
		c.status != "OK"
	]
	msg := sprintf("SonarQube quality gate is %s for %s: fix %s", [input.evidence.sonar.status, version, failing_text(failing)])
}

# shown returns x[key] for a message, or "none" when it is absent or empty.
shown(x, key) := v if {
	v := x[key]
	v != ""
} else := "none"

failing_text(failing) := concat("; ", sort(failing)) if count(failing) > 0

failing_text(failing) := "the failing conditions shown in SonarQube" if count(failing) == 0

# now_ns is the decision's clock: input.time, so that a decision can be
# replayed; the evaluation time when the caller gave none.
now_ns := time.parse_rfc3339_ns(input.time)

now_ns := time.now_ns() if not input.time
