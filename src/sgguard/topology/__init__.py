"""sgguard.topology (see its modules)."""
