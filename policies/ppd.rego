# ppd: the SonarQube quality gate passed, and the metric analysis in qa
# succeeded.
package ferry.promotion

deny contains no_sonar_gate if {
	input.environment.name == "ppd"
	not input.evidence.sonar.status
}

deny contains sonar_failed if {
	input.environment.name == "ppd"
	input.evidence.sonar.status != "OK"
}

deny contains msg if {
	input.environment.name == "ppd"
	not input.evidence.analysis.qa.verdict
	msg := sprintf("no qa analysis for %s: let the qa analysis finish before promoting to ppd", [version])
}

deny contains msg if {
	input.environment.name == "ppd"
	verdict := input.evidence.analysis.qa.verdict
	verdict != "Successful"
	msg := sprintf("the qa analysis of %s was %s: fix the regression and release a new version", [version, verdict])
}
