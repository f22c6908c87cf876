"""sgguard.target (see its modules)."""
