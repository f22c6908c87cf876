"""The contract between SCSI logical units and the transports that carry them.

Owns the types every transport (the iSCSI server, tests, the lab) uses to hand a
command to a logical unit and get its result back: `Nexus` (who is asking),
`Status`, `Response`, and the `LogicalUnitProtocol` a transport calls. The
logical unit itself lives in `sgguard.target.lu`.

Data lengths: a transport passes the CDB and, for data-out commands, the bytes
it received (at most its expected data transfer length). The logical unit
returns `data_in` (never longer than the CDB's allocation or transfer length)
and `data_length`, the number of bytes the command itself wanted to move in
either direction. The transport clips `data_in` to its expected length and
derives the residual: overflow when `data_length` exceeds the expected length,
underflow when it falls short (RFC 7143 11.4.5.1, SAM-5 5.3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

__all__ = ["LogicalUnitProtocol", "Nexus", "Response", "Status", "TaskManagement"]


class Status(enum.IntEnum):
    """SAM-5 status codes."""

    GOOD = 0x00
    CHECK_CONDITION = 0x02
    CONDITION_MET = 0x04
    BUSY = 0x08
    RESERVATION_CONFLICT = 0x18
    TASK_SET_FULL = 0x28
    ACA_ACTIVE = 0x30
    TASK_ABORTED = 0x40


@dataclass(frozen=True, slots=True)
class Nexus:
    """I_T_L nexus: the initiator port, the target port and the LUN addressed.

    `initiator` is the initiator port name (for iSCSI `iqn...,i,0x<ISID>`);
    `initiator_name` the bare initiator name (the IQN) used by ACLs.
    """

    initiator: str
    target: str
    lun: int
    initiator_name: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    """The result of one command."""

    status: Status
    data_in: bytes | bytearray | memoryview = b""
    sense: bytes = b""
    data_length: int = 0  # bytes the command wanted to move (in or out), for residuals


class TaskManagement(enum.Enum):
    """Task management functions a transport may ask a logical unit to perform (SAM-5 7)."""

    ABORT_TASK = "abort-task"
    ABORT_TASK_SET = "abort-task-set"
    CLEAR_TASK_SET = "clear-task-set"
    LOGICAL_UNIT_RESET = "logical-unit-reset"
    TARGET_WARM_RESET = "target-warm-reset"
    TARGET_COLD_RESET = "target-cold-reset"
    I_T_NEXUS_RESET = "i-t-nexus-reset"


class LogicalUnitProtocol(Protocol):
    """What a transport needs of a logical unit.

    `execute` is synchronous and may block on its backend's I/O; a transport
    with an event loop runs it where blocking is harmless (a worker thread), or
    first offers the command to `execute_nowait` to complete it inline.
    `execute_nowait` is optional: a transport looks it up with `getattr` and
    treats a unit without it as one whose every command may block.
    """

    def execute(self, cdb: bytes, data_out: bytes | memoryview, nexus: Nexus) -> Response: ...

    def execute_nowait(
        self, cdb: bytes, data_out: bytes | memoryview, nexus: Nexus
    ) -> Response | None:
        """`execute`, if it completes without sleeping on I/O (e.g. a READ of blocks
        in the page cache, read once with RWF_NOWAIT); None: nothing was done, run
        `execute` where blocking is harmless. Same checks, same answers as `execute`."""
        ...

    def expected_data_out(self, cdb: bytes) -> int:
        """Bytes of data-out the CDB asks for (0 for commands without data-out)."""
        ...

    def task_management(self, function: TaskManagement, nexus: Nexus) -> None:
        """Apply a task management function's effect on this unit (reservations,
        unit attentions); aborting queued commands is the transport's job."""
        ...

    def nexus_lost(self, nexus: Nexus) -> None:
        """The I_T nexus is gone (session closed): drop its RESERVE(6) reservation."""
        ...

    def flush(self) -> None:
        """Make every write durable (used on clean shutdown)."""
        ...
