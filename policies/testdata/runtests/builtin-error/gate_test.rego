package ferry.promotion_test

import data.ferry.promotion

# A bad timestamp is an error, as it is when ferry decides, not a silent
# "not frozen".
test_bad_timestamp if {
	count(promotion.deny) == 0 with input as {"time": "2026-11-25T18:00:00Z", "evidence": {"freeze": [{"until": "next monday"}]}}
}
