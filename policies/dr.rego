# dr mirrors prod: it takes exactly what prod runs, so it has no gate of its
# own beyond the rules for every environment (common.rego). To gate dr, add
# rules here with input.environment.tier == "dr".
package ferry.promotion
