"""sgguard.iscsi (see its modules)."""
