package ferry.promotion

deny contains sprintf("%s is blocked by team %s", [input.app.name, team]) if {
	some team, t in data.teams
	input.app.name in t.blocked
}

deny_listed contains "blocked" if input.app.name in data.blocklist
