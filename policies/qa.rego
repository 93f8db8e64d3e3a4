# qa: no image with a known CRITICAL vulnerability, and no unscanned image.
package ferry.promotion

deny contains no_trivy_report if {
	input.environment.name == "qa"
	not input.evidence.trivy.summary
}

deny contains msg if {
	input.environment.name == "qa"
	n := input.evidence.trivy.summary.CRITICAL
	n > 0
	ids := {f.id | some f in object.get(input.evidence.trivy, "findings", []); f.severity == "CRITICAL"}
	msg := sprintf("CRITICAL vulnerabilities in %s: %v%s; update the affected packages and rebuild", [version, n, id_list(ids)])
}

# id_list renders a set of vulnerability ids for a message, or nothing when
# the report lists no findings.
id_list(ids) := sprintf(" (%s)", [concat(", ", sort(ids))]) if count(ids) > 0

id_list(ids) := "" if count(ids) == 0
