# The staging tier (ppd): the SonarQube quality gate passed, and the
# source environment's analysis (qa's) succeeded, where it runs one: a team
# without analysis: in qa is not held for a verdict that never comes.
package ferry.promotion

deny contains no_sonar_gate if {
	input.environment.tier == "staging"
	not input.evidence.sonar.status
}

deny contains sonar_failed if {
	input.environment.tier == "staging"
	input.evidence.sonar.status != "OK"
}

deny contains msg if {
	input.environment.tier == "staging"
	input.environment.from_verifies
	not input.evidence.analysis[input.environment.from].verdict
	msg := sprintf("no %s analysis for %s: let the %s analysis finish before promoting to %s", [input.environment.from, version, input.environment.from, input.environment.name])
}

deny contains msg if {
	input.environment.tier == "staging"
	verdict := input.evidence.analysis[input.environment.from].verdict
	verdict != "Successful"
	msg := sprintf("the %s analysis of %s was %s: fix the regression and release a new version", [input.environment.from, version, verdict])
}
