package ferry.promotion

deny contains "no Trivy report: scan the image" if {
	not input.evidence.trivvy
}
