package ferry.promotion_test

import data.ferry.promotion

test_rejected_denied if {
	promotion.deny == {"1.0.0 is rejected"} with input as {"candidate": {"version": "1.0.0"}, "evidence": {"rejected": ["1.0.0"]}}
}

# Wrong on purpose: the version is not rejected, so nothing is denied.
test_expects_a_denial_that_does_not_come if {
	promotion.deny == {"1.0.1 is rejected"} with input as {"candidate": {"version": "1.0.1"}, "evidence": {"rejected": ["1.0.0"]}}
}
