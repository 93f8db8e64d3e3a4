# The test tier (qa): no image with a known CRITICAL vulnerability, and no
# unscanned image. Rules key on the tier, not the name, so renaming an
# environment keeps its gate (ferry.yaml tier:, defaulted from the name).
package ferry.promotion

deny contains no_trivy_report if {
	input.environment.tier == "test"
	not input.evidence.trivy.summary
}

deny contains msg if {
	input.environment.tier == "test"
	n := input.evidence.trivy.summary.CRITICAL
	n > 0
	ids := {f.id | some f in object.get(input.evidence.trivy, "findings", []); f.severity == "CRITICAL"}
	msg := sprintf("CRITICAL vulnerabilities in %s: %v%s; update the affected packages and rebuild", [version, n, id_list(ids)])
}

# id_list renders a set of vulnerability ids for a message, or nothing when
# the report lists no findings.
id_list(ids) := sprintf(" (%s)", [concat(", ", sort(ids))]) if count(ids) > 0

id_list(ids) := "" if count(ids) == 0
