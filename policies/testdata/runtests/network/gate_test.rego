package ferry.promotion_test

import data.ferry.promotion

test_no_report_denied if {
	count(promotion.deny) == 1 with input as {"evidence": {}}
}
