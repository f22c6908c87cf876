"""sgguard.scsi (see its modules)."""
