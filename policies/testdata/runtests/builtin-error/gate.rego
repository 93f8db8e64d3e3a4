package ferry.promotion

deny contains "frozen" if {
	some f in input.evidence.freeze
	time.parse_rfc3339_ns(f.until) > time.parse_rfc3339_ns(input.time)
}
