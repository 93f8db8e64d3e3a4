# The production tier (prod): no HIGH or CRITICAL vulnerability that has a fix (in the
# image scan or the file-system scan of the source, when one is attached), the SonarQube
# quality gate passed, and long enough in the source environment (ppd).
# Freezes hold every environment (common.rego).
package ferry.promotion

deny contains no_trivy_report if {
	input.environment.tier == "production"
	not input.evidence.trivy.summary
}

deny contains msg if {
	input.environment.tier == "production"
	count(fixable) > 0
	msg := sprintf("%s has HIGH or CRITICAL vulnerabilities with a fix available: %s; update those packages and rebuild", [version, concat("; ", sort(fixable))])
}

# fixable lists the HIGH and CRITICAL findings that have a fixed version.
fixable contains sprintf("%s in %s (fixed in %s)", [f.id, object.get(f, "package", "?"), f.fixed]) if {
	some f in input.evidence.trivy.findings
	f.severity in {"HIGH", "CRITICAL"}
	f.fixed != ""
}

deny contains msg if {
	input.environment.tier == "production"
	count(fixable_fs) > 0
	msg := sprintf("the source of %s has HIGH or CRITICAL vulnerabilities with a fix available (file-system scan): %s; update those dependencies and rebuild", [version, concat("; ", sort(fixable_fs))])
}

fixable_fs contains sprintf("%s in %s (fixed in %s)", [f.id, object.get(f, "package", "?"), f.fixed]) if {
	some f in input.evidence.trivy.fs.findings
	f.severity in {"HIGH", "CRITICAL"}
	f.fixed != ""
}

deny contains no_sonar_gate if {
	input.environment.tier == "production"
	not input.evidence.sonar.status
}

deny contains sonar_failed if {
	input.environment.tier == "production"
	input.evidence.sonar.status != "OK"
}

# The soak ferry.yaml asks for; when it sets none, prod still requires one
# hour in the source environment.
required_soak := object.get(input.environment, "soak_seconds", 3600)

soak_env := object.get(input.environment, "from", "ppd")

deny contains msg if {
	input.environment.tier == "production"
	not input.evidence.soak
	msg := sprintf("no soak time known for %s in %s: deploy it there and wait %vs", [version, soak_env, required_soak])
}

deny contains msg if {
	input.environment.tier == "production"
	input.evidence.soak.env != soak_env
	msg := sprintf("%s soaked in %s, but %s needs its soak in %s: promote it to %s and wait %vs", [version, input.evidence.soak.env, input.environment.name, soak_env, soak_env, required_soak])
}

deny contains msg if {
	input.environment.tier == "production"
	input.evidence.soak.env == soak_env
	soaked := object.get(input.evidence.soak, "seconds", 0)
	soaked < required_soak
	msg := sprintf("%s has run %vs in %s, %s needs %vs: wait %vs more", [version, soaked, soak_env, input.environment.name, required_soak, required_soak - soaked])
}


# Supply chain, for an app whose images ferry verifies (verify: in
# ferry.yaml): a signed image (ferry denies an unsigned one before any
# policy; this says it again for `ferry policy eval`), a vulnerability scan
# that a trusted key signed (an unsigned report could have been attached by
# anyone who can push to the registry), and SLSA provenance from a builder
# verify.builders names, when it names any.
deny contains msg if {
	input.environment.tier == "production"
	input.app.verify
	count(object.get(input.candidate, "signatures", [])) == 0
	msg := sprintf("%s carries no verified signature: sign it (cosign sign or notation sign) with a key verify: trusts", [version])
}

deny contains msg if {
	input.environment.tier == "production"
	input.app.verify
	not input.evidence.trivy.signed
	msg := sprintf("no signed vulnerability scan for %s: attest the Trivy result (trivy image --format cosign-vuln, then cosign attest --type vuln) with a key verify: trusts", [version])
}

deny contains msg if {
	input.environment.tier == "production"
	count(object.get(input.app, ["verify", "builders"], [])) > 0
	not input.evidence.attestations.slsaprovenance
	msg := sprintf("no signed SLSA provenance for %s: attest it (cosign attest --type slsaprovenance) from one of the builders verify.builders names", [version])
}

deny contains msg if {
	input.environment.tier == "production"
	builders := object.get(input.app, ["verify", "builders"], [])
	count(builders) > 0
	builder := object.get(input.evidence.attestations.slsaprovenance, "builder", "no builder id")
	not builder in builders
	msg := sprintf("%s was built by %s, which is not a builder verify.builders trusts (%s): build it on a trusted builder", [version, builder, concat(", ", builders)])
}

# Approvals, for an environment with approval: in ferry.yaml (whatever its
# tier): the quorum of counted approvals (each person's latest vote on this
# version, not expired, not the requester's own under forbidSelf, by someone
# approval.from names), and no counted rejection.
deny contains msg if {
	input.environment.approval
	not input.evidence.approvals
	msg := sprintf("no approvals known for %s %s in %s: approve with `ferry approve %s %s --env %s` or a review on the pull request", [input.app.name, version, env, input.app.name, version, env])
}

deny contains msg if {
	input.environment.approval
	a := input.evidence.approvals
	a.count < a.required
	msg := sprintf("%s %s needs %d %s for %s and has %d (%s): %d more from %s; approve with `ferry approve %s %s --env %s` or a review on the pull request", [
		input.app.name, version, a.required, plural(a.required, "approval"), env, a.count, approvers_text(a.approved_by),
		a.required - a.count, needed_text, input.app.name, version, env,
	])
}

deny contains msg if {
	input.environment.approval
	some e in input.evidence.approvals.entries
	e.decision == "reject"
	e.counts
	msg := sprintf("%s rejected %s %s for %s (%s, %s): it is not promoted while the rejection stands; %s withdraws it with `ferry approve %s %s --env %s` or an approving review", [
		e.by, input.app.name, version, env, e.via, object.get(e, "reason", "no reason given"), e.by, input.app.name, version, env,
	])
}

plural(n, word) := word if n == 1

plural(n, word) := concat("", [word, "s"]) if n != 1

approvers_text(by) := concat(", ", by) if count(by) > 0

approvers_text(by) := "none" if count(by) == 0

# needed_text names whose votes count: approval.from, or anyone.
needed_text := concat(" or ", input.environment.approval.from) if count(input.environment.approval.from) > 0

needed_text := "anyone" if count(input.environment.approval.from) == 0
