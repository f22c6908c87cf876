"""Errors that cross the library boundary and reach the command line.

Owns the exception types the CLI turns into one-line messages and exit status 2.
SCSI and iSCSI protocol errors are values (sense data, reject reasons), not these.
"""

from __future__ import annotations

__all__ = ["InputError", "SgguardError", "UsageError"]


class SgguardError(Exception):
    """Base of the errors the CLI reports as one line, without a traceback."""

    exit_status = 2


class UsageError(SgguardError):
    """The command line itself is wrong (unknown option value, missing file)."""


class InputError(SgguardError):
    """An input (a CDB, a JSON line, a config file, an image) is malformed.

    `where` names the place (file:line, field) so the message points at it.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
