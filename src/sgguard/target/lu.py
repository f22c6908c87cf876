"""The SCSI logical unit a confined slice presents: a sans-IO SBC-4 direct-access device.

Owns `LogicalUnit` (implements `sgguard.target.api.LogicalUnitProtocol`): command
dispatch keyed by the rows of the command table (`sgguard.scsi.table`), the
per-slice policy applied once per row when the unit is built (`sgguard.policy`),
every media command checked against the slice with exact integer arithmetic
(SBC-4 4.5: LBA 0 is the slice's first block, capacity is the slice's size),
identity (INQUIRY, VPD, READ CAPACITY), unit attentions per I_T nexus (SAM-5 5.14,
SPC-5 5.14), medium state (START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL),
REPORT SUPPORTED OPERATION CODES generated from the table, and the seams to the
mode pages (`self.modes`), reservations (`self.reservations`) and third-party
copy (`self.copy_manager`) modules.

Order of checks for each command (SAM-5 5.14 / SPC-5 5.14): a sanitize running
or failed (below), unit attention (both except INQUIRY, REPORT LUNS, REQUEST
SENSE), reservation conflict, NOT READY
(stopped or ejected medium), SWP write protect, reserved CDB bits (masks derived
from the table's CDB layouts in `sgguard.scsi.cdb`), then the handler's own
field and range checks; nothing is read or written before all of them pass.
`execute_nowait` runs the same path for a transport's event loop: READ commands
read with the backend's `try_read_nowait` (RWF_NOWAIT) as their one read, and a
read that would sleep unwinds to None before anything is answered.

SANITIZE (SBC-4, 48h) is emulated per slice, like FORMAT UNIT: OVERWRITE writes
the initiator's pattern over every block of the slice (OVERWRITE COUNT passes,
INVERT between passes, each pass flushed), BLOCK ERASE deallocates every block
of the slice (backend punch; the blocks read back as zeros, WABEREQ=01b),
EXIT FAILURE MODE leaves sanitize failure mode; CRYPTOGRAPHIC ERASE is not
supported (no per-slice key: ILLEGAL REQUEST, INVALID FIELD IN CDB, the answer
for an unsupported service action of a supported operation code). No block
outside the slice is touched. Without IMMED the operation runs to completion
before status; with IMMED=1 status comes as soon as the CDB and parameter list
are valid and the operation runs in the background (the `background` runner).
While it runs, commands other than INQUIRY, REPORT LUNS and REQUEST SENSE are
NOT READY, SANITIZE IN PROGRESS (ahead of pending unit attentions, which stay
pending), and REQUEST SENSE reports that with its progress indication. A sanitize that
fails (a backend I/O error) leaves the slice in sanitize failure mode: media
commands are MEDIUM ERROR, SANITIZE COMMAND FAILED until a later sanitize
succeeds or, when the failed one had AUSE=1, EXIT FAILURE MODE.

The unit never prints, sleeps on clocks or opens files: its backend does the
I/O, refusals go to a `log` callback as `sgguard.policy.Refusal` records.

REPORT LUNS: the unit answers it with the LUN list the transport gives through
the `report_luns` callback (default: only the addressed LUN). A transport
answers commands addressed to a LUN that has no unit with
`no_unit_response` (INQUIRY with peripheral qualifier 011b, REPORT LUNS,
REQUEST SENSE, else LOGICAL UNIT NOT SUPPORTED), SPC-5 4.6.

Data lengths follow `sgguard.target.api`. WRITE, WRITE AND VERIFY and ORWRITE
write what they received: data-out longer than the transfer length is cut to it
(the device server transfers no more than the command asks for, SAM-5),
data-out shorter than it (the initiator's expected data transfer length fell
short: an iSCSI residual overflow, RFC 7143 11.4.5.1) writes the whole blocks
received and nothing beyond them, GOOD; a part of a block cannot be written and
is refused with ILLEGAL REQUEST, INVALID FIELD IN COMMAND INFORMATION UNIT,
nothing written. The transport reports the residual from `expected_data_out`.
Commands that take no data-out (READ, VERIFY with BYTCHK=0, ...) ignore any
offered (libiscsi Read10Invalid: a READ flagged as a write is GOOD). Commands
whose data-out only makes sense whole (VERIFY with BYTCHK, WRITE SAME)
refuse any other length the same way; COMPARE AND WRITE refuses it with INVALID
FIELD IN CDB (NUMBER OF LOGICAL BLOCKS), and `data_out_refusal` lets a transport
refuse it before collecting data-out, from the initiator's expected data transfer
length (the unit only sees the data-out the transport passes). Parameter lists shorter
than their CDB's parameter list length are used as received (underflow), longer
ones are truncated.
"""

from __future__ import annotations

import dataclasses
import struct
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sgguard.policy import Decision, Policy, Refusal, Verdict
from sgguard.scsi import cdb as codec
from sgguard.scsi import table
from sgguard.scsi.model import CommandDef, DeviceType
from sgguard.scsi.sense import Asc, FieldPointer, SenseKey, build_descriptor, build_fixed
from sgguard.target.api import Nexus, Response, Status, TaskManagement
from sgguard.target.backend import Backend, BackendError, BackendIOError, ReadOnlyError
from sgguard.target.copymanager import CopyManager
from sgguard.target.identity import (
    SUPPORTED_VPD_PAGES,
    Identity,
    Limits,
    block_device_characteristics_vpd,
    block_limits_vpd,
    device_identification_vpd,
    extended_inquiry_vpd,
    logical_block_provisioning_vpd,
    standard_inquiry,
    supported_vpd_pages,
    unit_serial_number_vpd,
)
from sgguard.target.modepages import ModePages
from sgguard.target.reservations import Reservations

__all__ = [
    "CheckCondition",
    "LogicalUnit",
    "MediumState",
    "build_sense",
    "encode_report_luns",
    "no_unit_response",
]

GOOD: Final = Status.GOOD
CHECK_CONDITION: Final = Status.CHECK_CONDITION

# Sense keys and ASC/ASCQ pairs: the names of sgguard.scsi.sense (SPC-5 4.5.6, annex D).
NO_SENSE = int(SenseKey.NO_SENSE)
NOT_READY = int(SenseKey.NOT_READY)
MEDIUM_ERROR = int(SenseKey.MEDIUM_ERROR)
ILLEGAL_REQUEST = int(SenseKey.ILLEGAL_REQUEST)
UNIT_ATTENTION = int(SenseKey.UNIT_ATTENTION)
DATA_PROTECT = int(SenseKey.DATA_PROTECT)
COPY_ABORTED = int(SenseKey.COPY_ABORTED)
MISCOMPARE = int(SenseKey.MISCOMPARE)
HARDWARE_ERROR = int(SenseKey.HARDWARE_ERROR)

ASC_INVALID_FIELD_IN_CDB = Asc.INVALID_FIELD_IN_CDB.value
ASC_INVALID_FIELD_IN_PARAMETER_LIST = Asc.INVALID_FIELD_IN_PARAMETER_LIST.value
ASC_PARAMETER_LIST_LENGTH_ERROR = Asc.PARAMETER_LIST_LENGTH_ERROR.value
ASC_INVALID_COMMAND_OPERATION_CODE = Asc.INVALID_COMMAND_OPERATION_CODE.value
ASC_LBA_OUT_OF_RANGE = Asc.LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE.value
ASC_INVALID_FIELD_IN_COMMAND_IU = Asc.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT.value
ASC_MISCOMPARE_DURING_VERIFY = Asc.MISCOMPARE_DURING_VERIFY_OPERATION.value
ASC_LU_NOT_READY_INIT_REQUIRED = Asc.LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED.value
ASC_MEDIUM_NOT_PRESENT = Asc.MEDIUM_NOT_PRESENT.value
ASC_MEDIUM_REMOVAL_PREVENTED = Asc.MEDIUM_REMOVAL_PREVENTED.value
ASC_WRITE_PROTECTED = Asc.WRITE_PROTECTED.value
ASC_SPACE_ALLOCATION_FAILED = Asc.SPACE_ALLOCATION_FAILED_WRITE_PROTECT.value
ASC_UNRECOVERED_READ_ERROR = Asc.UNRECOVERED_READ_ERROR.value
ASC_WRITE_ERROR = Asc.WRITE_ERROR.value
ASC_LOGICAL_UNIT_NOT_SUPPORTED = Asc.LOGICAL_UNIT_NOT_SUPPORTED.value
ASC_POWER_ON_RESET = Asc.POWER_ON_RESET_OR_BUS_DEVICE_RESET_OCCURRED.value
ASC_BUS_DEVICE_RESET = Asc.BUS_DEVICE_RESET_FUNCTION_OCCURRED.value
ASC_I_T_NEXUS_LOSS = Asc.I_T_NEXUS_LOSS_OCCURRED.value
ASC_TARGET_RESET = Asc.SCSI_BUS_RESET_OCCURRED.value
ASC_POWER_ON_OCCURRED = Asc.POWER_ON_OCCURRED.value
ASC_MODE_PARAMETERS_CHANGED = Asc.MODE_PARAMETERS_CHANGED.value
ASC_RESERVATIONS_PREEMPTED = Asc.RESERVATIONS_PREEMPTED.value
ASC_RESERVATIONS_RELEASED = Asc.RESERVATIONS_RELEASED.value
ASC_REGISTRATIONS_PREEMPTED = Asc.REGISTRATIONS_PREEMPTED.value
ASC_CAPACITY_DATA_HAS_CHANGED = Asc.CAPACITY_DATA_HAS_CHANGED.value
ASC_MEDIUM_MAY_HAVE_CHANGED = Asc.NOT_READY_TO_READY_CHANGE_MEDIUM_MAY_HAVE_CHANGED.value
ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR = Asc.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR.value
ASC_INTERNAL_TARGET_FAILURE = Asc.INTERNAL_TARGET_FAILURE.value
ASC_SANITIZE_IN_PROGRESS = Asc.LOGICAL_UNIT_NOT_READY_SANITIZE_IN_PROGRESS.value
ASC_SANITIZE_COMMAND_FAILED = Asc.SANITIZE_COMMAND_FAILED.value


def build_sense(
    key: int,
    asc: int,
    ascq: int,
    *,
    information: int | None = None,
    field: tuple[int, int | None, bool] | None = None,
    descriptor: bool = False,
    deferred: bool = False,
) -> bytes:
    """Sense data, fixed (SPC-5 4.4.3) or descriptor format (SPC-5 4.4.2), by sgguard.scsi.sense.

    `information` fills the INFORMATION field (the fixed format only carries it
    when it fits 32 bits; otherwise VALID=0); `field` = (byte, bit or None, in
    CDB?) is the sense-key specific field pointer (SKSV=1) for ILLEGAL REQUEST.
    """
    fp = None if field is None else FieldPointer(field[2], field[0], field[1])
    if descriptor:
        return build_descriptor(
            key, asc, ascq, information=information, field_pointer=fp, deferred=deferred
        )
    if information is not None and not 0 <= information <= 0xFFFFFFFF:
        information = None
    return build_fixed(key, asc, ascq, information=information, field_pointer=fp, deferred=deferred)


class CheckCondition(Exception):
    """Raised inside a command handler; `LogicalUnit.execute` turns it into CHECK CONDITION."""

    __slots__ = ("asc", "ascq", "field", "information", "key")

    def __init__(
        self,
        key: int,
        asc_ascq: tuple[int, int],
        *,
        information: int | None = None,
        field: tuple[int, int | None, bool] | None = None,
    ) -> None:
        super().__init__(key, asc_ascq)
        self.key = key
        self.asc, self.ascq = asc_ascq
        self.information = information
        self.field = field


