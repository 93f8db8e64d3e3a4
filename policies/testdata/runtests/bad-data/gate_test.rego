package ferry.promotion_test

import data.ferry.promotion

test_rejected_denied if {
	promotion.deny == {"1.0.0 is rejected"} with input as {"candidate": {"version": "1.0.0"}, "evidence": {"rejected": ["1.0.0"]}}
}

test_other_allowed if {
	count(promotion.deny) == 0 with input as {"candidate": {"version": "1.0.1"}, "evidence": {"rejected": ["1.0.0"]}}
}
