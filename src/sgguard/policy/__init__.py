"""sgguard.policy (see its modules)."""
