"""Reservations of one logical unit: SPC-2 RESERVE/RELEASE and SPC-5 persistent reservations.

Owns the per-LU reservation state machine (SPC-5 5.14 Reservations, 6.16 PERSISTENT
RESERVE IN, 6.17 PERSISTENT RESERVE OUT, SPC-2 7.21/7.22 RESERVE and RELEASE (6)/(10)
with the SPC-5 5.14.3 exceptions, CRH=1), the decision whether any command conflicts
with the reservation in effect (SPC-5 table "SPC commands that are allowed in the
presence of various reservations" and SBC-4 4.17 "SBC commands that are allowed in the
presence of various reservations"), and the APTPL persistence format with its thin file
shell (write temp + fsync + rename).

API summary for `sgguard.target.lu` (one `Reservations` per logical unit)
------------------------------------------------------------------------
Construction (all keyword-only, all optional):
    prs, store = open_persisted(path)          # restore APTPL state (InputError if corrupt)
    prs = Reservations(store=store, on_abort=fn, relative_target_ports={port: id},
                       max_registrations=1024, ptpl_capable=True)
    prs = Reservations.from_persisted(data, where=path)      # same, from bytes

The one-call adapter the LU uses (it applies every side effect itself):
    response = prs.execute(lu, cdb, data_out, nexus)   # 0x5E, 0x5F, 0x16, 0x56, 0x17, 0x57
        # lu needs `.descriptor_sense: bool` and `.unit_attention_for(nexus, (asc, ascq))`;
        # writes `persist` through `prs.store` (under the lock: writes stay in order),
        # hands PREEMPT AND ABORT's nexuses to `prs.on_abort(tuple[ITNexus, ...])`
    conflict = prs.check(nexus, cdb, row)      # before EVERY command; row may be None
        # None: go on; Conflict(reason): Status.RESERVATION_CONFLICT, no sense data
    prs.conflicts(nexus, row, cdb=None) -> bool             # the same as a bool
    prs.nexus_lost(nexus)                      # session gone: its SPC-2 reservation goes
    prs.task_management(function, nexus)       # resets (TARGET COLD RESET = power on)
    prs.reset(nexus)                           # LU reset: SPC-2 reservation goes

Or value-level, without the adapter (the caller applies the side effects):
    r = prs.persistent_reserve_in(cdb, nexus) / prs.persistent_reserve_out(cdb, data_out,
        nexus) / prs.reserve(cdb, nexus) / prs.release(cdb, nexus)      -> PrResult
    r.response(descriptor_sense) -> sgguard.target.api.Response
    r.unit_attentions: UnitAttention(initiator, target, asc, ascq) for OTHER nexuses
    r.abort: I_T nexuses whose tasks the transport aborts (PREEMPT AND ABORT)
    r.persist: bytes for `AptplStore.store` (None: nothing to write)

`PrResult` is a value: status, data-in (already clipped to the allocation length),
`error` (a `CheckCondition`) or `conflict` (a reason for the log), the unit
attentions other I_T nexuses must see, the nexuses whose tasks must be aborted, and
the new persisted state. Nothing here does I/O except `AptplFile`.

Choices (all within what SPC-5 allows):
- Capabilities: CRH=1, SIP_C=0 (SPEC_I_PT refused with INVALID FIELD IN PARAMETER
  LIST), ATP_C=0 (ALL_TG_PT refused the same way), PTPL_C=1, TMV=1, all six types,
  ALLOW COMMANDS=011b (TEST UNIT READY allowed through WE and EA; MODE SENSE, READ
  BUFFER, RECEIVE DIAGNOSTIC RESULTS, REPORT SUPPORTED OPERATION CODES and the other
  listed read-only commands allowed through Write Exclusive).
- REGISTER AND MOVE is not supported: INVALID FIELD IN CDB on the service action
  (SPC-5 has no capability bit for it; REPORT SUPPORTED OPERATION CODES should not
  list service action 7).
- A corrupt APTPL file is refused (InputError naming the file): silently starting
  without it would drop fencing registrations a cluster relies on; the operator
  removes the file to start empty.
- TARGET COLD RESET is a power-on: persistent reservations survive only with APTPL.
  LOGICAL UNIT RESET, TARGET WARM RESET, I_T NEXUS RESET and nexus loss drop SPC-2
  reservations only (SPC-5 5.14.1: persistent reservations survive them).
- At most `max_registrations` (default 1024) registrations: beyond that INSUFFICIENT
  REGISTRATION RESOURCES.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Concatenate, NamedTuple, ParamSpec, Protocol, TypeVar

from sgguard.errors import InputError
from sgguard.scsi.model import CommandDef, Effect
from sgguard.scsi.sense import Asc, FieldPointer, SenseKey, asc_name, build_descriptor, build_fixed
from sgguard.target.api import Nexus, Response, Status, TaskManagement

__all__ = [
    "AptplFile",
    "AptplStore",
    "CheckCondition",
    "Conflict",
    "ITNexus",
    "LogicalUnitHooks",
    "PrInAction",
    "PrOutAction",
    "PrResult",
    "PrType",
    "Reservation",
    "Reservations",
    "UnitAttention",
    "open_persisted",
    "transport_id",
]

OP_RESERVE_6 = 0x16
OP_RELEASE_6 = 0x17
OP_RESERVE_10 = 0x56
OP_RELEASE_10 = 0x57
OP_PERSISTENT_RESERVE_IN = 0x5E
OP_PERSISTENT_RESERVE_OUT = 0x5F

PR_OUT_PARAMETER_LIST_LENGTH = 24  # SPC-5 6.17.3, basic parameter list
MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------------------
# Vocabulary: sense values, unit attentions, nexuses
# ---------------------------------------------------------------------------


# (ASC, ASCQ) pairs this module produces (SPC-5 Annex F), as plain tuples.
PARAMETER_LIST_LENGTH_ERROR = Asc.PARAMETER_LIST_LENGTH_ERROR.value
INVALID_FIELD_IN_CDB = Asc.INVALID_FIELD_IN_CDB.value
INVALID_FIELD_IN_PARAMETER_LIST = Asc.INVALID_FIELD_IN_PARAMETER_LIST.value
INVALID_RELEASE_OF_PERSISTENT_RESERVATION = Asc.INVALID_RELEASE_OF_PERSISTENT_RESERVATION.value
INSUFFICIENT_REGISTRATION_RESOURCES = Asc.INSUFFICIENT_REGISTRATION_RESOURCES.value
RESERVATIONS_PREEMPTED = Asc.RESERVATIONS_PREEMPTED.value
RESERVATIONS_RELEASED = Asc.RESERVATIONS_RELEASED.value
REGISTRATIONS_PREEMPTED = Asc.REGISTRATIONS_PREEMPTED.value


@dataclass(frozen=True, slots=True)
class CheckCondition:
    """A CHECK CONDITION as a value: sense key, ASC/ASCQ, optional field pointer.

    `reason` is a one-line explanation for the log (never sent to the initiator).
    `sense(descriptor)` builds the sense data with `sgguard.scsi.sense`.
    """

    sense_key: SenseKey
    asc: int
    ascq: int
    field: FieldPointer | None = None
    reason: str = ""

    def sense(self, descriptor: bool = False) -> bytes:
        """Sense data in fixed (SPC-5 4.4.3) or descriptor format (SPC-5 4.4.2)."""
        build = build_descriptor if descriptor else build_fixed
        return build(self.sense_key, (self.asc, self.ascq), field_pointer=self.field)

    def describe(self) -> str:
        text = f"{self.sense_key.name}, {asc_name(self.asc, self.ascq)}"
        return f"{text}: {self.reason}" if self.reason else text


def _illegal(
    asc_ascq: tuple[int, int], reason: str, *, cdb: bool, byte: int, bit: int | None
) -> CheckCondition:
    return CheckCondition(
        SenseKey.ILLEGAL_REQUEST, asc_ascq[0], asc_ascq[1], FieldPointer(cdb, byte, bit), reason
    )


class ITNexus(NamedTuple):
    """An I_T nexus: initiator port name (iSCSI `iqn...,i,0x<ISID>`) and target port name.

    A NamedTuple rather than a dataclass: `check` builds one per command, and a
    tuple is the cheapest immutable, hashable, typed key Python has.
    """

    initiator: str
    target: str

    @classmethod
    def of(cls, nexus: Nexus | ITNexus) -> ITNexus:
        if isinstance(nexus, ITNexus):
            return nexus
        return cls(nexus.initiator, nexus.target)


@dataclass(frozen=True, slots=True)
class UnitAttention:
    """A unit attention the LU must establish for one I_T nexus (SAM-5 5.14)."""

    initiator: str
    target: str
    asc: int
    ascq: int

    @property
    def nexus(self) -> ITNexus:
        return ITNexus(self.initiator, self.target)

    def check_condition(self) -> CheckCondition:
        return CheckCondition(SenseKey.UNIT_ATTENTION, self.asc, self.ascq)


@dataclass(frozen=True, slots=True)
class Conflict:
    """The command conflicts with a reservation: answer RESERVATION CONFLICT (no sense)."""

    reason: str


class PrType(enum.IntEnum):
    """Persistent reservation TYPE codes (SPC-5 6.16.3.4 table)."""

    WRITE_EXCLUSIVE = 0x1
    EXCLUSIVE_ACCESS = 0x3
    WRITE_EXCLUSIVE_REGISTRANTS_ONLY = 0x5
    EXCLUSIVE_ACCESS_REGISTRANTS_ONLY = 0x6
    WRITE_EXCLUSIVE_ALL_REGISTRANTS = 0x7
    EXCLUSIVE_ACCESS_ALL_REGISTRANTS = 0x8

    @property
    def all_registrants(self) -> bool:
        return self in (
            PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS,
            PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS,
        )

    @property
    def registrants_only(self) -> bool:
        return self in (
            PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY,
            PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY,
        )

    @property
    def exclusive_access(self) -> bool:
        """Reads are refused to non-holders (EA, EA-RO, EA-AR)."""
        return self in (
            PrType.EXCLUSIVE_ACCESS,
            PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY,
            PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS,
        )


# PERSISTENT RESERVATION TYPE MASK bits (SPC-5 6.16.4 REPORT CAPABILITIES), as a 16-bit value.
_TYPE_MASK_BITS = {
    PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS: 0x8000,
    PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 0x4000,
    PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 0x2000,
    PrType.EXCLUSIVE_ACCESS: 0x0800,
    PrType.WRITE_EXCLUSIVE: 0x0200,
    PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 0x0001,
}

_ALL_REGISTRANTS_TYPES = frozenset(t for t in PrType if t.all_registrants)
_REGISTRANTS_TYPES = frozenset(t for t in PrType if t.all_registrants or t.registrants_only)
_EXCLUSIVE_ACCESS_TYPES = frozenset(t for t in PrType if t.exclusive_access)

LU_SCOPE = 0x0


class PrInAction(enum.IntEnum):
    """PERSISTENT RESERVE IN service actions (SPC-5 6.16.1)."""

    READ_KEYS = 0x00
    READ_RESERVATION = 0x01
    REPORT_CAPABILITIES = 0x02
    READ_FULL_STATUS = 0x03


class PrOutAction(enum.IntEnum):
    """PERSISTENT RESERVE OUT service actions (SPC-5 6.17.2)."""

    REGISTER = 0x00
    RESERVE = 0x01
    RELEASE = 0x02
    CLEAR = 0x03
    PREEMPT = 0x04
    PREEMPT_AND_ABORT = 0x05
    REGISTER_AND_IGNORE_EXISTING_KEY = 0x06
    REGISTER_AND_MOVE = 0x07


@dataclass(frozen=True, slots=True)
class Reservation:
    """The persistent reservation in effect: its type and holder (None for all-registrants)."""

    type: PrType
    holder: ITNexus | None


@dataclass(frozen=True, slots=True)
class PrResult:
    """The outcome of one reservation command, for the LU to turn into a `Response`."""

    status: Status = Status.GOOD
    data_in: bytes = b""
    data_length: int = 0
    error: CheckCondition | None = None
    conflict: str = ""
    unit_attentions: tuple[UnitAttention, ...] = ()
    abort: tuple[ITNexus, ...] = ()
    persist: bytes | None = None

    def response(self, descriptor_sense: bool = False) -> Response:
        sense = self.error.sense(descriptor_sense) if self.error is not None else b""
        return Response(self.status, self.data_in, sense, self.data_length)


def _fail(error: CheckCondition, data_length: int = 0) -> PrResult:
    return PrResult(Status.CHECK_CONDITION, error=error, data_length=data_length)


def _conflict(reason: str, data_length: int = 0) -> PrResult:
    return PrResult(Status.RESERVATION_CONFLICT, conflict=reason, data_length=data_length)


# ---------------------------------------------------------------------------
# Which commands a reservation lets through
# ---------------------------------------------------------------------------


class Access(enum.Enum):
    """How a command fares against a reservation held by another I_T nexus."""

    ALLOWED = "allowed"  # never conflicts (INQUIRY, REPORT LUNS, PR IN, ...)
    READ = "read"  # allowed through Write Exclusive types, conflicts under Exclusive Access
    WRITE = "write"  # conflicts for everyone but the holder (and registrants of RO/AR types)


_A, _R, _W = Access.ALLOWED, Access.READ, Access.WRITE

# SPC-5 / SBC-4 reservation tables by opcode (commands without service actions, or whose
# service actions all behave alike).
_BY_OPCODE: dict[int, Access] = {
    0x00: _A,  # TEST UNIT READY (ALLOW COMMANDS 011b)
    0x03: _A,  # REQUEST SENSE
    0x12: _A,  # INQUIRY
    0x25: _A,  # READ CAPACITY (10)
    0x4D: _A,  # LOG SENSE
    0x5E: _A,  # PERSISTENT RESERVE IN
    0x5F: _A,  # PERSISTENT RESERVE OUT (the service action itself checks registration)
    0x16: _A,  # RESERVE (6): SPC-5 5.14.3 exceptions, handled by reserve()
    0x17: _A,  # RELEASE (6)
    0x56: _A,  # RESERVE (10)
    0x57: _A,  # RELEASE (10)
    0x86: _A,  # ACCESS CONTROL IN
    0x87: _W,  # ACCESS CONTROL OUT: stricter than SPC-5; it changes who may reach the LU
    0xA0: _A,  # REPORT LUNS
    # read-type (SBC-4) and the read-only SPC commands of ALLOW COMMANDS 011b
    0x08: _R,  # READ (6)
    0x28: _R,  # READ (10)
    0xA8: _R,  # READ (12)
    0x88: _R,  # READ (16)
    0x2F: _R,  # VERIFY (10)
    0xAF: _R,  # VERIFY (12)
    0x8F: _R,  # VERIFY (16)
    0x34: _R,  # PRE-FETCH (10)
    0x90: _R,  # PRE-FETCH (16)
    0x1A: _R,  # MODE SENSE (6)
    0x5A: _R,  # MODE SENSE (10)
    0x3C: _R,  # READ BUFFER (10)
    0x9B: _R,  # READ BUFFER (16)
    0x1C: _R,  # RECEIVE DIAGNOSTIC RESULTS
    0x37: _R,  # READ DEFECT DATA (10)
    0xB7: _R,  # READ DEFECT DATA (12)
    0x84: _R,  # RECEIVE COPY RESULTS / third-party copy in
    0x8C: _R,  # READ ATTRIBUTE
    0xA2: _R,  # SECURITY PROTOCOL IN
    # write-type and state-changing
    0x04: _W,  # FORMAT UNIT
    0x07: _W,  # REASSIGN BLOCKS
    0x0A: _W,  # WRITE (6)
    0x15: _W,  # MODE SELECT (6)
    0x1D: _W,  # SEND DIAGNOSTIC
    0x2A: _W,  # WRITE (10)
    0x2E: _W,  # WRITE AND VERIFY (10)
    0x35: _W,  # SYNCHRONIZE CACHE (10)
    0x3B: _W,  # WRITE BUFFER
    0x3E: _W,  # READ LONG (10): conservative
    0x3F: _W,  # WRITE LONG (10)
    0x41: _W,  # WRITE SAME (10)
    0x42: _W,  # UNMAP
    0x48: _W,  # SANITIZE
    0x4C: _W,  # LOG SELECT
    0x55: _W,  # MODE SELECT (10)
    0x83: _W,  # EXTENDED COPY / third-party copy out
    0x85: _W,  # ATA PASS-THROUGH (16)
    0x89: _W,  # COMPARE AND WRITE
    0x8A: _W,  # WRITE (16)
    0x8B: _W,  # ORWRITE (16)
    0x8D: _W,  # WRITE ATTRIBUTE
    0x8E: _W,  # WRITE AND VERIFY (16)
    0x91: _W,  # SYNCHRONIZE CACHE (16)
    0x93: _W,  # WRITE SAME (16)
    0x9A: _W,  # WRITE STREAM (16)
    0x9C: _W,  # WRITE ATOMIC (16)
    0xA1: _W,  # ATA PASS-THROUGH (12)
    0xA4: _W,  # MAINTENANCE OUT (SET TARGET PORT GROUPS, SET TIMESTAMP, ...)
    0xAA: _W,  # WRITE (12)
    0xAE: _W,  # WRITE AND VERIFY (12)
    0xB5: _W,  # SECURITY PROTOCOL OUT
}

# Opcodes whose service actions differ: (opcode, service action) -> access.
_BY_SERVICE_ACTION: dict[tuple[int, int], Access] = {
    (0x9E, 0x10): _A,  # READ CAPACITY (16)
    (0x9E, 0x11): _W,  # READ LONG (16): conservative
    (0x9E, 0x12): _R,  # GET LBA STATUS
    (0x9E, 0x13): _R,  # REPORT REFERRALS
    (0x9F, 0x11): _W,  # WRITE LONG (16)
    (0xA3, 0x05): _A,  # REPORT IDENTIFYING INFORMATION
    (0xA3, 0x0A): _A,  # REPORT TARGET PORT GROUPS
    (0xA3, 0x0B): _A,  # REPORT ALIASES
    (0xA3, 0x0C): _R,  # REPORT SUPPORTED OPERATION CODES
    (0xA3, 0x0D): _R,  # REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
    (0xA3, 0x0E): _A,  # REPORT PRIORITY
    (0xA3, 0x0F): _A,  # REPORT TIMESTAMP
    (0xA3, 0x10): _R,  # MANAGEMENT PROTOCOL IN
    (0xAB, 0x01): _A,  # READ MEDIA SERIAL NUMBER
    (0x7F, 0x0009): _R,  # READ (32)
    (0x7F, 0x000A): _R,  # VERIFY (32)
    (0x7F, 0x000B): _W,  # WRITE (32)
    (0x7F, 0x000C): _W,  # WRITE AND VERIFY (32)
    (0x7F, 0x000D): _W,  # WRITE SAME (32)
    (0x7F, 0x000E): _W,  # ORWRITE (32)
}
_SA_IN_BYTE1 = frozenset({0x9E, 0x9F, 0xA3, 0xAB})

_SPC2_ALLOWED = frozenset({0x03, 0x12, 0xA0, OP_RELEASE_6, OP_RELEASE_10})
_READ_ONLY_EFFECTS = Effect.READS_MEDIA  # anything beyond reading media is write-type


def classify(cdb: bytes, row: CommandDef | None = None) -> Access:
    """The command's column in the reservation tables (SPC-5 5.14.1.x, SBC-4 4.17.x)."""
    op = cdb[0]
    if op == 0x1B:  # START STOP UNIT: START=1 with POWER CONDITION 0h is allowed
        b4 = cdb[4] if len(cdb) > 4 else 0
        return _A if (b4 & 0x01) and not (b4 & 0xF0) else _W
    if op == 0x1E:  # PREVENT ALLOW MEDIUM REMOVAL: PREVENT 00b is allowed
        return _A if len(cdb) > 4 and not (cdb[4] & 0x03) else _W
    access = _BY_OPCODE.get(op)
    if access is not None:
        return access
    sa: int | None = None
    if row is not None and row.service_action is not None:
        sa = row.service_action
    elif op in _SA_IN_BYTE1 and len(cdb) > 1:
        sa = cdb[1] & 0x1F
    elif op == 0x7F and len(cdb) > 9:
        sa = (cdb[8] << 8) | cdb[9]
    if sa is not None:
        access = _BY_SERVICE_ACTION.get((op, sa))
        if access is not None:
            return access
    if row is None:
        return _W
    # Union over device types: the worst case. Any effect beyond reading media (writes,
    # erases, device state, firmware, security, ATA, UNKNOWN for vendor specific and
    # reserved opcodes, and any flag added later) makes the command write-type.
    if row.effects & ~_READ_ONLY_EFFECTS:
        return _W
    return _R  # reads media or only reports: a read-type command


