package ferry.promotion

# A warning alone can never stop a promotion: the agent refuses this set.
warn contains "old" if input.candidate.version == "0.1.0"
