"""sgguard.audit (see its modules)."""