# ---------------------------------------------------------------------------
# TransportIDs (SPC-5 7.6.4 / 7.6.4.6 iSCSI)
# ---------------------------------------------------------------------------

PROTOCOL_ISCSI = 0x5


def transport_id(initiator_port: str) -> bytes:
    """The iSCSI TransportID of an initiator port name (SPC-5 7.6.4.6).

    `iqn...,i,0x<ISID>` gives FORMAT CODE 01b (initiator port identifier); a bare
    name gives 00b. The name is null terminated and padded to a multiple of four;
    the ADDITIONAL LENGTH is at least 20.
    """
    fmt = 0x1 if ",i,0x" in initiator_port.lower() else 0x0
    name = initiator_port.encode("utf-8") + b"\x00"
    padded = max(20, (len(name) + 3) // 4 * 4)
    name = name.ljust(padded, b"\x00")
    return bytes((fmt << 6 | PROTOCOL_ISCSI, 0)) + len(name).to_bytes(2, "big") + name


# ---------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------

PERSIST_FORMAT = "sgguard-persistent-reservations"
PERSIST_VERSION = 1


class AptplStore(Protocol):
    """Where APTPL state lives; the LU calls `store` with every `PrResult.persist`."""

    def load(self) -> bytes | None: ...

    def store(self, data: bytes) -> None: ...


class AptplFile:
    """The thin I/O shell: APTPL state in one file, replaced atomically.

    `store` writes a temporary file in the same directory, fsyncs it, renames it
    over the old one and fsyncs the directory, so a crash leaves the old or the
    new state, never a torn one.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(
                f"cannot read reservation state: {exc.strerror}", where=str(self.path)
            ) from exc

    def store(self, data: bytes) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def open_persisted(
    path: str | os.PathLike[str],
    *,
    max_registrations: int = 1024,
    relative_target_ports: Mapping[str, int] | None = None,
) -> tuple[Reservations, AptplFile]:
    """Reservations restored from `path` (empty when it does not exist) and its store.

    Raises `InputError` naming the file when it is unreadable or corrupt.
    """
    store = AptplFile(path)
    data = store.load()
    if data is None:
        prs = Reservations(
            max_registrations=max_registrations, relative_target_ports=relative_target_ports
        )
    else:
        prs = Reservations.from_persisted(
            data,
            where=str(store.path),
            max_registrations=max_registrations,
            relative_target_ports=relative_target_ports,
        )
    return prs, store


class LogicalUnitHooks(Protocol):
    """What `Reservations.execute` needs of the logical unit (sgguard.target.lu.LogicalUnit)."""

    descriptor_sense: bool

    def unit_attention_for(self, nexus: Nexus, asc: tuple[int, int]) -> None: ...


def _synthetic_cdb(row: CommandDef) -> bytes:
    """A CDB carrying only the row's opcode and service action (for classification)."""
    cdb = bytearray(16)
    cdb[0] = row.opcode
    sa = row.service_action
    if sa is not None:
        if row.opcode == 0x7F:
            cdb[8:10] = sa.to_bytes(2, "big")
        else:
            cdb[1] = sa & 0x1F
    return bytes(cdb)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _locked(
    method: Callable[Concatenate[Reservations, _P], _T],
) -> Callable[Concatenate[Reservations, _P], _T]:
    """Run a state-changing method under the instance's lock."""

    def wrapper(self: Reservations, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._lock:
            return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


# ---------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    registrations: dict[ITNexus, int] = field(default_factory=dict)  # insertion ordered
    reservation: Reservation | None = None
    generation: int = 0
    aptpl: bool = False


class Reservations:
    """Reservation state of one logical unit.

    Thread-safe: every state-changing or reporting method holds an internal
    reentrant lock; `check` takes no lock (it only looks values up, atomically
    under the GIL) so the per-command cost stays a few hundred nanoseconds.

    `relative_target_ports` maps target port names to their RELATIVE TARGET PORT
    IDENTIFIER (READ FULL STATUS); unknown ports report 1.
    """

    def __init__(
        self,
        *,
        ptpl_capable: bool = True,
        max_registrations: int = 1024,
        relative_target_ports: Mapping[str, int] | None = None,
        store: AptplStore | None = None,
        on_abort: Callable[[tuple[ITNexus, ...]], None] | None = None,
    ) -> None:
        self.ptpl_capable = ptpl_capable
        self.store = store
        self.on_abort = on_abort
        self.max_registrations = max_registrations
        self.relative_target_ports = dict(relative_target_ports or {})
        self._s = _State()
        self._spc2: ITNexus | None = None
        self._lock = threading.RLock()

    # -- introspection ----------------------------------------------------

    @property
    def generation(self) -> int:
        return self._s.generation

    @property
    def aptpl(self) -> bool:
        return self._s.aptpl

    @property
    def registrations(self) -> dict[ITNexus, int]:
        return dict(self._s.registrations)

    @property
    def reservation(self) -> Reservation | None:
        return self._s.reservation

    @property
    def spc2_holder(self) -> ITNexus | None:
        return self._spc2

    def is_holder(self, nexus: Nexus | ITNexus) -> bool:
        """True when the I_T nexus holds the persistent reservation (SPC-5 5.14.10)."""
        res = self._s.reservation
        if res is None:
            return False
        it = ITNexus.of(nexus)
        if res.type.all_registrants:
            return it in self._s.registrations
        return res.holder == it

    def reservation_key(self) -> int:
        """The key READ RESERVATION reports: the holder's key, 0 for all-registrants types."""
        res = self._s.reservation
        if res is None or res.holder is None:
            return 0
        return self._s.registrations.get(res.holder, 0)

    # -- conflicts ----------------------------------------------------------

    def check(
        self, nexus: Nexus | ITNexus, cdb: bytes, row: CommandDef | None = None
    ) -> Conflict | None:
        """Whether this command from this nexus conflicts with the reservation in effect.

        Call before executing every command (after UNIT ATTENTION handling). None
        means go on; a `Conflict` means answer RESERVATION CONFLICT status.
        """
        res = self._s.reservation
        spc2 = self._spc2
        if spc2 is None and res is None:
            return None
        if not cdb:
            return None
        op = cdb[0]
        it = (nexus.initiator, nexus.target)  # equal to and hashed as the ITNexus
        if spc2 is not None:
            if op in (OP_PERSISTENT_RESERVE_IN, OP_PERSISTENT_RESERVE_OUT):
                # SPC-2 5.5.1: while reserved by RESERVE, every PR command conflicts.
                return Conflict(f"opcode {op:#04x} while an SPC-2 RESERVE is held")
            if it == spc2 or op in _SPC2_ALLOWED:
                return None
            if op == 0x1E and len(cdb) > 4 and not (cdb[4] & 0x03):
                return None
            return Conflict(f"opcode {op:#04x}: logical unit reserved by {spc2.initiator}")
        assert res is not None
        pr_type = res.type
        registrations = self._s.registrations
        if pr_type in _ALL_REGISTRANTS_TYPES:
            if it in registrations:
                return None  # every registrant holds an all-registrants reservation
        elif res.holder == it:
            return None
        access = classify(cdb, row)
        if access is Access.ALLOWED:
            return None
        if pr_type in _REGISTRANTS_TYPES and it in registrations:
            return None
        if access is Access.READ and pr_type not in _EXCLUSIVE_ACCESS_TYPES:
            return None
        return Conflict(f"opcode {op:#04x} ({access.value}) under {pr_type.name} reservation")

    # -- SPC-2 RESERVE / RELEASE -------------------------------------------

    def _spc2_precheck(self, cdb: bytes, it: ITNexus, verb: str) -> PrResult | None:
        """What RESERVE/RELEASE answers before looking at SPC-2 state, or None.

        Byte 1 options we do not support; under a persistent reservation the holder
        (or a registrant, for registrants-only types) gets GOOD with nothing changed,
        everyone else a conflict, as under bare registrations (SPC-5 5.14.3).
        """
        if len(cdb) > 1 and cdb[1] & 0x13:
            bit = 4 if cdb[1] & 0x10 else (1 if cdb[1] & 0x02 else 0)
            noun = "reservations" if verb == "RESERVE" else "releases"
            return _fail(
                _illegal(
                    INVALID_FIELD_IN_CDB,
                    f"third-party, long-id and extent {noun} are not supported",
                    cdb=True,
                    byte=1,
                    bit=bit,
                )
            )
        res = self._s.reservation
        if res is not None:
            if self.is_holder(it) or (res.type.registrants_only and it in self._s.registrations):
                return PrResult()  # GOOD: nothing established, the persistent one stays
            return _conflict(f"{verb} while a persistent reservation is held by another I_T nexus")
        if self._s.registrations:
            return _conflict(f"{verb} while persistent reservation registrations exist")
        return None

    @_locked
    def reserve(self, cdb: bytes, nexus: Nexus | ITNexus) -> PrResult:
        """RESERVE (6) / RESERVE (10) (SPC-2 7.21, 7.22; SPC-5 5.14.3 exceptions)."""
        it = ITNexus.of(nexus)
        early = self._spc2_precheck(cdb, it, "RESERVE")
        if early is not None:
            return early
        if self._spc2 is not None and self._spc2 != it:
            return _conflict(f"RESERVE: logical unit reserved by {self._spc2.initiator}")
        self._spc2 = it
        return PrResult()

    @_locked
    def release(self, cdb: bytes, nexus: Nexus | ITNexus) -> PrResult:
        """RELEASE (6) / RELEASE (10) (SPC-2 7.19, 7.20; SPC-5 5.14.3 exceptions)."""
        it = ITNexus.of(nexus)
        early = self._spc2_precheck(cdb, it, "RELEASE")
        if early is not None:
            return early
        if self._spc2 == it:
            self._spc2 = None
        return PrResult()  # releasing someone else's or no reservation is a no-op

    # -- events ---------------------------------------------------------------

    @_locked
    def nexus_lost(self, nexus: Nexus | ITNexus) -> None:
        """The I_T nexus is gone: its SPC-2 reservation goes; registrations stay (SPC-5 5.14.1)."""
        if self._spc2 == ITNexus.of(nexus):
            self._spc2 = None

    @_locked
    def task_management(self, function: TaskManagement, nexus: Nexus | ITNexus) -> None:
        """Apply a reset's effect on reservations (SAM-5 6.3, SPC-5 5.14.1)."""
        if function in (TaskManagement.LOGICAL_UNIT_RESET, TaskManagement.TARGET_WARM_RESET):
            self._spc2 = None
        elif function is TaskManagement.TARGET_COLD_RESET:
            self.power_on()
        elif function is TaskManagement.I_T_NEXUS_RESET:
            self.nexus_lost(nexus)

    @_locked
    def power_on(self) -> None:
        """Power loss and restart: SPC-2 reservations go; PR state survives only with APTPL."""
        self._spc2 = None
        if not self._s.aptpl:
            self._s = _State()

    # -- PERSISTENT RESERVE IN -------------------------------------------------

    @_locked
    def persistent_reserve_in(self, cdb: bytes, nexus: Nexus | ITNexus) -> PrResult:
        """PERSISTENT RESERVE IN (SPC-5 6.16). Data-in is clipped to the ALLOCATION LENGTH."""
        if len(cdb) < 10:
            return _fail(_illegal(INVALID_FIELD_IN_CDB, "short CDB", cdb=True, byte=0, bit=None))
        sa = cdb[1] & 0x1F
        alloc = (cdb[7] << 8) | cdb[8]
        if sa == PrInAction.READ_KEYS:
            data = self._read_keys()
        elif sa == PrInAction.READ_RESERVATION:
            data = self._read_reservation()
        elif sa == PrInAction.REPORT_CAPABILITIES:
            data = self._report_capabilities()
        elif sa == PrInAction.READ_FULL_STATUS:
            data = self._read_full_status()
        else:
            return _fail(
                _illegal(
                    INVALID_FIELD_IN_CDB,
                    f"PERSISTENT RESERVE IN service action {sa:#04x} is not defined",
                    cdb=True,
                    byte=1,
                    bit=4,
                )
            )
        out = data[:alloc]
        return PrResult(data_in=out, data_length=len(out))

    def _read_keys(self) -> bytes:
        keys = b"".join(k.to_bytes(8, "big") for k in self._s.registrations.values())
        return self._s.generation.to_bytes(4, "big") + len(keys).to_bytes(4, "big") + keys

    def _read_reservation(self) -> bytes:
        head = self._s.generation.to_bytes(4, "big")
        res = self._s.reservation
        if res is None:
            return head + bytes(4)
        body = bytearray(16)
        body[0:8] = self.reservation_key().to_bytes(8, "big")
        body[13] = (LU_SCOPE << 4) | res.type
        return head + (16).to_bytes(4, "big") + bytes(body)

    def _report_capabilities(self) -> bytes:
        out = bytearray(8)
        out[0:2] = (8).to_bytes(2, "big")
        # CRH=1 (bit 4), SIP_C=0, ATP_C=0, PTPL_C (bit 0)
        out[2] = 0x10 | (0x01 if self.ptpl_capable else 0)
        # TMV=1, ALLOW COMMANDS=011b, PTPL_A
        out[3] = 0x80 | (0b011 << 4) | (0x01 if self._s.aptpl else 0)
        mask = 0
        for bit in _TYPE_MASK_BITS.values():
            mask |= bit
        out[4:6] = mask.to_bytes(2, "big")
        return bytes(out)

    def _read_full_status(self) -> bytes:
        res = self._s.reservation
        descs = bytearray()
        for it, key in self._s.registrations.items():
            tid = transport_id(it.initiator)
            d = bytearray(24)
            d[0:8] = key.to_bytes(8, "big")
            holder = res is not None and self.is_holder(it)
            d[12] = 0x01 if holder else 0x00  # ALL_TG_PT=0, R_HOLDER
            if holder and res is not None:
                d[13] = (LU_SCOPE << 4) | res.type
            rtpi = self.relative_target_ports.get(it.target, 1)
            d[18:20] = rtpi.to_bytes(2, "big")
            d[20:24] = len(tid).to_bytes(4, "big")
            descs += d + tid
        return self._s.generation.to_bytes(4, "big") + len(descs).to_bytes(4, "big") + bytes(descs)

    # -- PERSISTENT RESERVE OUT -------------------------------------------------

    @_locked
    def persistent_reserve_out(
        self, cdb: bytes, data_out: bytes | bytearray | memoryview, nexus: Nexus | ITNexus
    ) -> PrResult:
        """PERSISTENT RESERVE OUT (SPC-5 6.17) with the basic 24-byte parameter list."""
        if len(cdb) < 10:
            return _fail(_illegal(INVALID_FIELD_IN_CDB, "short CDB", cdb=True, byte=0, bit=None))
        sa = cdb[1] & 0x1F
        scope = cdb[2] >> 4
        type_code = cdb[2] & 0x0F
        plen = int.from_bytes(cdb[5:9], "big")
        if sa not in PrOutAction._value2member_map_ or sa == PrOutAction.REGISTER_AND_MOVE:
            # 07h REGISTER AND MOVE and 08h REPLACE LOST RESERVATION (SPC-5) are not supported
            what = "is not supported" if sa in (0x07, 0x08) else "is not defined"
            return _fail(
                _illegal(
                    INVALID_FIELD_IN_CDB,
                    f"PERSISTENT RESERVE OUT service action {sa:#04x} {what}",
                    cdb=True,
                    byte=1,
                    bit=4,
                ),
                plen,
            )
        action = PrOutAction(sa)
        if self._spc2 is not None:
            return _conflict("PERSISTENT RESERVE OUT while an SPC-2 RESERVE is held", plen)
        pr_type: PrType | None = None
        if action in (
            PrOutAction.RESERVE,
            PrOutAction.RELEASE,
            PrOutAction.PREEMPT,
            PrOutAction.PREEMPT_AND_ABORT,
        ):
            if scope != LU_SCOPE:
                return _fail(
                    _illegal(
                        INVALID_FIELD_IN_CDB,
                        f"SCOPE {scope:#x} is not LU_SCOPE",
                        cdb=True,
                        byte=2,
                        bit=7,
                    ),
                    plen,
                )
            if type_code not in PrType._value2member_map_:
                return _fail(
                    _illegal(
                        INVALID_FIELD_IN_CDB,
                        f"TYPE {type_code:#x} is not a persistent reservation type",
                        cdb=True,
                        byte=2,
                        bit=3,
                    ),
                    plen,
                )
            pr_type = PrType(type_code)
        params = bytes(data_out[:plen])
        flags = params[20] if len(params) > 20 else 0
        if flags & 0x08:  # SPEC_I_PT (SIP_C=0)
            return _fail(
                _illegal(
                    INVALID_FIELD_IN_PARAMETER_LIST,
                    "SPEC_I_PT is not supported",
                    cdb=False,
                    byte=20,
                    bit=3,
                ),
                plen,
            )
        if plen != PR_OUT_PARAMETER_LIST_LENGTH or len(params) < plen:
            return _fail(
                CheckCondition(
                    SenseKey.ILLEGAL_REQUEST,
                    *PARAMETER_LIST_LENGTH_ERROR,
                    reason=f"parameter list length {plen} (received {len(params)}), expected 24",
                ),
                plen,
            )
        key = int.from_bytes(params[0:8], "big")
        sa_key = int.from_bytes(params[8:16], "big")
        registering = action in (
            PrOutAction.REGISTER,
            PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY,
        )
        if registering and flags & 0x04:  # ALL_TG_PT (ATP_C=0)
            return _fail(
                _illegal(
                    INVALID_FIELD_IN_PARAMETER_LIST,
                    "ALL_TG_PT is not supported",
                    cdb=False,
                    byte=20,
                    bit=2,
                ),
                plen,
            )
        aptpl = bool(flags & 0x01)
        if registering and aptpl and not self.ptpl_capable:
            return _fail(
                _illegal(
                    INVALID_FIELD_IN_PARAMETER_LIST,
                    "APTPL is not supported",
                    cdb=False,
                    byte=20,
                    bit=0,
                ),
                plen,
            )
        it = ITNexus.of(nexus)
        before_aptpl = self._s.aptpl
        if registering:
            result = self._register(it, action, key, sa_key, aptpl)
        else:
            registered = self._s.registrations.get(it)
            if registered is None:
                result = _conflict(f"{action.name}: I_T nexus is not registered")
            elif registered != key:
                result = _conflict(
                    f"{action.name}: RESERVATION KEY does not match the registration"
                )
            elif action is PrOutAction.RESERVE:
                assert pr_type is not None
                result = self._reserve(it, pr_type)
            elif action is PrOutAction.RELEASE:
                assert pr_type is not None
                result = self._release(it, pr_type)
            elif action is PrOutAction.CLEAR:
                result = self._clear(it)
            else:
                assert pr_type is not None
                result = self._preempt(it, pr_type, sa_key, action is PrOutAction.PREEMPT_AND_ABORT)
        persist = None
        changed = result.status is Status.GOOD and result.persist is not None
        if changed and (self._s.aptpl or before_aptpl):
            persist = self.serialize()
        return PrResult(
            result.status,
            b"",
            plen,
            result.error,
            result.conflict,
            result.unit_attentions,
            result.abort,
            persist,
        )

    # The helpers below return PrResult with persist=b"" to mean "state changed".
    _CHANGED = b""

    def _bump(self) -> None:
        self._s.generation = (self._s.generation + 1) & 0xFFFFFFFF

    def _register(
        self, it: ITNexus, action: PrOutAction, key: int, sa_key: int, aptpl: bool
    ) -> PrResult:
        regs = self._s.registrations
        current = regs.get(it)
        if current is None:
            if action is PrOutAction.REGISTER and key != 0:
                return _conflict(
                    "REGISTER from an unregistered I_T nexus with a nonzero RESERVATION KEY"
                )
            if sa_key == 0:
                return PrResult()  # nothing to do (SPC-5 5.14.7, table "Register behaviors")
            if len(regs) >= self.max_registrations:
                return _fail(
                    CheckCondition(
                        SenseKey.ILLEGAL_REQUEST,
                        *INSUFFICIENT_REGISTRATION_RESOURCES,
                        reason=f"more than {self.max_registrations} registrations",
                    )
                )
            regs[it] = sa_key
            self._s.aptpl = aptpl
            self._bump()
            return PrResult(persist=self._CHANGED)
        if action is PrOutAction.REGISTER and key != current:
            return _conflict("REGISTER: RESERVATION KEY does not match the registered key")
        self._s.aptpl = aptpl
        if sa_key != 0:
            regs[it] = sa_key
            self._bump()
            return PrResult(persist=self._CHANGED)
        uas = self._unregister(it)
        self._bump()
        return PrResult(unit_attentions=uas, persist=self._CHANGED)

    def _unregister(self, it: ITNexus) -> tuple[UnitAttention, ...]:
        """Remove one registration, releasing the reservation when it was the holder's."""
        res = self._s.reservation
        was_holder = res is not None and self.is_holder(it)
        del self._s.registrations[it]
        if res is None or not was_holder:
            return ()
        if res.type.all_registrants:
            if self._s.registrations:
                return ()  # the reservation stays while any registrant remains
            self._s.reservation = None
            return ()
        self._s.reservation = None
        if res.type.registrants_only:
            return self._ua(self._s.registrations, RESERVATIONS_RELEASED, exclude=it)
        return ()

    @staticmethod
    def _ua(
        nexuses: Iterable[ITNexus], asc_ascq: tuple[int, int], *, exclude: ITNexus | None
    ) -> tuple[UnitAttention, ...]:
        return tuple(
            UnitAttention(n.initiator, n.target, asc_ascq[0], asc_ascq[1])
            for n in nexuses
            if n != exclude
        )

    def _reserve(self, it: ITNexus, pr_type: PrType) -> PrResult:
        res = self._s.reservation
        if res is None:
            holder = None if pr_type.all_registrants else it
            self._s.reservation = Reservation(pr_type, holder)
            return PrResult(persist=self._CHANGED)
        if not self.is_holder(it):
            return _conflict("RESERVE: the reservation is held by another I_T nexus")
        if res.type != pr_type:
            return _conflict(f"RESERVE: holder asked for {pr_type.name}, holds {res.type.name}")
        return PrResult()

    def _release(self, it: ITNexus, pr_type: PrType) -> PrResult:
        res = self._s.reservation
        if res is None or not self.is_holder(it):
            return PrResult()  # SPC-5 5.14.11.2: GOOD, nothing changes
        if res.type != pr_type:
            return _fail(
                CheckCondition(
                    SenseKey.ILLEGAL_REQUEST,
                    *INVALID_RELEASE_OF_PERSISTENT_RESERVATION,
                    reason=f"RELEASE of {pr_type.name} while {res.type.name} is held",
                )
            )
        self._s.reservation = None
        uas: tuple[UnitAttention, ...] = ()
        if res.type.registrants_only or res.type.all_registrants:
            uas = self._ua(self._s.registrations, RESERVATIONS_RELEASED, exclude=it)
        return PrResult(unit_attentions=uas, persist=self._CHANGED)

    def _clear(self, it: ITNexus) -> PrResult:
        others = [n for n in self._s.registrations if n != it]
        self._s.registrations.clear()
        self._s.reservation = None
        self._bump()
        return PrResult(
            unit_attentions=self._ua(others, RESERVATIONS_PREEMPTED, exclude=it),
            persist=self._CHANGED,
        )

    def _preempt(self, it: ITNexus, pr_type: PrType, sa_key: int, abort: bool) -> PrResult:
        """PREEMPT / PREEMPT AND ABORT (SPC-5 5.14.11.4, 5.14.11.5)."""
        regs = self._s.registrations
        res = self._s.reservation
        if res is not None and res.type.all_registrants and sa_key == 0:
            # Preempt an all-registrants reservation: every other registration goes.
            removed = [n for n in regs if n != it]
            for n in removed:
                del regs[n]
            self._s.reservation = Reservation(pr_type, None if pr_type.all_registrants else it)
            self._bump()
            return self._preempted(removed, (), abort)
        if sa_key == 0:
            return _fail(
                _illegal(
                    INVALID_FIELD_IN_PARAMETER_LIST,
                    "SERVICE ACTION RESERVATION KEY is zero",
                    cdb=False,
                    byte=8,
                    bit=None,
                )
            )
        matching = [n for n, k in regs.items() if k == sa_key]
        if (
            res is not None
            and not res.type.all_registrants
            and res.holder is not None
            and regs.get(res.holder) == sa_key
        ):
            # Preempt the reservation: remove the holder's key, take the reservation.
            removed = [n for n in matching if n != it]
            for n in removed:
                del regs[n]
            self._s.reservation = Reservation(pr_type, None if pr_type.all_registrants else it)
            released: tuple[UnitAttention, ...] = ()
            if pr_type != res.type:
                released = self._ua(regs, RESERVATIONS_RELEASED, exclude=it)
            self._bump()
            return self._preempted(removed, released, abort)
        if not matching:
            return _conflict("PREEMPT: SERVICE ACTION RESERVATION KEY matches no registration")
        removed = [n for n in matching if n != it]
        for n in removed:
            del regs[n]
        if res is not None and res.type.all_registrants and not regs:
            self._s.reservation = None
        self._bump()
        return self._preempted(removed, (), abort)

    def _preempted(
        self, removed: list[ITNexus], extra: tuple[UnitAttention, ...], abort: bool
    ) -> PrResult:
        uas = self._ua(removed, REGISTRATIONS_PREEMPTED, exclude=None) + extra
        return PrResult(
            unit_attentions=uas,
            abort=tuple(removed) if abort else (),
            persist=self._CHANGED,
        )

    # -- adapter for sgguard.target.lu.LogicalUnit ----------------------------------------

    @_locked
    def execute(
        self,
        lu: LogicalUnitHooks,
        cdb: bytes,
        data_out: bytes | bytearray | memoryview,
        nexus: Nexus,
    ) -> Response:
        """Run PR IN/OUT, RESERVE or RELEASE for `lu` and apply the result's side effects.

        Queues each unit attention with `lu.unit_attention_for`, writes `persist`
        through `self.store`, hands `abort` to `self.on_abort`, and builds the
        sense data in the format `lu.descriptor_sense` asks for.
        """
        op = cdb[0]
        if op == OP_PERSISTENT_RESERVE_IN:
            result = self.persistent_reserve_in(cdb, nexus)
        elif op == OP_PERSISTENT_RESERVE_OUT:
            result = self.persistent_reserve_out(cdb, data_out, nexus)
        elif op in (OP_RESERVE_6, OP_RESERVE_10):
            result = self.reserve(cdb, nexus)
        elif op in (OP_RELEASE_6, OP_RELEASE_10):
            result = self.release(cdb, nexus)
        else:
            raise ValueError(f"opcode {op:#04x} is not a reservation command")
        if result.persist is not None and self.store is not None:
            self.store.store(result.persist)
        for ua in result.unit_attentions:
            lu.unit_attention_for(Nexus(ua.initiator, ua.target, nexus.lun), (ua.asc, ua.ascq))
        if result.abort and self.on_abort is not None:
            self.on_abort(result.abort)
        return result.response(lu.descriptor_sense)

    def conflicts(
        self, nexus: Nexus | ITNexus, row: CommandDef | None, cdb: bytes | None = None
    ) -> bool:
        """`check` as a bool for the LU's dispatch. Pass `cdb` so START STOP UNIT
        (START=1) and PREVENT ALLOW MEDIUM REMOVAL (PREVENT=0) can be let through."""
        if self._spc2 is None and self._s.reservation is None:
            return False
        if cdb is None:
            if row is None:
                return False
            cdb = _synthetic_cdb(row)
        return self.check(nexus, cdb, row) is not None

    def reset(self, nexus: Nexus | ITNexus) -> None:
        """LOGICAL UNIT RESET / target reset: SPC-2 reservations go, PR state stays."""
        self._spc2 = None

    # -- persistence -------------------------------------------------------------

    @_locked
    def serialize(self) -> bytes:
        """The persistent state as JSON bytes (registrations only kept when APTPL is set)."""
        s = self._s
        doc: dict[str, object] = {
            "format": PERSIST_FORMAT,
            "version": PERSIST_VERSION,
            "aptpl": s.aptpl,
        }
        if s.aptpl:
            res = s.reservation
            doc["generation"] = s.generation
            doc["registrations"] = [
                {"initiator": n.initiator, "target": n.target, "key": f"{k:#018x}"}
                for n, k in s.registrations.items()
            ]
            doc["reservation"] = (
                None
                if res is None
                else {
                    "type": res.type.name,
                    "holder": None
                    if res.holder is None
                    else {"initiator": res.holder.initiator, "target": res.holder.target},
                }
            )
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_persisted(
        cls,
        data: bytes,
        *,
        where: str,
        ptpl_capable: bool = True,
        max_registrations: int = 1024,
        relative_target_ports: Mapping[str, int] | None = None,
    ) -> Reservations:
        """Restore after a restart (power on) from `serialize()` output.

        Raises `InputError(where=...)` naming the file and the bad field.
        """
        self = cls(
            ptpl_capable=ptpl_capable,
            max_registrations=max_registrations,
            relative_target_ports=relative_target_ports,
        )
        self._s = _parse_state(data, where)
        return self


def _parse_state(data: bytes, where: str) -> _State:
    def bad(what: str) -> InputError:
        return InputError(f"corrupt persistent reservation state: {what}", where=where)

    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise bad("top level is not an object")
    if doc.get("format") != PERSIST_FORMAT:
        raise bad(f"format is {doc.get('format')!r}, expected {PERSIST_FORMAT!r}")
    if doc.get("version") != PERSIST_VERSION:
        raise bad(f"version {doc.get('version')!r} is not {PERSIST_VERSION}")
    aptpl = doc.get("aptpl")
    if not isinstance(aptpl, bool):
        raise bad("aptpl is not true/false")
    if not aptpl:
        return _State()  # the last APTPL bit was zero: nothing survives power loss
    generation = doc.get("generation")
    if (
        not isinstance(generation, int)
        or isinstance(generation, bool)
        or not 0 <= generation < 2**32
    ):
        raise bad("generation is not a 32-bit unsigned integer")

    def nexus_of(obj: object, what: str) -> ITNexus:
        if not isinstance(obj, dict):
            raise bad(f"{what} is not an object")
        ini, tgt = obj.get("initiator"), obj.get("target")
        if not isinstance(ini, str) or not isinstance(tgt, str) or not ini:
            raise bad(f"{what} needs string initiator and target")
        return ITNexus(ini, tgt)

    regs_doc = doc.get("registrations")
    if not isinstance(regs_doc, list):
        raise bad("registrations is not a list")
    regs: dict[ITNexus, int] = {}
    for i, entry in enumerate(regs_doc):
        n = nexus_of(entry, f"registrations[{i}]")
        assert isinstance(entry, dict)
        key_text = entry.get("key")
        try:
            key = int(key_text, 16) if isinstance(key_text, str) else -1
        except ValueError:
            key = -1
        if not 0 < key <= MASK64:
            raise bad(f"registrations[{i}].key {key_text!r} is not a nonzero 64-bit hex value")
        if n in regs:
            raise bad(f"registrations[{i}] repeats I_T nexus {n.initiator} -> {n.target}")
        regs[n] = key
    res_doc = doc.get("reservation")
    reservation: Reservation | None = None
    if res_doc is not None:
        if not isinstance(res_doc, dict):
            raise bad("reservation is not an object or null")
        type_name = res_doc.get("type")
        if not isinstance(type_name, str) or type_name not in PrType.__members__:
            raise bad(f"reservation.type {type_name!r} is not a persistent reservation type")
        pr_type = PrType[type_name]
        holder_doc = res_doc.get("holder")
        holder = None if holder_doc is None else nexus_of(holder_doc, "reservation.holder")
        if pr_type.all_registrants:
            if holder is not None:
                raise bad("reservation.holder must be null for all-registrants types")
            if not regs:
                raise bad("all-registrants reservation without registrations")
        elif holder is None or holder not in regs:
            raise bad("reservation.holder is not a registered I_T nexus")
        reservation = Reservation(pr_type, holder)
    return _State(regs, reservation, generation, True)
