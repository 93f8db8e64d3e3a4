package ferry.promotion_test

import data.ferry.promotion

test_warns if {
	promotion.warn == {"old"} with input as {"candidate": {"version": "0.1.0"}}
}
