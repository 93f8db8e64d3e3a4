package ferry.promotion_test

import data.ferry.promotion

test_blocklist_from_data_json if {
	promotion.deny_listed == {"blocked"} with input as {"app": {"name": "legacy"}}
}

test_team_from_data_yaml if {
	promotion.deny == {"old-cart is blocked by team shop"} with input as {"app": {"name": "old-cart"}}
}

test_other_allowed if {
	count(promotion.deny) + count(promotion.deny_listed) == 0 with input as {"app": {"name": "checkout"}}
}
