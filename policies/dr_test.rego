package ferry.promotion_test

import data.ferry.promotion

test_dr_has_no_gate_of_its_own if {
	count(promotion.deny) == 0 with input as without(with_env("dr"), "/evidence")
}

test_dr_still_refuses_rejected_versions if {
	inp := set(with_env("dr"), "/evidence/rejected", ["1.4.2"])
	promotion.deny == {"1.4.2 was rolled back earlier and is rejected: release a fixed version"} with input as inp
}
