"""sgguard.kernel (see its modules)."""
