# The test tier (qa): no image with a known CRITICAL vulnerability, in the
# image scan or in the file-system scan of its source, and no unscanned
# image. A missing file-system scan is not a denial: the image scan is the
# one every team has; add a rule on input.evidence.trivy.fs to require it. Rules key on the tier, not the name, so renaming an
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

deny contains msg if {
	input.environment.tier == "test"
	n := input.evidence.trivy.fs.summary.CRITICAL
	n > 0
	ids := {f.id | some f in object.get(input.evidence.trivy.fs, "findings", []); f.severity == "CRITICAL"}
	msg := sprintf("CRITICAL vulnerabilities in the source of %s (file-system scan): %v%s; update the affected dependencies and rebuild", [version, n, id_list(ids)])
}

# id_list renders a set of vulnerability ids for a message, or nothing when
# the report lists no findings.
id_list(ids) := sprintf(" (%s)", [concat(", ", sort(ids))]) if count(ids) > 0

id_list(ids) := "" if count(ids) == 0
