package analysis

// CheckQuery says why q, a query template over Vars, does not render to
// PromQL; nil when it does. The config loader checks readiness queries with it.
func CheckQuery(q string) error {
	_, err := checkQuery(q)
	return err
}