def _invalid_cdb(byte: int, bit: int | None = None) -> CheckCondition:
    return CheckCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, field=(byte, bit, True))


def _invalid_param(byte: int, bit: int | None = None) -> CheckCondition:
    return CheckCondition(
        ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAMETER_LIST, field=(byte, bit, False)
    )


def _lba_out_of_range(lba: int) -> CheckCondition:
    return CheckCondition(ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, information=lba)


_IU_MISMATCH = CheckCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_COMMAND_IU)

# Big-endian field readers, precompiled.
_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_CDB10 = struct.Struct(">xBIxH").unpack_from  # flags, lba, length (READ/WRITE/VERIFY (10))
_CDB12 = struct.Struct(">xBII").unpack_from  # flags, lba, length
_CDB16 = struct.Struct(">xBQI").unpack_from  # flags, lba, length
_CDB32 = struct.Struct(">10xBxQ8xI").unpack_from  # flags (byte 10), lba (12), length (28)

_SANITIZE: Final = 0x48  # SANITIZE (SBC-4)
_INVERT: Final = bytes(255 - i for i in range(256))  # bytes.translate table: every bit flipped
_SANITIZE_STEP: Final = 1 << 16  # blocks per backend call of a sanitize (progress granularity)

_CDB_LENGTH = {0: 6, 1: 10, 2: 10, 4: 16, 5: 12}  # SPC-5 4.2.5.1 group code -> CDB length


class MediumState:
    """Medium states of an emulated slice (SBC-4 4.19, START STOP UNIT)."""

    READY = "ready"
    STOPPED = "stopped"  # START=0: NOT READY, INITIALIZING COMMAND REQUIRED
    EJECTED = "ejected"  # START=0 LOEJ=1: NOT READY, MEDIUM NOT PRESENT


# Handler flags.
_NO_UA: Final = 0x01  # INQUIRY, REPORT LUNS, REQUEST SENSE: never report nor clear a UA
_MEDIUM: Final = 0x02  # needs the medium (NOT READY while stopped or ejected)
_WRITES: Final = 0x04  # writes media (backend errors are write errors)
_NOWAIT: Final = 0x08  # a READ: takes the read function, so `execute_nowait` can run it


class _WouldBlock(Exception):
    """The non-blocking read of `execute_nowait` would sleep: nothing was done."""

    __slots__ = ()


_Handler = Callable[[bytes, Any, Nexus], Response]
_ReadFn = Callable[[int, int], "bytes | bytearray | memoryview"]


@dataclass(frozen=True, slots=True)
class _Impl:
    method: str
    flags: int


# (opcode, service action) -> implementation; filled by the @_implements decorator.
_IMPLEMENTED: dict[tuple[int, int | None], _Impl] = {}

# Opcodes whose service action field selects the command, and where it lives.
_SA_OPCODES = frozenset(
    op for op, dts in table.SERVICE_ACTION_OPCODES.items() if DeviceType.SBC in dts
)
_VARIABLE_LENGTH = 0x7F
_SA_IN_BYTE1 = _SA_OPCODES - {_VARIABLE_LENGTH}


def _implements(
    opcode: int, service_action: int | None = None, flags: int = 0
) -> Callable[[Any], Any]:
    def register(fn: Any) -> Any:
        _IMPLEMENTED[(opcode, service_action)] = _Impl(fn.__name__, flags)
        return fn

    return register


class _Entry:
    """One dispatch entry: the bound handler and its flags, with the table row.

    For an opcode with service actions, `sa` maps each service action to its entry.
    """

    __slots__ = ("flags", "fn", "length", "reserved", "row", "sa")

    def __init__(
        self,
        fn: _Handler,
        flags: int,
        row: CommandDef | None,
        sa: dict[int, _Entry] | None = None,
        reserved: int = 0,
    ) -> None:
        self.fn = fn
        self.flags = flags
        self.row = row
        self.sa = sa
        self.reserved = reserved  # reserved/obsolete bits of the row's CDB layout, as one integer
        self.length = row.cdb_length if row is not None else 0


class _NexusState:
    """What the unit remembers per I_T nexus: pending unit attentions, PREVENT."""

    __slots__ = ("prevent", "ua")

    def __init__(self) -> None:
        self.ua: deque[tuple[int, int]] = deque((ASC_POWER_ON_RESET,))
        self.prevent = False


def service_action_of(cdb: bytes) -> int | None:
    """The service action of a CDB whose opcode has service actions, else None."""
    op = cdb[0]
    if op in _SA_IN_BYTE1:
        return cdb[1] & 0x1F if len(cdb) > 1 else None
    if op == _VARIABLE_LENGTH:
        return _U16(cdb, 8)[0] if len(cdb) >= 10 else None
    return None


def encode_report_luns(luns: Sequence[int], select_report: int = 0) -> bytes:
    """SPC-5 6.33 REPORT LUNS parameter data (SAM-5 4.7: peripheral or flat addressing)."""
    body = bytearray()
    if select_report in (0x00, 0x02, 0x11):
        for lun in sorted(set(luns)):
            if lun < 256:
                body += bytes((0, lun, 0, 0, 0, 0, 0, 0))
            elif lun < 16384:
                body += bytes((0x40 | (lun >> 8), lun & 0xFF, 0, 0, 0, 0, 0, 0))
            else:
                raise ValueError(f"LUN {lun} needs an extended address (not supported)")
    return struct.pack(">I4x", len(body)) + bytes(body)


def no_unit_response(cdb: bytes, luns: Sequence[int]) -> Response:
    """The answer to a command addressed to a LUN that has no logical unit (SPC-5 4.6.2).

    INQUIRY: peripheral qualifier 011b, device type 1Fh; REPORT LUNS: `luns`;
    REQUEST SENSE: LOGICAL UNIT NOT SUPPORTED as parameter data; anything else:
    CHECK CONDITION, ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED.
    """
    op = cdb[0] if cdb else -1
    if op == 0x12 and len(cdb) >= 6:
        alloc = _U16(cdb, 3)[0]
        data = bytes((0x7F, 0, 0x07, 0x02, 31)) + bytes(31)
        return Response(GOOD, data[:alloc], b"", len(data))
    if op == 0xA0 and len(cdb) >= 12:
        alloc = _U32(cdb, 6)[0]
        data = encode_report_luns(luns, cdb[2])
        return Response(GOOD, data[:alloc], b"", len(data))
    if op == 0x03 and len(cdb) >= 6:
        data = build_sense(
            ILLEGAL_REQUEST, *ASC_LOGICAL_UNIT_NOT_SUPPORTED, descriptor=bool(cdb[1] & 1)
        )
        return Response(GOOD, data[: cdb[4]], b"", len(data))
    sense = build_sense(ILLEGAL_REQUEST, *ASC_LOGICAL_UNIT_NOT_SUPPORTED)
    return Response(CHECK_CONDITION, b"", sense, 0)


_EMPTY_GOOD = Response(GOOD, b"", b"", 0)
_CONDITION_MET = Response(Status.CONDITION_MET, b"", b"", 0)
_RESERVATION_CONFLICT = Response(Status.RESERVATION_CONFLICT, b"", b"", 0)


def _reserved_mask(row: CommandDef) -> int:
    """The reserved and obsolete bits of the row's SBC CDB layout (sgguard.scsi.cdb), as an int.

    A command with any of them set is refused with INVALID FIELD IN CDB (SPC-5
    4.2.1: reserved bits shall be zero); 0 when the row has no layout.
    """
    variant = row.variant(DeviceType.SBC)
    if variant is None or variant.layout is None:
        return 0
    try:
        layout = codec.layout_class(variant.layout).LAYOUT
    except (KeyError, LookupError, AttributeError):
        return 0
    if layout.length != row.cdb_length:
        return 0
    mask = 0
    for info in layout.fields:
        if info.kind == "reserved":
            for offset in range(info.start, info.start + info.bits):
                mask |= 1 << (8 * layout.length - 1 - offset)
    return mask


# 32-byte media commands (SBC-4 5.13, 5.18, 5.39, 5.44, 5.49, 5.53): READ, VERIFY, WRITE,
# WRITE AND VERIFY and WRITE SAME (32) exist for type 2 protection information; a
# logical unit not formatted with type 2 protection terminates them with ILLEGAL
# REQUEST, INVALID COMMAND OPERATION CODE, and so does this unit (a slice has no
# protection information), which therefore neither runs nor reports them (REPORT
# SUPPORTED OPERATION CODES). ORWRITE (32) likewise: its BMOP and ORWgeneration
# processing beyond a plain OR is not emulated. A policy that names them in its allow
# list (`allow = ["0x7f"]` or `["0x7f/0x9"]`, e.g. for a pass-through slice of a
# disk formatted with type 2 protection) enables them, with every confinement check.
_OPT_IN_32: Final = {
    0x0009: "READ (32) needs type 2 protection information (SBC-4 5.18); the slice has none",
    0x000A: "VERIFY (32) needs type 2 protection information (SBC-4 5.39); the slice has none",
    0x000B: "WRITE (32) needs type 2 protection information (SBC-4 5.44); the slice has none",
    0x000C: "WRITE AND VERIFY (32) needs type 2 protection information (SBC-4 5.49); "
    "the slice has none",
    0x000D: "WRITE SAME (32) needs type 2 protection information (SBC-4 5.53); the slice has none",
    0x000E: "ORWRITE (32) BMOP/ORWgeneration processing is not emulated (SBC-4 5.13)",
}


def _opted_in(policy: Policy, opcode: int, service_action: int | None) -> bool:
    allow = policy.allow_opcodes
    return opcode in allow or (opcode, service_action) in allow


# Dispatch plans by (policy, has a copy manager): units with the same policy share one.
_PLANS: dict[tuple[Policy, bool], list[tuple[CommandDef, _Impl | None, Decision]]] = {}


