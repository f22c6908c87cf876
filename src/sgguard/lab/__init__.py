"""sgguard.lab (see its modules)."""
