package ferry.promotion

deny contains msg if {
	input.candidate.version in input.evidence.rejected
	msg := sprintf("%s is rejected", [input.candidate.version])
}