class LogicalUnit:
    """An SBC-4 direct-access logical unit over an (already sliced) backend.

    `backend`: LBA 0 is the slice's first block. `identity`: INQUIRY/VPD facts.
    `policy`: which commands run (`sgguard.policy.Policy`); `read_only` (or a
    read-only backend) forces `policy.read_only`. `log` receives a
    `sgguard.policy.Refusal` for every refused command; the last refusals are
    also kept in `refusals`. `report_luns(nexus)` lists the LUNs the nexus sees.
    `reservations` (default: a fresh `sgguard.target.reservations.Reservations`;
    pass one built with its APTPL `store` and `on_abort` to persist and abort)
    carries RESERVE/RELEASE and PERSISTENT RESERVE IN/OUT; `modes` (default: a
    fresh `sgguard.target.modepages.ModePages`) carries MODE SENSE/SELECT, and the
    unit obeys SWP (write protect), WCE=0 (every write durable) and D_SENSE.
    `copy_manager`: EXTENDED COPY / RECEIVE COPY RESULTS (None: not emulated,
    the policy refuses them; 3PC=0 in INQUIRY). `background(fn)` runs a SANITIZE
    sent with IMMED=1 after its status (default: a daemon thread); `flush` waits
    for it.
    """

    def __init__(
        self,
        backend: Backend,
        identity: Identity,
        policy: Policy | None = None,
        *,
        read_only: bool = False,
        limits: Limits | None = None,
        log: Callable[[Refusal], None] | None = None,
        report_luns: Callable[[Nexus], Sequence[int]] | None = None,
        modes: ModePages | None = None,
        reservations: Reservations | None = None,
        copy_manager: CopyManager | None = None,
        background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        if backend.num_blocks < 1:
            raise ValueError("a logical unit needs at least one block")
        policy = policy or Policy()
        read_only = read_only or policy.read_only or backend.read_only
        if read_only and not policy.read_only:
            policy = dataclasses.replace(policy, read_only=True)
        self.backend = backend
        self.identity = identity
        self.policy = policy
        self.read_only = read_only
        self.limits = limits or Limits.for_block_size(backend.block_size)
        self.log = log
        self.refusals: deque[Refusal] = deque(maxlen=256)
        self.internal_errors = 0  # commands that hit a bug (HARDWARE ERROR returned, logged)
        self.report_luns = report_luns
        self.modes = modes if modes is not None else ModePages()
        self.reservations = reservations if reservations is not None else Reservations()
        self._pr_check = self.reservations.check
        self._pr_lock = threading.Lock()  # serializes the reservation and mode page state
        self.copy_manager = copy_manager
        self._bs = backend.block_size
        self._nb = backend.num_blocks
        self._max_xfer = self.limits.max_transfer
        self._blocking = bool(getattr(backend, "blocking", True))
        self._wlock = threading.Lock()  # serializes media writes: COMPARE AND WRITE atomicity
        self._state_lock = threading.Lock()
        self._nexus: dict[tuple[str, str], _NexusState] = {}
        # the last nexus seen and its state, as one tuple so threads read a consistent pair
        self._last: tuple[Nexus | None, _NexusState] = (None, _NexusState())
        self.medium = MediumState.READY
        self._not_ready = False
        self._descriptor_sense = False
        self._swp = False
        self._force_fua = False
        # SANITIZE: (blocks done, blocks to do) while one runs; failure mode after one failed
        self._sanitize_progress: tuple[int, int] | None = None
        self._sanitize_failed: bool | None = None  # None: not in failure mode; else its AUSE
        self._sanitize_gate = False  # either of the two: checked once per command
        self._sanitize_idle = threading.Event()
        self._sanitize_idle.set()
        self._background = background if background is not None else _start_thread
        self._obey_modes()
        self._vpd_cache: dict[tuple[int, str], bytes] = {}
        self._std_inquiry = standard_inquiry(identity, third_party_copy=copy_manager is not None)
        self._build_dispatch()

    # -- dispatch table --------------------------------------------------------------
    def _delegate_present(self, opcode: int) -> bool:
        if opcode in (0x83, 0x84):
            return self.copy_manager is not None
        return True

    def _dispatch_plan(self) -> list[tuple[CommandDef, _Impl | None, Decision]]:
        """(row, implementation if allowed, decision) per SBC table row; shared by equal units."""
        key = (self.policy, self.copy_manager is not None)
        plan = _PLANS.get(key)
        if plan is None:
            plan = []
            for row in table.COMMANDS:
                op, sa = row.opcode, row.service_action
                if (sa is not None) != (op in _SA_OPCODES):
                    continue  # another device type's reading of the opcode (MMC SEND KEY, ...)
                impl = _IMPLEMENTED.get((op, sa))
                emulated = impl is not None and self._delegate_present(op)
                if (
                    op == _VARIABLE_LENGTH
                    and sa in _OPT_IN_32
                    and not _opted_in(self.policy, op, sa)
                ):
                    why = _OPT_IN_32[sa]
                    plan.append((row, None, Decision(Verdict.DENY, why, 0x05, 0x20, 0x00)))
                    continue
                decision = self.policy.decide(row, emulated=emulated)
                plan.append((row, impl if decision.allowed else None, decision))
            if len(_PLANS) > 256:
                _PLANS.clear()
            _PLANS[key] = plan
        return plan

    def _build_dispatch(self) -> None:
        """One entry per table row: the handler if implemented and allowed, else a refusal."""
        unknown = self._refuser(
            None, "unknown opcode", ILLEGAL_REQUEST, *ASC_INVALID_COMMAND_OPERATION_CODE
        )
        self._ops: list[_Entry] = [
            _Entry(unknown, 0, None, {} if op in _SA_OPCODES else None) for op in range(256)
        ]
        self._implemented: dict[tuple[int, int | None], CommandDef] = {}
        plan = self._dispatch_plan()
        # opcodes with at least one service action carried out (SPC-5 4.2.5.1: another
        # service action of such an opcode is INVALID FIELD IN CDB, not an unknown opcode)
        served = {row.opcode for row, impl, _ in plan if impl is not None}
        for row, impl, decision in plan:
            op, sa = row.opcode, row.service_action
            if (
                impl is None
                and sa is not None
                and op in served
                and (op, sa) not in _IMPLEMENTED
                and decision.asc == 0x20
            ):
                decision = dataclasses.replace(
                    decision, rule=f"unsupported service action: {decision.rule}", asc=0x24
                )
            if impl is not None:
                entry = _Entry(
                    getattr(self, impl.method), impl.flags, row, None, _reserved_mask(row)
                )
                self._implemented[(op, sa)] = row
            else:
                refuse = self._refuser(
                    row, decision.rule, decision.sense_key, decision.asc, decision.ascq
                )
                entry = _Entry(refuse, 0, row)
            sub = self._ops[op].sa
            if sub is None:
                self._ops[op] = entry
            else:
                sub[sa] = entry  # type: ignore[index]

    def _refuser(
        self, row: CommandDef | None, rule: str, key: int, asc: int, ascq: int
    ) -> _Handler:
        field = None
        if (key, asc, ascq) == (ILLEGAL_REQUEST, *ASC_INVALID_FIELD_IN_CDB) and row is not None:
            field = (8, None, True) if row.opcode == _VARIABLE_LENGTH else (1, 4, True)

        def refuse(cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
            self._record_refusal(nexus, cdb, row, rule, key, asc, ascq)
            if field is not None:
                return self._check_response(CheckCondition(key, (asc, ascq), field=field))
            return Response(CHECK_CONDITION, b"", self._sense(key, asc, ascq), 0)

        return refuse

    def _record_refusal(
        self,
        nexus: Nexus,
        cdb: bytes,
        row: CommandDef | None,
        rule: str,
        key: int,
        asc: int,
        ascq: int,
    ) -> None:
        op = cdb[0] if cdb else -1
        name = row.name if row is not None else f"opcode {op:#04x}"
        rec = Refusal(
            initiator=nexus.initiator,
            target=nexus.target,
            lun=nexus.lun,
            unit=self.identity.name,
            command=name,
            opcode=op,
            service_action=service_action_of(cdb) if cdb else None,
            rule=rule,
            sense_key=key,
            asc=asc,
            ascq=ascq,
        )
        self.refusals.append(rec)
        if self.log is not None:
            self.log(rec)

    def refuse(
        self,
        nexus: Nexus,
        cdb: bytes,
        rule: str,
        key: int,
        asc: tuple[int, int],
        *,
        field: tuple[int, int | None, bool] | None = None,
    ) -> Response:
        """Refuse a command with CHECK CONDITION and log why (for delegates like the copy manager)."""
        entry = self._entry(cdb) if cdb else None
        self._record_refusal(nexus, cdb, entry.row if entry else None, rule, key, *asc)
        return self._check_response(CheckCondition(key, asc, field=field))

    def copy_refusal(self, nexus: Nexus, *, write: bool) -> str | None:
        """Why a third-party copy may not read (or write) this unit for `nexus`; None: it may.

        The same gates as a READ (16) / WRITE (16) from that nexus: policy,
        read-only and SWP, medium state, a sanitize running or failed, reservations.
        """
        probe = bytes((0x8A if write else 0x88,)) + bytes(15)
        if write and (self.read_only or self._swp):
            return "write protected"
        if (probe[0], None) not in self._implemented:
            return f"the policy of {self.identity.name} refuses {'writes' if write else 'reads'}"
        if self._not_ready:
            return f"{self.identity.name} is not ready ({self.medium})"
        if self._sanitize_progress is not None:
            return f"{self.identity.name} is being sanitized"
        if self._sanitize_failed is not None:
            return f"{self.identity.name} is in sanitize failure mode"
        entry = self._ops[probe[0]]
        conflict = self._pr_check(nexus, probe, entry.row)
        if conflict is not None:
            return f"reservation conflict on {self.identity.name}: {conflict.reason}"
        return None

    def write_blocks(self, lba: int, data: bytes) -> None:
        """Write whole blocks under the unit's write lock (copy manager destination side)."""
        if lba + len(data) // self._bs > self._nb:
            raise ValueError("write_blocks beyond the slice")  # the copy manager checked already
        with self._wlock:
            self.backend.write(lba, data, fua=self._force_fua)

    @property
    def implemented(self) -> dict[tuple[int, int | None], CommandDef]:
        """The table rows this unit carries out (after policy), by (opcode, service action)."""
        return dict(self._implemented)

    def _entry(self, cdb: bytes) -> _Entry | None:
        entry = self._ops[cdb[0]]
        if entry.sa is not None:
            sa = service_action_of(cdb)
            return entry.sa.get(sa) if sa is not None else None
        return entry

    # -- the protocol ------------------------------------------------------------------
    def execute(self, cdb: bytes, data_out: bytes | memoryview, nexus: Nexus) -> Response:
        """Carry out one command for `nexus` (SAM-5 5.1: execute command)."""
        return self._execute(cdb, data_out, nexus, None)

    def execute_nowait(
        self, cdb: bytes, data_out: bytes | memoryview, nexus: Nexus
    ) -> Response | None:
        """`execute` if it can complete without sleeping on I/O, else None (nothing done).

        For a transport with an event loop: None means run `execute` where blocking
        is harmless (a worker thread). On a backend that never blocks (memory) every
        command runs. Otherwise only the READ commands do, through the same checks
        as `execute` in the same order, with the backend's `try_read_nowait`
        (RWF_NOWAIT) as THE read: blocks in the page cache are read once, blocks
        that are not make it None. Every check that answers before the read has no
        effect the retry would not repeat identically, so None is always safe to
        retry with `execute`. Everything else (writes, cache flushes) is None: the
        transport decides about those (its inline-write policy).
        """
        if not self._blocking:
            return self._execute(cdb, data_out, nexus, None)
        if not cdb:
            return None
        entry = self._ops[cdb[0]]
        if entry.sa is not None:
            sa = service_action_of(cdb)
            found = entry.sa.get(sa) if sa is not None else None
            if found is None:
                return None
            entry = found
        if not entry.flags & _NOWAIT:
            return None
        try:
            return self._execute(cdb, data_out, nexus, self._read_nowait)
        except _WouldBlock:
            return None

    def _read_nowait(self, lba: int, blocks: int) -> bytes:
        data = self.backend.try_read_nowait(lba, blocks)
        if data is None:
            raise _WouldBlock
        return data

    def _execute(
        self, cdb: bytes, data_out: bytes | memoryview, nexus: Nexus, read: _ReadFn | None
    ) -> Response:
        """`execute`; `read` (READ commands only, else None): the read function to use."""
        last = self._last
        if last[0] is nexus:
            st = last[1]
        else:
            st = self._nexus_state(nexus)
        if not cdb:
            return self._check_response(
                CheckCondition(ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE)
            )
        entry = self._ops[cdb[0]]
        sub = entry.sa
        if sub is not None:
            sa = service_action_of(cdb)
            found = sub.get(sa) if sa is not None else None
            if found is None:
                return self._unsupported_service_action(cdb, nexus, st)
            entry = found
        flags = entry.flags
        if self._sanitize_gate and not flags & _NO_UA:
            # before unit attentions: they stay pending while a sanitize runs
            refused = self._sanitize_refusal(cdb, flags)
            if refused is not None:
                return refused
        if st.ua and not flags & _NO_UA:
            return self._report_ua(st)
        conflict = self._pr_check(nexus, cdb, entry.row)
        if conflict is not None:
            why = f"reservation conflict: {conflict.reason}"
            self._record_refusal(nexus, cdb, entry.row, why, 0, 0, 0)
            return _RESERVATION_CONFLICT
        if self._not_ready and flags & _MEDIUM:
            return self._not_ready_response()
        if self._swp and flags & _WRITES:
            return self._check_response(CheckCondition(DATA_PROTECT, ASC_WRITE_PROTECTED))
        reserved = entry.reserved
        if reserved and len(cdb) >= entry.length:
            length = entry.length
            if int.from_bytes(cdb[:length], "big") & reserved:
                return self._reserved_bits_set(cdb, reserved, length)
        try:
            if read is not None:
                return entry.fn(cdb, data_out, nexus, read)  # type: ignore[call-arg]
            return entry.fn(cdb, data_out, nexus)
        except _WouldBlock:
            raise
        except CheckCondition as cc:
            if (cc.asc, cc.ascq) == ASC_LBA_OUT_OF_RANGE:
                # a command that reached past the slice: the refusal an operator
                # most needs to see, so it is logged like a policy refusal
                where = f"LBA {cc.information} " if cc.information is not None else ""
                self._record_refusal(
                    nexus,
                    cdb,
                    entry.row,
                    f"outside the slice: {where}beyond its {self._nb} blocks",
                    cc.key,
                    cc.asc,
                    cc.ascq,
                )
            return self._check_response(cc)
        except (IndexError, struct.error) as exc:
            if len(cdb) < entry.length:  # the CDB is shorter than its layout (SPC-5 4.2.5.1)
                return self._check_response(_invalid_cdb(0))
            return self._internal_error(
                nexus, cdb, entry.row, exc, HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE
            )
        except ReadOnlyError:
            return self._check_response(CheckCondition(DATA_PROTECT, ASC_WRITE_PROTECTED))
        except BackendIOError as exc:
            import errno

            if exc.errno == errno.ENOSPC:
                asc = ASC_SPACE_ALLOCATION_FAILED
                key = DATA_PROTECT
            else:
                key = MEDIUM_ERROR
                asc = ASC_WRITE_ERROR if flags & _WRITES else ASC_UNRECOVERED_READ_ERROR
            return self._check_response(CheckCondition(key, asc))
        except BackendError as exc:
            # the backend refused an access our checks let through: a bug, logged
            return self._internal_error(
                nexus, cdb, entry.row, exc, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE
            )
        except Exception as exc:  # a bug must not take the session down: report and log it
            return self._internal_error(
                nexus, cdb, entry.row, exc, HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE
            )

    def _internal_error(
        self,
        nexus: Nexus,
        cdb: bytes,
        row: CommandDef | None,
        exc: Exception,
        key: int,
        asc: tuple[int, int],
    ) -> Response:
        self.internal_errors += 1
        why = f"internal error: {type(exc).__name__}: {exc}"
        self._record_refusal(nexus, cdb, row, why, key, *asc)
        return self._check_response(CheckCondition(key, asc))

    def _reserved_bits_set(self, cdb: bytes, reserved: int, length: int) -> Response:
        """INVALID FIELD IN CDB pointing at the first reserved bit set (SPC-5 4.4.2.4.2)."""
        mask = reserved.to_bytes(length, "big")
        for i in range(length):
            bad = cdb[i] & mask[i]
            if bad:
                field = (i, bad.bit_length() - 1, True)
                return self._check_response(
                    CheckCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, field=field)
                )
        return self._check_response(_invalid_cdb(0))  # unreachable: some bit was set

    def _unsupported_service_action(self, cdb: bytes, nexus: Nexus, st: _NexusState) -> Response:
        if st.ua:
            return self._report_ua(st)
        why = "unsupported service action"
        self._record_refusal(nexus, cdb, None, why, ILLEGAL_REQUEST, *ASC_INVALID_FIELD_IN_CDB)
        field = (8, None, True) if cdb[0] == _VARIABLE_LENGTH else (1, 4, True)
        return self._check_response(
            CheckCondition(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, field=field)
        )

    def expected_data_out(self, cdb: bytes) -> int:
        """Bytes of data-out the CDB asks for (0 for commands without data-out or refused)."""
        if not cdb:
            return 0
        entry = self._entry(cdb)
        if entry is None or entry.row is None:
            return 0
        fn = _DATA_OUT.get((entry.row.opcode, entry.row.service_action))
        if fn is None or (entry.row.opcode, entry.row.service_action) not in self._implemented:
            return 0
        try:
            return fn(self, cdb)
        except (IndexError, struct.error):
            return 0

    def data_out_refusal(
        self, cdb: bytes, expected_length: int, nexus: Nexus | None = None
    ) -> Response | None:
        """The CHECK CONDITION for a command that cannot run with this expected data-out length.

        For the transport, before it collects any data-out: `expected_length` is the
        initiator's expected data transfer length (iSCSI EDTL). None: the command may
        run (shorter or longer data-out is then handled by `execute`, see the module
        docstring). COMPARE AND WRITE (SBC-4 5.2) needs exactly 2 x NUMBER OF
        LOGICAL BLOCKS blocks (the verify and the write instances): any other length
        means the initiator and the CDB disagree about the blocks, and the command
        is refused with ILLEGAL REQUEST, INVALID FIELD IN CDB pointing at NUMBER OF
        LOGICAL BLOCKS, nothing read or written. That includes a one-byte NUMBER OF
        LOGICAL BLOCKS that wrapped to 0 under 256 blocks' worth of data (libiscsi
        CompareAndWrite.Simple); with no data-out, 0 blocks stays a no-op (SBC-4).
        WRITE SAME (10/16, SBC-4 5.51/5.52) needs exactly one block (none with
        NDOB=1): any other length is INVALID FIELD IN COMMAND INFORMATION UNIT, as
        `execute` answers it (libiscsi WriteSame10/16.InvalidDataOutSize).
        """
        op = cdb[0] if cdb else -1
        if op == 0x89 and len(cdb) >= 14 and (op, None) in self._implemented:
            want = 2 * cdb[13] * self._bs
            what = f"2 x {cdb[13]} blocks (COMPARE AND WRITE verify and write instances)"
            cc = _invalid_cdb(13)
        elif op in (0x41, 0x93) and len(cdb) >= 2 and (op, None) in self._implemented:
            want = 0 if op == 0x93 and cdb[1] & 0x01 else self._bs
            what = "the one block WRITE SAME writes" if want else "none (WRITE SAME NDOB=1)"
            cc = _IU_MISMATCH
        else:
            return None
        if expected_length == want:
            return None
        if nexus is not None:
            why = f"data-out length {expected_length} is not {what}"
            self._record_refusal(nexus, cdb, self._ops[op].row, why, cc.key, cc.asc, cc.ascq)
        return self._check_response(cc)

    def task_management(self, function: TaskManagement, nexus: Nexus) -> None:
        """SAM-5 7: unit attentions and per-nexus state after a task management function."""
        if function in (TaskManagement.ABORT_TASK, TaskManagement.ABORT_TASK_SET):
            return
        if function is TaskManagement.CLEAR_TASK_SET:
            self.establish_unit_attention(
                ASC_COMMANDS_CLEARED_BY_ANOTHER_INITIATOR, except_nexus=nexus
            )
            return
        if function is TaskManagement.I_T_NEXUS_RESET:
            with self._state_lock:
                st = self._nexus.get((nexus.initiator, nexus.target))
                if st is not None:
                    st.prevent = False
                    self._queue_ua(st, ASC_I_T_NEXUS_LOSS)
            self._reset_delegates(function, nexus)
            return
        if function is TaskManagement.LOGICAL_UNIT_RESET:
            asc = ASC_BUS_DEVICE_RESET
        elif function is TaskManagement.TARGET_COLD_RESET:
            asc = ASC_POWER_ON_OCCURRED
        else:
            asc = ASC_TARGET_RESET
        with self._state_lock:
            for st in self._nexus.values():
                st.prevent = False
                st.ua.clear()
                st.ua.append(asc)
            if function is TaskManagement.TARGET_COLD_RESET and self.medium == MediumState.STOPPED:
                self.medium = MediumState.READY  # power on spins the medium up again
                self._not_ready = False
        self._reset_delegates(function, nexus)

    def nexus_lost(self, nexus: Nexus) -> None:
        """The I_T nexus is gone: forget its PREVENT and UAs; drop its RESERVE(6) reservation."""
        with self._state_lock:
            st = self._nexus.pop((nexus.initiator, nexus.target), None)
            if st is not None and self._last[1] is st:
                self._last = (None, _NexusState())
        with self._pr_lock:
            self.reservations.nexus_lost(nexus)

    def flush(self) -> None:
        self._sanitize_idle.wait()  # a background sanitize finishes first
        self.backend.flush()

    def _reset_delegates(self, function: TaskManagement, nexus: Nexus) -> None:
        with self._pr_lock:
            self.reservations.task_management(function, nexus)
            if function is not TaskManagement.I_T_NEXUS_RESET:
                self.modes.reset()  # hard reset: mode parameters back to their defaults
                self._obey_modes()

    # -- unit attentions ---------------------------------------------------------------
    def _nexus_state(self, nexus: Nexus) -> _NexusState:
        key = (nexus.initiator, nexus.target)
        with self._state_lock:
            st = self._nexus.get(key)
            if st is None:
                st = _NexusState()  # first contact: POWER ON, RESET OR BUS DEVICE RESET OCCURRED
                self._nexus[key] = st
            self._last = (nexus, st)
        return st

    def _queue_ua(self, st: _NexusState, asc: tuple[int, int]) -> None:
        if asc in st.ua:
            return
        st.ua.append(asc)

    def establish_unit_attention(
        self, asc: tuple[int, int], *, except_nexus: Nexus | None = None
    ) -> None:
        """Queue a unit attention (ASC, ASCQ) for every known I_T nexus but `except_nexus`.

        Used for CAPACITY DATA HAS CHANGED, MODE PARAMETERS CHANGED, RESERVATIONS
        PREEMPTED/RELEASED, REGISTRATIONS PREEMPTED (SPC-5 5.14, SAM-5 5.14).
        """
        skip = None if except_nexus is None else (except_nexus.initiator, except_nexus.target)
        with self._state_lock:
            for key, st in self._nexus.items():
                if key != skip:
                    self._queue_ua(st, asc)

    def unit_attention_for(self, nexus: Nexus, asc: tuple[int, int]) -> None:
        """Queue a unit attention for one I_T nexus (e.g. its registration was preempted)."""
        st = self._nexus_state(nexus)
        with self._state_lock:
            self._queue_ua(st, asc)

    def capacity_changed(self) -> None:
        """The backend's size changed: re-read it and tell every nexus (2Ah/09h)."""
        self._nb = self.backend.num_blocks
        self._vpd_cache.clear()
        self.establish_unit_attention(ASC_CAPACITY_DATA_HAS_CHANGED)

    def _pop_ua(self, st: _NexusState) -> tuple[int, int] | None:
        with self._state_lock:
            if not st.ua:
                return None
            return st.ua.popleft()

    def _report_ua(self, st: _NexusState) -> Response:
        asc = self._pop_ua(st)
        if asc is None:  # consumed concurrently
            asc = ASC_POWER_ON_RESET
        return Response(CHECK_CONDITION, b"", self._sense(UNIT_ATTENTION, *asc), 0)

    # -- sense helpers -------------------------------------------------------------------
    def _sense(self, key: int, asc: int, ascq: int, **kw: Any) -> bytes:
        return build_sense(key, asc, ascq, descriptor=self._descriptor_sense, **kw)

    def _check_response(self, cc: CheckCondition) -> Response:
        sense = build_sense(
            cc.key,
            cc.asc,
            cc.ascq,
            information=cc.information,
            field=cc.field,
            descriptor=self._descriptor_sense,
        )
        return Response(CHECK_CONDITION, b"", sense, 0)

    def _not_ready_asc(self) -> tuple[int, int]:
        if self.medium == MediumState.EJECTED:
            return ASC_MEDIUM_NOT_PRESENT
        return ASC_LU_NOT_READY_INIT_REQUIRED

    def _not_ready_response(self) -> Response:
        return Response(CHECK_CONDITION, b"", self._sense(NOT_READY, *self._not_ready_asc()), 0)

    @property
    def descriptor_sense(self) -> bool:
        """D_SENSE of the Control mode page: descriptor format sense data (SPC-5 7.5.8)."""
        return self._descriptor_sense

    @descriptor_sense.setter
    def descriptor_sense(self, value: bool) -> None:
        self._descriptor_sense = value

    # -- range checks ----------------------------------------------------------------------
    def _check_range(self, lba: int, blocks: int) -> None:
        """SBC-4 4.5: [lba, lba + blocks) must lie in the slice (exact integers: no wrap)."""
        if lba + blocks > self._nb:
            raise _lba_out_of_range(lba)

    def _check_transfer(self, lba: int, blocks: int, length_byte: int) -> None:
        if blocks > self._max_xfer:
            raise _invalid_cdb(length_byte)
        if lba + blocks > self._nb:
            raise _lba_out_of_range(lba)

    # -- READ -----------------------------------------------------------------------------
    def _read(self, lba: int, blocks: int, read: _ReadFn | None) -> Response:
        if blocks == 0:
            return _EMPTY_GOOD
        return Response(GOOD, (read or self.backend.read)(lba, blocks), b"", blocks * self._bs)

    @_implements(0x08, flags=_MEDIUM | _NOWAIT)
    def _read6(
        self, cdb: bytes, data_out: Any, nexus: Nexus, read: _ReadFn | None = None
    ) -> Response:
        """SBC-4 5.14 READ (6): transfer length 0 means 256 blocks."""
        lba = ((cdb[1] & 0x1F) << 16) | (cdb[2] << 8) | cdb[3]
        blocks = cdb[4] or 256
        self._check_transfer(lba, blocks, 4)
        return self._read(lba, blocks, read)

    @_implements(0x28, flags=_MEDIUM | _NOWAIT)
    def _read10(
        self, cdb: bytes, data_out: Any, nexus: Nexus, read: _ReadFn | None = None
    ) -> Response:
        """SBC-4 5.15 READ (10)."""
        flags, lba, blocks = _CDB10(cdb)
        if flags & 0xE0:
            raise _invalid_cdb(1, 7)  # RDPROTECT: no protection information
        if blocks > self._max_xfer:
            raise _invalid_cdb(7)
        if lba + blocks > self._nb:
            raise _lba_out_of_range(lba)
        if blocks == 0:
            return _EMPTY_GOOD
        return Response(GOOD, (read or self.backend.read)(lba, blocks), b"", blocks * self._bs)

    @_implements(0xA8, flags=_MEDIUM | _NOWAIT)
    def _read12(
        self, cdb: bytes, data_out: Any, nexus: Nexus, read: _ReadFn | None = None
    ) -> Response:
        """SBC-4 5.16 READ (12)."""
        flags, lba, blocks = _CDB12(cdb)
        if flags & 0xE0:
            raise _invalid_cdb(1, 7)
        self._check_transfer(lba, blocks, 6)
        return self._read(lba, blocks, read)

    @_implements(0x88, flags=_MEDIUM | _NOWAIT)
    def _read16(
        self, cdb: bytes, data_out: Any, nexus: Nexus, read: _ReadFn | None = None
    ) -> Response:
        """SBC-4 5.17 READ (16)."""
        flags, lba, blocks = _CDB16(cdb)
        if flags & 0xE0:
            raise _invalid_cdb(1, 7)
        self._check_transfer(lba, blocks, 10)
        return self._read(lba, blocks, read)

    def _var32(self, cdb: bytes) -> tuple[int, int, int]:
        if cdb[7] != 0x18:
            raise _invalid_cdb(7)  # ADDITIONAL CDB LENGTH
        if len(cdb) < 32:
            raise _invalid_cdb(7)
        flags, lba, blocks = _CDB32(cdb)
        return flags, lba, blocks

    @_implements(0x7F, 0x0009, flags=_MEDIUM | _NOWAIT)
    def _read32(
        self, cdb: bytes, data_out: Any, nexus: Nexus, read: _ReadFn | None = None
    ) -> Response:
        """SBC-4 5.18 READ (32), accepted without protection information (RDPROTECT=0)."""
        flags, lba, blocks = self._var32(cdb)
        if flags & 0xE0:
            raise _invalid_cdb(10, 7)
        self._check_transfer(lba, blocks, 28)
        return self._read(lba, blocks, read)

    # -- WRITE ----------------------------------------------------------------------------
    def _received(self, blocks: int, data_out: Any) -> tuple[Any, int]:
        """The data-out to write and its block count: at most `blocks`, whole blocks only.

        Longer data-out is cut to the transfer length; shorter data-out (EDTL below
        the transfer length) is written as far as it holds whole blocks; a partial
        block is INVALID FIELD IN COMMAND INFORMATION UNIT (see the module docstring).
        """
        n = blocks * self._bs
        got = len(data_out)
        if got == n:
            return data_out, blocks
        if got > n:
            return data_out[:n], blocks
        if got % self._bs:
            raise _IU_MISMATCH
        return data_out, got // self._bs

    def _write(self, lba: int, blocks: int, data_out: Any, fua: bool) -> Response:
        n = blocks * self._bs
        data_out, blocks = self._received(blocks, data_out)
        if blocks:
            with self._wlock:
                self.backend.write(lba, data_out, fua=fua or self._force_fua)
        return Response(GOOD, b"", b"", n)

    @_implements(0x0A, flags=_MEDIUM | _WRITES)
    def _write6(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.40 WRITE (6): transfer length 0 means 256 blocks."""
        lba = ((cdb[1] & 0x1F) << 16) | (cdb[2] << 8) | cdb[3]
        blocks = cdb[4] or 256
        self._check_transfer(lba, blocks, 4)
        return self._write(lba, blocks, data_out, False)

    @_implements(0x2A, flags=_MEDIUM | _WRITES)
    def _write10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.41 WRITE (10)."""
        flags, lba, blocks = _CDB10(cdb)
        if flags & 0xE0:
            raise _invalid_cdb(1, 7)  # WRPROTECT
        if blocks > self._max_xfer:
            raise _invalid_cdb(7)
        if lba + blocks > self._nb:
            raise _lba_out_of_range(lba)
        n = blocks * self._bs
        if len(data_out) != n:
            data_out, blocks = self._received(blocks, data_out)
        if blocks:
            with self._wlock:
                self.backend.write(lba, data_out, fua=bool(flags & 0x08) or self._force_fua)
        return Response(GOOD, b"", b"", n)

    @_implements(0xAA, flags=_MEDIUM | _WRITES)
    def _write12(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.42 WRITE (12)."""
        flags, lba, blocks = _CDB12(cdb)
        if flags & 0xE0:
            raise _invalid_cdb(1, 7)
        self._check_transfer(lba, blocks, 6)
        return self._write(lba, blocks, data_out, bool(flags & 0x08))

    @_implements(0x8A, flags=_MEDIUM | _WRITES)
    def _write16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.43 WRITE (16)."""
        flags, lba, blocks = _CDB16(cdb)
        if flags & 0xE0:
            raise _invalid_cdb(1, 7)
        self._check_transfer(lba, blocks, 10)
        return self._write(lba, blocks, data_out, bool(flags & 0x08))

    @_implements(0x7F, 0x000B, flags=_MEDIUM | _WRITES)
    def _write32(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.44 WRITE (32), accepted without protection information (WRPROTECT=0)."""
        flags, lba, blocks = self._var32(cdb)
        if flags & 0xE0:
            raise _invalid_cdb(10, 7)
        self._check_transfer(lba, blocks, 28)
        return self._write(lba, blocks, data_out, bool(flags & 0x08))

    # -- WRITE AND VERIFY, VERIFY ---------------------------------------------------------------
    def _write_and_verify(
        self, flags: int, lba: int, blocks: int, data_out: Any, flags_byte: int, length_byte: int
    ) -> Response:
        if flags & 0xE0:
            raise _invalid_cdb(flags_byte, 7)
        if (flags >> 1) & 0x3 > 1:
            raise _invalid_cdb(flags_byte, 2)  # BYTCHK 10b/11b reserved here
        self._check_transfer(lba, blocks, length_byte)
        n = blocks * self._bs
        data_out, blocks = self._received(blocks, data_out)
        if blocks:
            with self._wlock:
                self.backend.write(lba, data_out, fua=True)
                if self.backend.read(lba, blocks) != bytes(data_out):
                    raise CheckCondition(MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY)
        return Response(GOOD, b"", b"", n)

    @_implements(0x2E, flags=_MEDIUM | _WRITES)
    def _write_and_verify10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.46 WRITE AND VERIFY (10)."""
        flags, lba, blocks = _CDB10(cdb)
        return self._write_and_verify(flags, lba, blocks, data_out, 1, 7)

    @_implements(0xAE, flags=_MEDIUM | _WRITES)
    def _write_and_verify12(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.47 WRITE AND VERIFY (12)."""
        flags, lba, blocks = _CDB12(cdb)
        return self._write_and_verify(flags, lba, blocks, data_out, 1, 6)

    @_implements(0x8E, flags=_MEDIUM | _WRITES)
    def _write_and_verify16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.48 WRITE AND VERIFY (16)."""
        flags, lba, blocks = _CDB16(cdb)
        return self._write_and_verify(flags, lba, blocks, data_out, 1, 10)

    @_implements(0x7F, 0x000C, flags=_MEDIUM | _WRITES)
    def _write_and_verify32(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.49 WRITE AND VERIFY (32)."""
        flags, lba, blocks = self._var32(cdb)
        return self._write_and_verify(flags, lba, blocks, data_out, 10, 28)

    def _verify(
        self, flags: int, lba: int, blocks: int, data_out: Any, flags_byte: int, length_byte: int
    ) -> Response:
        if flags & 0xE0:
            raise _invalid_cdb(flags_byte, 7)  # VRPROTECT
        bytchk = (flags >> 1) & 0x3
        if bytchk == 2:
            raise _invalid_cdb(flags_byte, 2)
        self._check_transfer(lba, blocks, length_byte)
        bs = self._bs
        if bytchk == 0:
            return _EMPTY_GOOD  # no data-out: any offered is ignored, as READ ignores it
        want = blocks * bs if bytchk == 1 else (bs if blocks else 0)
        if len(data_out) != want:
            raise _IU_MISMATCH
        if blocks == 0:
            return _EMPTY_GOOD
        medium = self.backend.read(lba, blocks)
        expected = bytes(data_out) if bytchk == 1 else bytes(data_out) * blocks
        if medium != expected:
            raise CheckCondition(
                MISCOMPARE,
                ASC_MISCOMPARE_DURING_VERIFY,
                information=_first_difference(medium, expected),
            )
        return Response(GOOD, b"", b"", want)

    @_implements(0x2F, flags=_MEDIUM)
    def _verify10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.36 VERIFY (10): BYTCHK 0 (medium check), 1 (compare), 3 (one block for all)."""
        flags, lba, blocks = _CDB10(cdb)
        return self._verify(flags, lba, blocks, data_out, 1, 7)

    @_implements(0xAF, flags=_MEDIUM)
    def _verify12(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.37 VERIFY (12)."""
        flags, lba, blocks = _CDB12(cdb)
        return self._verify(flags, lba, blocks, data_out, 1, 6)

    @_implements(0x8F, flags=_MEDIUM)
    def _verify16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.38 VERIFY (16)."""
        flags, lba, blocks = _CDB16(cdb)
        return self._verify(flags, lba, blocks, data_out, 1, 10)

    @_implements(0x7F, 0x000A, flags=_MEDIUM)
    def _verify32(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.39 VERIFY (32)."""
        flags, lba, blocks = self._var32(cdb)
        return self._verify(flags, lba, blocks, data_out, 10, 28)

    # -- WRITE SAME, UNMAP, FORMAT UNIT ------------------------------------------------------
    def _write_same(
        self, flags: int, lba: int, blocks: int, data_out: Any, flags_byte: int, ndob_ok: bool
    ) -> Response:
        if flags & 0xE0:
            raise _invalid_cdb(flags_byte, 7)  # WRPROTECT
        if flags & 0x10:
            raise _invalid_cdb(flags_byte, 4)  # ANCHOR: anchored LBAs not supported
        ndob = ndob_ok and bool(flags & 0x01)
        unmap = bool(flags & 0x08)
        if lba > self._nb:
            raise _lba_out_of_range(lba)
        if blocks == 0:  # WSNZ=0: to the last LBA of the slice
            blocks = self._nb - lba
        if blocks > self.limits.max_write_same:
            raise _invalid_cdb(flags_byte + (9 if flags_byte == 1 else 18))
        self._check_range(lba, blocks)
        bs = self._bs
        if ndob:
            if data_out:
                raise _IU_MISMATCH
            pattern = bytes(bs)
        else:
            if len(data_out) != bs:
                raise _IU_MISMATCH
            pattern = bytes(data_out)
        if blocks:
            with self._wlock:
                if unmap and self.backend.unmap_supported:
                    # UNMAP=1 deallocates whatever the data (as LIO does, libiscsi expects);
                    # LBPRZ=1: the blocks read back as zeros
                    self.backend.punch(lba, blocks)
                else:
                    self.backend.write_same(lba, blocks, pattern, fua=self._force_fua)
        return Response(GOOD, b"", b"", 0 if ndob else bs)

    @_implements(0x41, flags=_MEDIUM | _WRITES)
    def _write_same10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.51 WRITE SAME (10)."""
        flags, lba, blocks = _CDB10(cdb)
        return self._write_same(flags, lba, blocks, data_out, 1, False)

    @_implements(0x93, flags=_MEDIUM | _WRITES)
    def _write_same16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.52 WRITE SAME (16), with NDOB."""
        flags, lba, blocks = _CDB16(cdb)
        return self._write_same(flags, lba, blocks, data_out, 1, True)

    @_implements(0x7F, 0x000D, flags=_MEDIUM | _WRITES)
    def _write_same32(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.53 WRITE SAME (32), with NDOB."""
        flags, lba, blocks = self._var32(cdb)
        return self._write_same(flags, lba, blocks, data_out, 10, True)

    @_implements(0x42, flags=_MEDIUM | _WRITES)
    def _unmap(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.32 UNMAP: every block descriptor is checked before any is applied."""
        if cdb[1] & 0x01:
            raise _invalid_cdb(1, 0)  # ANCHOR
        plen = _U16(cdb, 7)[0]
        data = bytes(data_out[:plen])
        if not data:
            return Response(GOOD, b"", b"", plen)
        if len(data) < 8:
            raise CheckCondition(ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR)
        bd_len = _U16(data, 2)[0]
        if bd_len > len(data) - 8:
            raise CheckCondition(ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR)
        count = bd_len // 16
        if count > self.limits.max_unmap_descriptors:
            raise _invalid_param(2)
        ranges: list[tuple[int, int]] = []
        total = 0
        for i in range(count):
            off = 8 + 16 * i
            lba = _U64(data, off)[0]
            blocks = _U32(data, off + 8)[0]
            if lba + blocks > self._nb:
                raise _lba_out_of_range(lba)
            total += blocks
            if total > self.limits.max_unmap_lba_count:
                raise _invalid_param(off + 8)
            if blocks:
                ranges.append((lba, blocks))
        with self._wlock:
            for lba, blocks in ranges:
                if self.backend.unmap_supported:
                    self.backend.punch(lba, blocks)
                else:
                    self.backend.write_same(lba, blocks, bytes(self._bs))
        return Response(GOOD, b"", b"", plen)

    @_implements(0x04, flags=_MEDIUM | _WRITES)
    def _format_unit(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.3 FORMAT UNIT, emulated per slice: every block of the slice is deallocated."""
        flags = cdb[1]
        if flags & 0xC0:
            raise _invalid_cdb(1, 7)  # FMTPINFO: no protection information
        if flags & 0x10:  # FMTDATA: a parameter list header follows
            long = bool(flags & 0x20)
            need = 8 if long else 4
            if len(data_out) < need:
                raise CheckCondition(ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR)
            defects = _U32(data_out, 4)[0] if long else _U16(data_out, 2)[0]
            if defects:
                raise _invalid_param(4 if long else 2)
            if data_out[1] & 0x08:
                raise _invalid_param(1, 3)  # IP: initialization patterns not supported
        with self._wlock:
            step = 1 << 16
            for lba in range(0, self._nb, step):
                blocks = min(step, self._nb - lba)
                if self.backend.unmap_supported:
                    self.backend.punch(lba, blocks)
                else:
                    self.backend.write_same(lba, blocks, bytes(self._bs))
        return Response(GOOD, b"", b"", _DATA_OUT[(0x04, None)](self, cdb))

    # -- SANITIZE -----------------------------------------------------------------------------
    def _sanitize_refusal(self, cdb: bytes, flags: int) -> Response | None:
        """While a sanitize runs: NOT READY, SANITIZE IN PROGRESS (with progress); in
        sanitize failure mode: media commands MEDIUM ERROR, SANITIZE COMMAND FAILED."""
        progress = self._sanitize_progress
        if progress is not None:
            data = _progress_sense(ASC_SANITIZE_IN_PROGRESS, progress, self._descriptor_sense)
            return Response(CHECK_CONDITION, b"", data, 0)
        if self._sanitize_failed is not None and flags & _MEDIUM and cdb[0] != _SANITIZE:
            return self._check_response(CheckCondition(MEDIUM_ERROR, ASC_SANITIZE_COMMAND_FAILED))
        return None

    def _sanitize_parameters(self, cdb: bytes, data_out: Any) -> tuple[bytes, int, bool]:
        """The OVERWRITE parameter list (SBC-4 SANITIZE): one block of the pattern, passes, INVERT."""
        bs = self._bs
        plen = _U16(cdb, 7)[0]
        if plen < 5 or plen > bs + 4:
            raise _invalid_cdb(7)  # PARAMETER LIST LENGTH: 4 header bytes and 1..block bytes
        data = bytes(data_out[:plen])
        if len(data) < plen:
            raise CheckCondition(ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR)
        invert = bool(data[0] & 0x80)
        if data[0] & 0x60:
            raise _invalid_param(0, 6)  # TEST: only 00b (no test mode)
        count = data[0] & 0x1F
        if count == 0:
            raise _invalid_param(0, 4)  # OVERWRITE COUNT: at least one pass
        if data[1]:
            raise _invalid_param(1, data[1].bit_length() - 1)  # reserved
        length = _U16(data, 2)[0]
        if length == 0 or length > bs or length > plen - 4:
            raise _invalid_param(2)  # INITIALIZATION PATTERN LENGTH
        pattern = data[4 : 4 + length]
        block = (pattern * (bs // length + 1))[:bs]  # the pattern repeated over the block
        return block, count, invert

    @_implements(_SANITIZE, 0x01, flags=_MEDIUM | _WRITES)
    def _sanitize_overwrite(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 SANITIZE OVERWRITE, per slice: the pattern over every block of the slice."""
        ause = self._sanitize_cdb(cdb)
        block, count, invert = self._sanitize_parameters(cdb, data_out)
        inverted = block.translate(_INVERT)
        patterns = [inverted if invert and p % 2 else block for p in range(count)]

        def overwrite(advance: Callable[[int], None]) -> None:
            for pattern in patterns:  # one pass each, flushed before the next
                for lba in range(0, self._nb, _SANITIZE_STEP):
                    blocks = min(_SANITIZE_STEP, self._nb - lba)
                    self.backend.write_same(lba, blocks, pattern, fua=False)
                    advance(blocks)
                self.backend.flush()

        self._run_sanitize(overwrite, count * self._nb, ause, bool(cdb[1] & 0x80))
        return Response(GOOD, b"", b"", _U16(cdb, 7)[0])

    @_implements(_SANITIZE, 0x02, flags=_MEDIUM | _WRITES)
    def _sanitize_block_erase(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 SANITIZE BLOCK ERASE, per slice: every block of the slice deallocated."""
        ause = self._sanitize_cdb(cdb)
        if _U16(cdb, 7)[0]:
            raise _invalid_cdb(7)  # no parameter list

        def erase(advance: Callable[[int], None]) -> None:
            zeros = bytes(self._bs)
            for lba in range(0, self._nb, _SANITIZE_STEP):
                blocks = min(_SANITIZE_STEP, self._nb - lba)
                if self.backend.unmap_supported:
                    self.backend.punch(lba, blocks)
                else:
                    self.backend.write_same(lba, blocks, zeros, fua=False)
                advance(blocks)
            self.backend.flush()

        self._run_sanitize(erase, self._nb, ause, bool(cdb[1] & 0x80))
        return _EMPTY_GOOD

    @_implements(_SANITIZE, 0x1F)
    def _sanitize_exit_failure_mode(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 SANITIZE EXIT FAILURE MODE: leave the failure mode of a sanitize run with AUSE=1.

        Not in failure mode: GOOD, nothing to do. After a failed sanitize with
        AUSE=0 only a successful sanitize ends the failure mode: INVALID FIELD IN CDB.
        """
        self._sanitize_cdb(cdb)
        if _U16(cdb, 7)[0]:
            raise _invalid_cdb(7)  # no parameter list
        with self._state_lock:
            if self._sanitize_failed is False:
                raise _invalid_cdb(1, 4)
            self._sanitize_failed = None
            self._sanitize_gate = self._sanitize_progress is not None
        return _EMPTY_GOOD

    def _sanitize_cdb(self, cdb: bytes) -> bool:
        """Checks common to the SANITIZE service actions; returns AUSE."""
        if cdb[1] & 0x40:
            raise _invalid_cdb(1, 6)  # ZNR: not a zoned block device
        ause = bool(cdb[1] & 0x20)
        if self._sanitize_failed is False and ause and cdb[1] & 0x1F != 0x1F:
            raise _invalid_cdb(1, 5)  # after a failed AUSE=0 sanitize, only AUSE=0 may retry
        return ause

    def _run_sanitize(
        self, work: Callable[[Callable[[int], None]], None], total: int, ause: bool, immed: bool
    ) -> None:
        """Run a sanitize operation with its in-progress state; failure mode if it fails.

        IMMED=0: here, then status. IMMED=1: status now (the CDB and parameter list
        are valid), the operation through `background`; a failure then shows only
        as the failure mode.
        """
        with self._state_lock:
            if self._sanitize_progress is not None:  # another thread's sanitize got there first
                raise CheckCondition(NOT_READY, ASC_SANITIZE_IN_PROGRESS)
            self._sanitize_progress = (0, total)
            self._sanitize_gate = True
            self._sanitize_idle.clear()
        if not immed:
            self._sanitize_body(work, total, ause)
            return
        try:
            self._background(lambda: self._sanitize_body(work, total, ause, deferred=True))
        except BaseException:
            self._sanitize_end(failed=False, ause=ause)  # it never started
            raise

    def _sanitize_body(
        self,
        work: Callable[[Callable[[int], None]], None],
        total: int,
        ause: bool,
        *,
        deferred: bool = False,
    ) -> None:
        done = 0

        def advance(blocks: int) -> None:
            nonlocal done
            done += blocks
            self._sanitize_progress = (done, total)

        failed = True
        try:
            with self._wlock:
                work(advance)
            failed = False
        except ReadOnlyError:
            failed = False  # refused before any block changed: not a failed sanitize
            if not deferred:
                raise
        except BackendError as exc:
            if not deferred:
                raise CheckCondition(MEDIUM_ERROR, ASC_SANITIZE_COMMAND_FAILED) from exc
        except Exception:
            if not deferred:
                raise  # a bug: execute reports and logs it
            self.internal_errors += 1  # a bug in the background: counted, failure mode
        finally:
            self._sanitize_end(failed=failed, ause=ause)

    def _sanitize_end(self, *, failed: bool, ause: bool) -> None:
        with self._state_lock:
            self._sanitize_progress = None
            self._sanitize_failed = ause if failed else None
            self._sanitize_gate = failed
            self._sanitize_idle.set()

    def wait_sanitize(self, timeout: float | None = None) -> bool:
        """Wait for a running sanitize (IMMED=1 runs in the background); False on timeout."""
        return self._sanitize_idle.wait(timeout)

    # -- COMPARE AND WRITE, ORWRITE ----------------------------------------------------------
    @_implements(0x89, flags=_MEDIUM | _WRITES)
    def _compare_and_write(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.2 COMPARE AND WRITE: compare and write under the unit's write lock."""
        flags = cdb[1]
        if flags & 0xE0:
            raise _invalid_cdb(1, 7)
        lba = _U64(cdb, 2)[0]
        blocks = cdb[13]
        if blocks > self.limits.max_compare_and_write:
            raise _invalid_cdb(13)
        self._check_range(lba, blocks)
        n = blocks * self._bs
        if len(data_out) != 2 * n:
            raise _invalid_cdb(13)  # as `data_out_refusal`: the data and the CDB disagree
        if blocks == 0:
            return _EMPTY_GOOD
        verify = bytes(data_out[:n])
        with self._wlock:
            current = self.backend.read(lba, blocks)
            if current != verify:
                raise CheckCondition(
                    MISCOMPARE,
                    ASC_MISCOMPARE_DURING_VERIFY,
                    information=_first_difference(current, verify),
                )
            self.backend.write(lba, data_out[n:], fua=bool(flags & 0x08) or self._force_fua)
        return Response(GOOD, b"", b"", 2 * n)

    def _orwrite(
        self, flags: int, lba: int, blocks: int, data_out: Any, fbyte: int, lbyte: int
    ) -> Response:
        if flags & 0xE0:
            raise _invalid_cdb(fbyte, 7)  # ORPROTECT
        self._check_transfer(lba, blocks, lbyte)
        n = blocks * self._bs
        data_out, blocks = self._received(blocks, data_out)
        if blocks:
            with self._wlock:
                current = int.from_bytes(self.backend.read(lba, blocks), "big")
                merged = (current | int.from_bytes(data_out, "big")).to_bytes(
                    blocks * self._bs, "big"
                )
                self.backend.write(lba, merged, fua=bool(flags & 0x08) or self._force_fua)
        return Response(GOOD, b"", b"", n)

    @_implements(0x8B, flags=_MEDIUM | _WRITES)
    def _orwrite16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.12 ORWRITE (16): the data is ORed into the blocks."""
        flags, lba, blocks = _CDB16(cdb)
        return self._orwrite(flags, lba, blocks, data_out, 1, 10)

    @_implements(0x7F, 0x000E, flags=_MEDIUM | _WRITES)
    def _orwrite32(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.13 ORWRITE (32): BMOP 000b (OR) only."""
        flags, lba, blocks = self._var32(cdb)
        if cdb[2] & 0x07:
            raise _invalid_cdb(2, 2)  # BMOP: only the OR operation
        return self._orwrite(flags, lba, blocks, data_out, 10, 28)

    # -- SYNCHRONIZE CACHE, PRE-FETCH, GET LBA STATUS ---------------------------------------------
    def _sync(self, lba: int, blocks: int) -> Response:
        if lba > self._nb or (blocks and lba + blocks > self._nb):
            raise _lba_out_of_range(lba)
        self.backend.flush()
        return _EMPTY_GOOD

    @_implements(0x35, flags=_MEDIUM)
    def _synchronize_cache10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.23 SYNCHRONIZE CACHE (10): 0 blocks means to the end of the slice."""
        _, lba, blocks = _CDB10(cdb)
        return self._sync(lba, blocks)

    @_implements(0x91, flags=_MEDIUM)
    def _synchronize_cache16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.24 SYNCHRONIZE CACHE (16)."""
        _, lba, blocks = _CDB16(cdb)
        return self._sync(lba, blocks)

    def _prefetch(self, lba: int, blocks: int) -> Response:
        if lba > self._nb or (blocks and lba + blocks > self._nb):
            raise _lba_out_of_range(lba)
        if blocks > self.limits.max_prefetch:
            return _EMPTY_GOOD  # GOOD: not enough cache for all of them (SBC-4 5.10)
        return _CONDITION_MET

    @_implements(0x34, flags=_MEDIUM)
    def _prefetch10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.10 PRE-FETCH (10): CONDITION MET when the blocks fit the cache."""
        _, lba, blocks = _CDB10(cdb)
        return self._prefetch(lba, blocks)

    @_implements(0x90, flags=_MEDIUM)
    def _prefetch16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.11 PRE-FETCH (16)."""
        _, lba, blocks = _CDB16(cdb)
        return self._prefetch(lba, blocks)

    @_implements(0x9E, 0x12, flags=_MEDIUM)
    def _get_lba_status(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.8 GET LBA STATUS: extents of the slice only, in slice LBAs."""
        lba = _U64(cdb, 2)[0]
        alloc = _U32(cdb, 10)[0]
        report_type = cdb[14]
        if lba >= self._nb:
            raise _lba_out_of_range(lba)
        if report_type not in (0, 1, 2, 3, 4):
            raise _invalid_cdb(14)
        wanted = max(1, min(64, (alloc - 8) // 16)) if alloc >= 24 else 1
        extents = self.backend.lba_status(lba, wanted) if report_type != 4 else []
        body = bytearray()
        for ext in extents:
            start = max(ext.lba, lba)
            stop = min(ext.lba + ext.blocks, self._nb)
            state = ext.state.value
            if stop <= start:
                continue
            if (report_type == 1 and state == 0) or (report_type == 2 and state != 0):
                continue
            if report_type == 3 and state != 1:
                continue
            while start < stop:
                run = min(stop - start, 0xFFFFFFFF)
                body += struct.pack(">QIB3x", start, run, state)
                start += run
        data = struct.pack(">IB3x", len(body) + 4, 0x01 if report_type else 0) + bytes(body)
        return Response(GOOD, data[:alloc], b"", len(data))

    # -- READ DEFECT DATA ---------------------------------------------------------------------------
    @staticmethod
    def _defect_header_flags(cdb: bytes, byte: int) -> int:
        """PLISTV/GLISTV (the empty lists asked for are valid) and the format, echoed."""
        flags = cdb[byte]
        if flags & 0x07 == 0x07:
            raise _invalid_cdb(byte, 2)  # DEFECT LIST FORMAT 111b is reserved
        return flags & 0x1F

    @_implements(0x37, flags=_MEDIUM)
    def _read_defect_data10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 READ DEFECT DATA (10): a slice has no defect list of its own (empty lists).

        The shared disk's grown defects are the device's business and are never
        reported through a slice; an emulated medium has no primary defects.
        """
        head = self._defect_header_flags(cdb, 2)
        alloc = _U16(cdb, 7)[0]
        data = bytes((0, head, 0, 0))  # DEFECT LIST LENGTH 0
        return Response(GOOD, data[:alloc], b"", len(data))

    @_implements(0xB7, flags=_MEDIUM)
    def _read_defect_data12(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 READ DEFECT DATA (12): empty lists, GENERATION CODE 0 (never changes)."""
        head = self._defect_header_flags(cdb, 1)
        alloc = _U32(cdb, 6)[0]
        data = bytes((0, head)) + bytes(6)  # GENERATION CODE 0, DEFECT LIST LENGTH 0
        return Response(GOOD, data[:alloc], b"", len(data))

    # -- capacity and identity ------------------------------------------------------------------
    @_implements(0x25, flags=_MEDIUM)
    def _read_capacity10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.19 READ CAPACITY (10): 0xFFFFFFFF when the last LBA needs 64 bits."""
        if len(cdb) < 10:
            raise _invalid_cdb(0)
        last = self._nb - 1
        data = struct.pack(">II", min(last, 0xFFFFFFFF), self._bs)
        return Response(GOOD, data, b"", 8)

    @_implements(0x9E, 0x10, flags=_MEDIUM)
    def _read_capacity16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.20 READ CAPACITY (16): LBPME and LBPRZ set (thin provisioned)."""
        alloc = _U32(cdb, 10)[0]
        data = bytearray(32)
        struct.pack_into(">QI", data, 0, self._nb - 1, self._bs)
        if self.backend.unmap_supported or self.read_only:
            data[14] = 0xC0  # LBPME, LBPRZ
        return Response(GOOD, bytes(data[:alloc]), b"", 32)

    def _vpd_page(self, page: int, nexus: Nexus) -> bytes:
        key = (page, nexus.target if page == 0x83 else "")
        cached = self._vpd_cache.get(key)
        if cached is not None:
            return cached
        if page == 0x00:
            data = supported_vpd_pages()
        elif page == 0x80:
            data = unit_serial_number_vpd(self.identity)
        elif page == 0x83:
            data = device_identification_vpd(self.identity, nexus.target)
        elif page == 0x86:
            data = extended_inquiry_vpd()
        elif page == 0xB0:
            data = block_limits_vpd(self.limits)
        elif page == 0xB1:
            data = block_device_characteristics_vpd()
        else:
            data = logical_block_provisioning_vpd()
        if len(self._vpd_cache) < 64:
            self._vpd_cache[key] = data
        return data

    @_implements(0x12, flags=_NO_UA)
    def _inquiry(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.7 INQUIRY: standard data or a VPD page, truncated to the allocation length."""
        flags, page = cdb[1], cdb[2]
        alloc = _U16(cdb, 3)[0]
        if flags & 0x02:
            raise _invalid_cdb(1, 1)  # CMDDT (obsolete)
        if flags & 0x01:
            if page not in SUPPORTED_VPD_PAGES:
                raise _invalid_cdb(2)
            data = self._vpd_page(page, nexus)
        else:
            if page:
                raise _invalid_cdb(2)
            data = self._std_inquiry
        return Response(GOOD, data[:alloc], b"", len(data))

    @_implements(0xA0, flags=_NO_UA)
    def _report_luns(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.33 REPORT LUNS: the LUNs the transport says this nexus sees."""
        select = cdb[2]
        alloc = _U32(cdb, 6)[0]
        if select not in (0x00, 0x01, 0x02, 0x10, 0x11, 0x12):
            raise _invalid_cdb(2)
        luns = self.report_luns(nexus) if self.report_luns is not None else (nexus.lun,)
        if select in (0x01, 0x10, 0x12):
            luns = ()  # no well-known LUNs; no administrative LUN conglomerates
        data = encode_report_luns(luns, 0)
        return Response(GOOD, data[:alloc], b"", len(data))

    @_implements(0x00, flags=_MEDIUM)
    def _test_unit_ready(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.47 TEST UNIT READY (NOT READY is reported by `execute` before this)."""
        return _EMPTY_GOOD

    @_implements(0x03, flags=_NO_UA)
    def _request_sense(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.39 REQUEST SENSE: a pending unit attention (then cleared), NOT READY, or NO SENSE."""
        desc = bool(cdb[1] & 0x01)
        alloc = cdb[4]
        st = self._nexus_state(nexus)
        asc = self._pop_ua(st) if st.ua else None
        progress = self._sanitize_progress
        if asc is not None:
            data = build_sense(UNIT_ATTENTION, *asc, descriptor=desc)
        elif progress is not None:
            data = _progress_sense(ASC_SANITIZE_IN_PROGRESS, progress, desc)
        elif self._not_ready:
            data = build_sense(NOT_READY, *self._not_ready_asc(), descriptor=desc)
        else:
            data = build_sense(NO_SENSE, 0, 0, descriptor=desc)
        return Response(GOOD, data[:alloc], b"", len(data))

    # -- medium state ------------------------------------------------------------------------
    @_implements(0x1B)
    def _start_stop_unit(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.25 START STOP UNIT, emulated per slice: stop, eject, load, start.

        POWER CONDITION other than 0h (START_VALID): START and LOEJ are ignored
        (SBC-4) and a slice has no power conditions of its own to enter (it cannot
        spin down the shared disk), so the command completes with GOOD and changes
        nothing. Reserved POWER CONDITION values are accepted the same way: a
        deliberate leniency (SPC-5 would refuse a reserved code value) because
        initiators probe all of them (libiscsi 1.19 StartStopUnit.PwrCnd expects
        GOOD for 1h..Fh).

        START=0 LOEJ=0: the write cache is flushed (unless NO_FLUSH). A fixed
        unit (RMB=0) enters the stopped power condition: commands that need the
        medium are NOT READY, INITIALIZING COMMAND REQUIRED until START=1. A
        removable unit (RMB=1) keeps its medium loaded and accessible: like a
        removable-medium drive it returns to the active power condition on the
        next medium access by itself, so TEST UNIT READY stays GOOD (libiscsi
        StartStopUnit.NoLoej). START=0 LOEJ=1 ejects; START=1 LOEJ=1 loads.
        """
        b4 = cdb[4]
        if b4 >> 4:
            return _EMPTY_GOOD  # a power condition: nothing to change on a slice
        start, loej, no_flush = bool(b4 & 0x01), bool(b4 & 0x02), bool(b4 & 0x04)
        with self._state_lock:
            if loej and any(s.prevent for s in self._nexus.values()):
                # PREVENT in effect: neither unload nor load (SBC-4 START STOP UNIT, LOEJ)
                raise CheckCondition(ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED)
            if not start:
                if not no_flush and self.medium == MediumState.READY:
                    self.backend.flush()
                if loej:
                    self.medium = MediumState.EJECTED
                    self._not_ready = True
                elif self.medium == MediumState.READY and not self.identity.removable:
                    self.medium = MediumState.STOPPED
                    self._not_ready = True
                return _EMPTY_GOOD
            if self.medium == MediumState.EJECTED and not loej:
                raise CheckCondition(NOT_READY, ASC_MEDIUM_NOT_PRESENT)
            was_ejected = self.medium == MediumState.EJECTED
            self.medium = MediumState.READY
            self._not_ready = False
        if was_ejected:
            self.establish_unit_attention(ASC_MEDIUM_MAY_HAVE_CHANGED, except_nexus=nexus)
        return _EMPTY_GOOD

    @_implements(0x1E)
    def _prevent_allow_medium_removal(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SBC-4 5.9 PREVENT ALLOW MEDIUM REMOVAL, per I_T nexus."""
        prevent = cdb[4] & 0x03
        if prevent > 1:
            raise _invalid_cdb(4, 1)
        self._nexus_state(nexus).prevent = bool(prevent)
        return _EMPTY_GOOD

    # -- what the unit supports ------------------------------------------------------------------
    @_implements(0xA3, 0x0D)
    def _report_supported_tmf(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.37 REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS."""
        repd = bool(cdb[2] & 0x80)
        alloc = _U32(cdb, 6)[0]
        data = bytearray(16 if repd else 4)
        data[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x02  # ATS ATSS CTSS LURS TRS
        data[1] = 0x01  # ITNRS
        if repd:
            data[3] = 0x0C
        return Response(GOOD, bytes(data[:alloc]), b"", len(data))

    @_implements(0xA3, 0x0C)
    def _report_supported_opcodes(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.36 REPORT SUPPORTED OPERATION CODES, generated from the command table."""
        from sgguard.target import rsoc

        try:
            data = rsoc.report(self._implemented, cdb)
        except rsoc.ReportError as exc:
            raise _invalid_cdb(exc.byte, exc.bit) from None
        alloc = _U32(cdb, 6)[0]
        return Response(GOOD, data[:alloc], b"", len(data))

    # -- delegates --------------------------------------------------------------------------------
    @_implements(0x1A)
    def _mode_sense6(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.11 MODE SENSE (6): `self.modes`."""
        return self._delegate_modes(cdb, data_out, nexus)

    @_implements(0x5A)
    def _mode_sense10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.12 MODE SENSE (10): `self.modes`."""
        return self._delegate_modes(cdb, data_out, nexus)

    @_implements(0x15)
    def _mode_select6(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.9 MODE SELECT (6): `self.modes`."""
        return self._delegate_modes(cdb, data_out, nexus)

    @_implements(0x55)
    def _mode_select10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-5 6.10 MODE SELECT (10): `self.modes`."""
        return self._delegate_modes(cdb, data_out, nexus)

    def _delegate_modes(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        modes = self.modes
        with self._pr_lock:
            result = modes.execute(self, cdb, data_out, nexus)
            self._obey_modes()
        return result

    def _obey_modes(self) -> None:
        """Cache what the mode pages make the unit do: SWP, WCE=0 (every write FUA), D_SENSE."""
        modes = self.modes
        self._swp = modes.swp
        self._force_fua = not modes.wce
        self._descriptor_sense = modes.d_sense

    def _delegate_reservations(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        with self._pr_lock:
            return self.reservations.execute(self, cdb, data_out, nexus)

    @_implements(0x16)
    def _reserve6(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-2 7.21 RESERVE (6): `self.reservations`."""
        return self._delegate_reservations(cdb, data_out, nexus)

    @_implements(0x56)
    def _reserve10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-2 7.22 RESERVE (10): `self.reservations`."""
        return self._delegate_reservations(cdb, data_out, nexus)

    @_implements(0x17)
    def _release6(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-2 7.16 RELEASE (6): `self.reservations`."""
        return self._delegate_reservations(cdb, data_out, nexus)

    @_implements(0x57)
    def _release10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """SPC-2 7.17 RELEASE (10): `self.reservations`."""
        return self._delegate_reservations(cdb, data_out, nexus)

    def _pr_in(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        return self._delegate_reservations(cdb, data_out, nexus)

    def _pr_out(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        return self._delegate_reservations(cdb, data_out, nexus)

    def _xcopy(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        assert self.copy_manager is not None  # dispatch only routes here when it is set
        return self.copy_manager.execute(self, cdb, data_out, nexus)


for _sa in range(0x00, 0x04):  # PERSISTENT RESERVE IN: READ KEYS .. READ FULL STATUS
    _implements(0x5E, _sa)(LogicalUnit._pr_in)
for _sa in range(0x00, 0x07):  # PERSISTENT RESERVE OUT: REGISTER .. REGISTER AND IGNORE
    _implements(0x5F, _sa)(LogicalUnit._pr_out)
_implements(0x83, 0x00, flags=_MEDIUM)(LogicalUnit._xcopy)  # EXTENDED COPY (LID1)
for _sa in (0x00, 0x03):  # RECEIVE COPY RESULTS: COPY STATUS, OPERATING PARAMETERS
    _implements(0x84, _sa)(LogicalUnit._xcopy)


def _start_thread(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, name="sgguard-sanitize", daemon=True).start()


def _progress_sense(asc: tuple[int, int], progress: tuple[int, int], descriptor: bool) -> bytes:
    """NOT READY sense with the progress indication (SPC-5 4.4.2.4.4): done / total of 65536."""
    done, total = progress
    value = min(0xFFFF, done * 65536 // total) if total else 0
    sks = bytes((0x00, value >> 8, value & 0xFF))
    if descriptor:
        return build_descriptor(NOT_READY, asc[0], asc[1], sense_key_specific=sks)
    return build_fixed(NOT_READY, asc[0], asc[1], sense_key_specific=sks)


def _first_difference(a: bytes, b: bytes) -> int:
    """Offset of the first byte where `a` and `b` differ (they differ)."""
    lo, hi = 0, min(len(a), len(b))
    # binary search over equal prefixes: fast even for large buffers
    while hi - lo > 64:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    for i in range(lo, hi):
        if a[i] != b[i]:
            return i
    return hi


# -- expected data-out lengths, per (opcode, service action) --------------------------------------
def _blocks_out(lu: LogicalUnit, blocks: int) -> int:
    return blocks * lu._bs


def _verify_out(lu: LogicalUnit, flags: int, blocks: int) -> int:
    bytchk = (flags >> 1) & 3
    if bytchk == 1:
        return blocks * lu._bs
    if bytchk == 3:
        return lu._bs if blocks else 0
    return 0


_DATA_OUT: dict[tuple[int, int | None], Callable[[LogicalUnit, bytes], int]] = {
    (0x0A, None): lambda lu, c: (c[4] or 256) * lu._bs,
    (0x2A, None): lambda lu, c: _CDB10(c)[2] * lu._bs,
    (0xAA, None): lambda lu, c: _CDB12(c)[2] * lu._bs,
    (0x8A, None): lambda lu, c: _CDB16(c)[2] * lu._bs,
    (0x7F, 0x000B): lambda lu, c: _CDB32(c)[2] * lu._bs,
    (0x2E, None): lambda lu, c: _CDB10(c)[2] * lu._bs,
    (0xAE, None): lambda lu, c: _CDB12(c)[2] * lu._bs,
    (0x8E, None): lambda lu, c: _CDB16(c)[2] * lu._bs,
    (0x7F, 0x000C): lambda lu, c: _CDB32(c)[2] * lu._bs,
    (0x8B, None): lambda lu, c: _CDB16(c)[2] * lu._bs,
    (0x7F, 0x000E): lambda lu, c: _CDB32(c)[2] * lu._bs,
    (0x2F, None): lambda lu, c: _verify_out(lu, c[1], _CDB10(c)[2]),
    (0xAF, None): lambda lu, c: _verify_out(lu, c[1], _CDB12(c)[2]),
    (0x8F, None): lambda lu, c: _verify_out(lu, c[1], _CDB16(c)[2]),
    (0x7F, 0x000A): lambda lu, c: _verify_out(lu, c[10], _CDB32(c)[2]),
    (0x41, None): lambda lu, c: lu._bs,
    (0x93, None): lambda lu, c: 0 if c[1] & 1 else lu._bs,
    (0x7F, 0x000D): lambda lu, c: 0 if c[10] & 1 else lu._bs,
    (0x89, None): lambda lu, c: 2 * c[13] * lu._bs,
    (0x42, None): lambda lu, c: _U16(c, 7)[0],
    (0x04, None): lambda lu, c: (8 if c[1] & 0x20 else 4) if c[1] & 0x10 else 0,
    (0x15, None): lambda lu, c: c[4],
    (0x55, None): lambda lu, c: _U16(c, 7)[0],
    **{(0x5F, sa): (lambda lu, c: _U32(c, 5)[0]) for sa in range(8)},
    (0x56, None): lambda lu, c: _U16(c, 7)[0] if c[1] & 0x02 else 0,
    (0x83, 0x00): lambda lu, c: _U32(c, 10)[0],
    **{(0x48, sa): (lambda lu, c: _U16(c, 7)[0]) for sa in (0x01, 0x02, 0x1F)},
}
