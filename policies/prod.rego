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

