package ferry.promotion

deny contains msg if {
	msg := := "no"
}
