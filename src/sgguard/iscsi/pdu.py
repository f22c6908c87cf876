"""iSCSI PDU codec: every RFC 7143 opcode, AHS, data segments, padding and digests.

Owns the wire format of RFC 7143 11 (iSCSI PDU): the 48-byte Basic Header Segment
(BHS, RFC 7143 11.2.1), Additional Header Segments (RFC 7143 11.2.2: the
Extended CDB AHS for CDBs longer than 16 bytes and the Bidirectional Read
Expected Data Transfer Length AHS), the data segment with its padding to a
multiple of four bytes, and the optional CRC32C header and data digests
(RFC 7143 11.2.3, 13.1). Each opcode is a typed frozen dataclass; `decode_pdu`
turns a framed header plus data segment into one, `encode_pdu` turns one into
the buffers to write. `PduFramer` cuts a byte stream into PDUs without ever
allocating more than the limit it is given for a data segment.

Errors are values: a malformed PDU raises `PduError` carrying the RFC 7143 11.17.1
reject reason a target answers with.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final, TypeAlias

import crc32c as _crc32c

__all__ = [
    "AHS_BIDI_READ_LENGTH",
    "AHS_EXTENDED_CDB",
    "ALL_ONES",
    "BHS_LENGTH",
    "R2T",
    "AsyncEvent",
    "AsyncMessage",
    "Buffer",
    "DataIn",
    "DataOut",
    "FramedPdu",
    "LoginRequest",
    "LoginResponse",
    "LoginStatus",
    "LogoutReason",
    "LogoutRequest",
    "LogoutResponse",
    "LogoutResult",
    "NopIn",
    "NopOut",
    "Opcode",
    "Pdu",
    "PduError",
    "PduFramer",
    "Reject",
    "RejectReason",
    "ScsiCommand",
    "ScsiResponse",
    "Snack",
    "TaskAttribute",
    "TaskManagementRequest",
    "TaskManagementResponse",
    "TextRequest",
    "TextResponse",
    "TmfFunction",
    "TmfResponse",
    "crc32c",
    "data_in_header",
    "decode_lun",
    "decode_pdu",
    "encode_lun",
    "encode_pdu",
    "pad_length",
    "scsi_response_header",
]

Buffer: TypeAlias = bytes | bytearray | memoryview

BHS_LENGTH: Final = 48
ALL_ONES: Final = 0xFFFFFFFF  # the reserved tag value (RFC 7143 11.2.1.8)
AHS_EXTENDED_CDB: Final = 1  # RFC 7143 11.2.2.3
AHS_BIDI_READ_LENGTH: Final = 2  # RFC 7143 11.2.2.4
MAX_DATA_SEGMENT: Final = (1 << 24) - 1


class Opcode(enum.IntEnum):
    """RFC 7143 11.2.1.2 opcodes (initiator 0x00-0x1f, target 0x20-0x3f)."""

    NOP_OUT = 0x00
    SCSI_COMMAND = 0x01
    TASK_MANAGEMENT_REQUEST = 0x02
    LOGIN_REQUEST = 0x03
    TEXT_REQUEST = 0x04
    DATA_OUT = 0x05
    LOGOUT_REQUEST = 0x06
    SNACK_REQUEST = 0x10
    NOP_IN = 0x20
    SCSI_RESPONSE = 0x21
    TASK_MANAGEMENT_RESPONSE = 0x22
    LOGIN_RESPONSE = 0x23
    TEXT_RESPONSE = 0x24
    DATA_IN = 0x25
    LOGOUT_RESPONSE = 0x26
    R2T = 0x31
    ASYNC_MESSAGE = 0x32
    REJECT = 0x3F


class RejectReason(enum.IntEnum):
    """RFC 7143 11.17.1 Reject reasons."""

    DATA_DIGEST_ERROR = 0x02
    SNACK_REJECT = 0x03
    PROTOCOL_ERROR = 0x04
    COMMAND_NOT_SUPPORTED = 0x05
    IMMEDIATE_COMMAND_REJECT = 0x06
    TASK_IN_PROGRESS = 0x07
    INVALID_DATA_ACK = 0x08
    INVALID_PDU_FIELD = 0x09
    LONG_OPERATION_REJECT = 0x0A
    DEPRECATED = 0x0B
    WAITING_FOR_LOGOUT = 0x0C


class TaskAttribute(enum.IntEnum):
    """RFC 7143 11.3.1.3 / SAM-5 task attributes (ATTR field)."""

    UNTAGGED = 0
    SIMPLE = 1
    ORDERED = 2
    HEAD_OF_QUEUE = 3
    ACA = 4


class TmfFunction(enum.IntEnum):
    """RFC 7143 11.5.1 task management functions."""

    ABORT_TASK = 1
    ABORT_TASK_SET = 2
    CLEAR_ACA = 3
    CLEAR_TASK_SET = 4
    LOGICAL_UNIT_RESET = 5
    TARGET_WARM_RESET = 6
    TARGET_COLD_RESET = 7
    TASK_REASSIGN = 8
    # RFC 7144 4.1 (SAM-5 task management functions added to iSCSI)
    QUERY_TASK = 9
    QUERY_TASK_SET = 10
    I_T_NEXUS_RESET = 11
    QUERY_ASYNC_EVENT = 12


class TmfResponse(enum.IntEnum):
    """RFC 7143 11.6.1 task management function responses."""

    FUNCTION_COMPLETE = 0
    TASK_DOES_NOT_EXIST = 1
    LUN_DOES_NOT_EXIST = 2
    TASK_STILL_ALLEGIANT = 3
    TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED = 4
    FUNCTION_NOT_SUPPORTED = 5
    FUNCTION_AUTHORIZATION_FAILED = 6
    FUNCTION_REJECTED = 255


class LogoutReason(enum.IntEnum):
    """RFC 7143 11.14.1 logout reason codes."""

    CLOSE_SESSION = 0
    CLOSE_CONNECTION = 1
    REMOVE_CONNECTION_FOR_RECOVERY = 2


class LogoutResult(enum.IntEnum):
    """RFC 7143 11.15.1 logout responses."""

    CLOSED_SUCCESSFULLY = 0
    CID_NOT_FOUND = 1
    CONNECTION_RECOVERY_NOT_SUPPORTED = 2
    CLEANUP_FAILED = 3


class AsyncEvent(enum.IntEnum):
    """RFC 7143 11.9.1 AsyncEvent codes."""

    SCSI_ASYNC_EVENT = 0
    LOGOUT_REQUEST = 1
    CONNECTION_DROP = 2
    ALL_CONNECTIONS_DROP = 3
    PARAMETER_NEGOTIATION_REQUEST = 4
    VENDOR_SPECIFIC = 255


class LoginStatus(enum.IntEnum):
    """RFC 7143 11.13.5 Status-Class and Status-Detail, as class << 8 | detail."""

    SUCCESS = 0x0000
    TARGET_MOVED_TEMPORARILY = 0x0101
    TARGET_MOVED_PERMANENTLY = 0x0102
    INITIATOR_ERROR = 0x0200
    AUTHENTICATION_FAILURE = 0x0201
    AUTHORIZATION_FAILURE = 0x0202
    NOT_FOUND = 0x0203
    TARGET_REMOVED = 0x0204
    UNSUPPORTED_VERSION = 0x0205
    TOO_MANY_CONNECTIONS = 0x0206
    MISSING_PARAMETER = 0x0207
    CANT_INCLUDE_IN_SESSION = 0x0208
    SESSION_TYPE_NOT_SUPPORTED = 0x0209
    SESSION_DOES_NOT_EXIST = 0x020A
    INVALID_DURING_LOGIN = 0x020B
    TARGET_ERROR = 0x0300
    SERVICE_UNAVAILABLE = 0x0301
    OUT_OF_RESOURCES = 0x0302


class PduError(Exception):
    """A PDU that cannot be accepted; `reason` is what a Reject PDU says."""

    def __init__(self, message: str, reason: RejectReason = RejectReason.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.reason = reason


def crc32c(data: Buffer, value: int = 0) -> int:
    """CRC32C (Castagnoli) as RFC 7143 13.1 uses it for digests."""
    return int(_crc32c.crc32c(data, value))


def pad_length(n: int) -> int:
    """Bytes of padding after a segment of n bytes (RFC 7143 11.2: to 4-byte words)."""
    return -n & 3


_PAD = (b"", b"\0", b"\0\0", b"\0\0\0")


def encode_lun(lun: int) -> bytes:
    """SAM-5 4.7 single-level LUN: peripheral device addressing below 256,
    flat space addressing below 16384."""
    if not 0 <= lun < 16384:
        raise ValueError(f"LUN {lun} out of range 0..16383")
    if lun < 256:
        return bytes((0, lun, 0, 0, 0, 0, 0, 0))
    return bytes((0x40 | (lun >> 8), lun & 0xFF, 0, 0, 0, 0, 0, 0))


def decode_lun(raw: int) -> int:
    """The LUN number of an 8-byte LUN field (as a big-endian integer); -1 when it
    uses an addressing method or level this target does not assign."""
    if raw & 0x0000FFFFFFFFFFFF:
        return -1
    top = raw >> 48
    method = top >> 14
    if method == 0:
        if top >> 8:
            return -1  # bus identifier set: a LUN we never report
        return top & 0xFF
    if method == 1:
        return top & 0x3FFF
    return -1


# --- PDU dataclasses -------------------------------------------------------------

# Common header prefix: opcode byte, flags byte, bytes 2-3, TotalAHSLength +
# DataSegmentLength (one 32-bit word), LUN / opcode specific (8 bytes), ITT.
_HEAD = struct.Struct(">BBHIQI")


@dataclass(frozen=True, slots=True)
class NopOut:
    """RFC 7143 11.18 NOP-Out."""

    itt: int
    ttt: int = ALL_ONES
    lun: int = 0
    cmdsn: int = 0
    exp_statsn: int = 0
    immediate: bool = True
    data: Buffer = b""

    opcode = Opcode.NOP_OUT


@dataclass(frozen=True, slots=True)
class ScsiCommand:
    """RFC 7143 11.3 SCSI Command. `cdb` is the whole CDB (extended CDB AHS merged)."""

    itt: int
    cdb: bytes
    lun: int = 0
    read: bool = False
    write: bool = False
    final: bool = True
    attribute: int = TaskAttribute.SIMPLE
    expected_length: int = 0
    cmdsn: int = 0
    exp_statsn: int = 0
    immediate: bool = False
    bidi_read_length: int | None = None
    data: Buffer = b""

    opcode = Opcode.SCSI_COMMAND


@dataclass(frozen=True, slots=True)
class TaskManagementRequest:
    """RFC 7143 11.5 Task Management Function Request."""

    itt: int
    function: int
    lun: int = 0
    referenced_task_tag: int = ALL_ONES
    cmdsn: int = 0
    exp_statsn: int = 0
    ref_cmdsn: int = 0
    exp_datasn: int = 0
    immediate: bool = True

    opcode = Opcode.TASK_MANAGEMENT_REQUEST
    data = b""


@dataclass(frozen=True, slots=True)
class LoginRequest:
    """RFC 7143 11.12 Login Request (always immediate)."""

    itt: int
    isid: bytes
    transit: bool = False
    cont: bool = False
    csg: int = 0
    nsg: int = 0
    version_max: int = 0
    version_min: int = 0
    tsih: int = 0
    cid: int = 0
    cmdsn: int = 0
    exp_statsn: int = 0
    data: Buffer = b""

    opcode = Opcode.LOGIN_REQUEST


@dataclass(frozen=True, slots=True)
class TextRequest:
    """RFC 7143 11.10 Text Request."""

    itt: int
    final: bool = True
    cont: bool = False
    lun: int = 0
    ttt: int = ALL_ONES
    cmdsn: int = 0
    exp_statsn: int = 0
    immediate: bool = False
    data: Buffer = b""

    opcode = Opcode.TEXT_REQUEST


@dataclass(frozen=True, slots=True)
class DataOut:
    """RFC 7143 11.7 SCSI Data-Out."""

    itt: int
    ttt: int = ALL_ONES
    final: bool = False
    lun: int = 0
    exp_statsn: int = 0
    datasn: int = 0
    buffer_offset: int = 0
    data: Buffer = b""

    opcode = Opcode.DATA_OUT


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """RFC 7143 11.14 Logout Request."""

    itt: int
    reason: int = LogoutReason.CLOSE_SESSION
    cid: int = 0
    cmdsn: int = 0
    exp_statsn: int = 0
    immediate: bool = False

    opcode = Opcode.LOGOUT_REQUEST
    data = b""


@dataclass(frozen=True, slots=True)
class Snack:
    """RFC 7143 11.16 SNACK Request."""

    itt: int
    type: int = 0
    lun: int = 0
    ttt: int = ALL_ONES
    exp_statsn: int = 0
    begrun: int = 0
    run_length: int = 0

    opcode = Opcode.SNACK_REQUEST
    data = b""


@dataclass(frozen=True, slots=True)
class NopIn:
    """RFC 7143 11.19 NOP-In."""

    itt: int = ALL_ONES
    ttt: int = ALL_ONES
    lun: int = 0
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    data: Buffer = b""

    opcode = Opcode.NOP_IN


@dataclass(frozen=True, slots=True)
class ScsiResponse:
    """RFC 7143 11.4 SCSI Response. `data` is the data segment (sense with its
    2-byte SenseLength prefix, RFC 7143 11.4.7)."""

    itt: int
    status: int = 0
    response: int = 0
    overflow: bool = False
    underflow: bool = False
    bidi_overflow: bool = False
    bidi_underflow: bool = False
    snack_tag: int = 0
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    exp_datasn: int = 0
    bidi_residual: int = 0
    residual: int = 0
    data: Buffer = b""

    opcode = Opcode.SCSI_RESPONSE


@dataclass(frozen=True, slots=True)
class TaskManagementResponse:
    """RFC 7143 11.6 Task Management Function Response."""

    itt: int
    response: int = TmfResponse.FUNCTION_COMPLETE
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0

    opcode = Opcode.TASK_MANAGEMENT_RESPONSE
    data = b""


@dataclass(frozen=True, slots=True)
class LoginResponse:
    """RFC 7143 11.13 Login Response."""

    itt: int
    isid: bytes
    transit: bool = False
    cont: bool = False
    csg: int = 0
    nsg: int = 0
    version_max: int = 0
    version_active: int = 0
    tsih: int = 0
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    status_class: int = 0
    status_detail: int = 0
    data: Buffer = b""

    opcode = Opcode.LOGIN_RESPONSE


@dataclass(frozen=True, slots=True)
class TextResponse:
    """RFC 7143 11.11 Text Response."""

    itt: int
    final: bool = True
    cont: bool = False
    lun: int = 0
    ttt: int = ALL_ONES
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    data: Buffer = b""

    opcode = Opcode.TEXT_RESPONSE


@dataclass(frozen=True, slots=True)
class DataIn:
    """RFC 7143 11.7 SCSI Data-In; with `status_present` (S bit) it also carries the
    command's status (phase collapse, RFC 7143 11.7.4)."""

    itt: int
    final: bool = False
    ack: bool = False
    overflow: bool = False
    underflow: bool = False
    status_present: bool = False
    status: int = 0
    lun: int = 0
    ttt: int = ALL_ONES
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    datasn: int = 0
    buffer_offset: int = 0
    residual: int = 0
    data: Buffer = b""

    opcode = Opcode.DATA_IN


@dataclass(frozen=True, slots=True)
class LogoutResponse:
    """RFC 7143 11.15 Logout Response."""

    itt: int
    response: int = LogoutResult.CLOSED_SUCCESSFULLY
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    time2wait: int = 0
    time2retain: int = 0

    opcode = Opcode.LOGOUT_RESPONSE
    data = b""


@dataclass(frozen=True, slots=True)
class R2T:
    """RFC 7143 11.8 Ready To Transfer."""

    itt: int
    ttt: int
    lun: int = 0
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    r2tsn: int = 0
    buffer_offset: int = 0
    desired_length: int = 0

    opcode = Opcode.R2T
    data = b""


@dataclass(frozen=True, slots=True)
class AsyncMessage:
    """RFC 7143 11.9 Asynchronous Message."""

    event: int
    lun: int = 0
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    vcode: int = 0
    parameter1: int = 0
    parameter2: int = 0
    parameter3: int = 0
    data: Buffer = b""

    opcode = Opcode.ASYNC_MESSAGE
    itt = ALL_ONES


@dataclass(frozen=True, slots=True)
class Reject:
    """RFC 7143 11.17 Reject; `data` is the complete header of the rejected PDU."""

    reason: int
    statsn: int = 0
    exp_cmdsn: int = 0
    max_cmdsn: int = 0
    datasn: int = 0
    data: Buffer = b""

    opcode = Opcode.REJECT
    itt = ALL_ONES


Pdu: TypeAlias = (
    NopOut
    | ScsiCommand
    | TaskManagementRequest
    | LoginRequest
    | TextRequest
    | DataOut
    | LogoutRequest
    | Snack
    | NopIn
    | ScsiResponse
    | TaskManagementResponse
    | LoginResponse
    | TextResponse
    | DataIn
    | LogoutResponse
    | R2T
    | AsyncMessage
    | Reject
)


# --- encoding ----------------------------------------------------------------------

_W = struct.Struct(">7I")  # bytes 20..47 as seven words
_DLEN = struct.Struct(">I")  # TotalAHSLength and DataSegmentLength
_ZERO8 = 0


def _bhs(
    opcode: int,
    immediate: bool,
    flags: int,
    b23: int,
    ahs_words: int,
    dlen: int,
    lun_field: int,
    itt: int,
    words: tuple[int, int, int, int, int, int, int],
) -> bytes:
    if dlen > MAX_DATA_SEGMENT:
        raise ValueError(f"data segment of {dlen} bytes exceeds 2**24-1")
    return _HEAD.pack(
        opcode | (0x40 if immediate else 0),
        flags,
        b23,
        (ahs_words << 24) | dlen,
        lun_field,
        itt,
    ) + _W.pack(*words)


_DATA_IN = struct.Struct(">BBBBIQIIIIIIII")


def data_in_header(
    flags: int,
    status: int,
    dlen: int,
    lun_field: int,
    itt: int,
    ttt: int,
    statsn: int,
    exp_cmdsn: int,
    max_cmdsn: int,
    datasn: int,
    buffer_offset: int,
    residual: int,
) -> bytes:
    """The BHS of a SCSI Data-In PDU (RFC 7143 11.7) packed in one call: the
    transport's hot path builds it without a `DataIn` object."""
    return _DATA_IN.pack(
        0x25,
        flags,
        0,
        status,
        dlen,
        lun_field,
        itt,
        ttt,
        statsn,
        exp_cmdsn,
        max_cmdsn,
        datasn,
        buffer_offset,
        residual,
    )


_SCSI_RESPONSE = struct.Struct(">BBBBIQIIIIIIII")


def scsi_response_header(
    flags: int,
    response: int,
    status: int,
    dlen: int,
    itt: int,
    snack_tag: int,
    statsn: int,
    exp_cmdsn: int,
    max_cmdsn: int,
    exp_datasn: int,
    bidi_residual: int,
    residual: int,
) -> bytes:
    """The BHS of a SCSI Response PDU (RFC 7143 11.4) packed in one call."""
    return _SCSI_RESPONSE.pack(
        0x21,
        flags,
        response,
        status,
        dlen,
        0,
        itt,
        snack_tag,
        statsn,
        exp_cmdsn,
        max_cmdsn,
        exp_datasn,
        bidi_residual,
        residual,
    )


def _lun_field(lun: int) -> int:
    return int.from_bytes(encode_lun(lun), "big")


def _u32(v: int, name: str) -> int:
    if not 0 <= v <= ALL_ONES:
        raise ValueError(f"{name}={v} does not fit 32 bits")
    return v


def encode_header(pdu: Pdu) -> bytes:
    """The BHS plus AHS of `pdu` (without digest)."""
    dlen = len(pdu.data)
    if isinstance(pdu, DataIn):
        flags = (
            (0x80 if pdu.final else 0)
            | (0x40 if pdu.ack else 0)
            | (0x04 if pdu.overflow else 0)
            | (0x02 if pdu.underflow else 0)
            | (0x01 if pdu.status_present else 0)
        )
        return data_in_header(
            flags,
            pdu.status if pdu.status_present else 0,
            dlen,
            _lun_field(pdu.lun) if pdu.ack else 0,
            pdu.itt,
            pdu.ttt,
            pdu.statsn if pdu.status_present else 0,
            pdu.exp_cmdsn,
            pdu.max_cmdsn,
            pdu.datasn,
            pdu.buffer_offset,
            pdu.residual,
        )
    if isinstance(pdu, ScsiResponse):
        flags = (
            0x80
            | (0x10 if pdu.bidi_overflow else 0)
            | (0x08 if pdu.bidi_underflow else 0)
            | (0x04 if pdu.overflow else 0)
            | (0x02 if pdu.underflow else 0)
        )
        return scsi_response_header(
            flags,
            pdu.response,
            pdu.status,
            dlen,
            pdu.itt,
            pdu.snack_tag,
            pdu.statsn,
            pdu.exp_cmdsn,
            pdu.max_cmdsn,
            pdu.exp_datasn,
            pdu.bidi_residual,
            pdu.residual,
        )
    if isinstance(pdu, ScsiCommand):
        cdb = pdu.cdb
        if len(cdb) < 1 or len(cdb) > 260:
            raise ValueError(f"CDB of {len(cdb)} bytes (1..260)")
        ahs = b""
        if len(cdb) > 16:
            ext = cdb[16:]
            ahs += (
                struct.pack(">HBB", len(ext) + 1, AHS_EXTENDED_CDB, 0)
                + ext
                + _PAD[pad_length(len(ext) + 4)]
            )
        if pdu.bidi_read_length is not None:
            ahs += struct.pack(">HBBI", 5, AHS_BIDI_READ_LENGTH, 0, pdu.bidi_read_length)
        flags = (
            (0x80 if pdu.final else 0)
            | (0x40 if pdu.read else 0)
            | (0x20 if pdu.write else 0)
            | (pdu.attribute & 7)
        )
        head = _HEAD.pack(
            0x01 | (0x40 if pdu.immediate else 0),
            flags,
            0,
            ((len(ahs) // 4) << 24) | dlen,
            _lun_field(pdu.lun),
            pdu.itt,
        ) + struct.pack(
            ">III16s", pdu.expected_length, pdu.cmdsn, pdu.exp_statsn, cdb[:16].ljust(16, b"\0")
        )
        return head + ahs
    if isinstance(pdu, DataOut):
        return _bhs(
            0x05,
            False,
            0x80 if pdu.final else 0,
            0,
            0,
            dlen,
            _lun_field(pdu.lun),
            pdu.itt,
            (pdu.ttt, 0, pdu.exp_statsn, 0, pdu.datasn, pdu.buffer_offset, 0),
        )
    if isinstance(pdu, R2T):
        return _bhs(
            0x31,
            False,
            0x80,
            0,
            0,
            0,
            _lun_field(pdu.lun),
            pdu.itt,
            (
                pdu.ttt,
                pdu.statsn,
                pdu.exp_cmdsn,
                pdu.max_cmdsn,
                pdu.r2tsn,
                pdu.buffer_offset,
                pdu.desired_length,
            ),
        )
    if isinstance(pdu, NopOut):
        return _bhs(
            0x00,
            pdu.immediate,
            0x80,
            0,
            0,
            dlen,
            _lun_field(pdu.lun),
            pdu.itt,
            (pdu.ttt, pdu.cmdsn, pdu.exp_statsn, 0, 0, 0, 0),
        )
    if isinstance(pdu, NopIn):
        return _bhs(
            0x20,
            False,
            0x80,
            0,
            0,
            dlen,
            _lun_field(pdu.lun),
            pdu.itt,
            (pdu.ttt, pdu.statsn, pdu.exp_cmdsn, pdu.max_cmdsn, 0, 0, 0),
        )
    if isinstance(pdu, TaskManagementRequest):
        return _bhs(
            0x02,
            pdu.immediate,
            0x80 | (pdu.function & 0x7F),
            0,
            0,
            0,
            _lun_field(pdu.lun),
            pdu.itt,
            (
                pdu.referenced_task_tag,
                pdu.cmdsn,
                pdu.exp_statsn,
                pdu.ref_cmdsn,
                pdu.exp_datasn,
                0,
                0,
            ),
        )
    if isinstance(pdu, TaskManagementResponse):
        return _bhs(
            0x22,
            False,
            0x80,
            pdu.response << 8,
            0,
            0,
            0,
            pdu.itt,
            (0, pdu.statsn, pdu.exp_cmdsn, pdu.max_cmdsn, 0, 0, 0),
        )
    if isinstance(pdu, LoginRequest | LoginResponse):
        if len(pdu.isid) != 6:
            raise ValueError("ISID must be 6 bytes")
        flags = (
            (0x80 if pdu.transit else 0)
            | (0x40 if pdu.cont else 0)
            | ((pdu.csg & 3) << 2)
            | (pdu.nsg & 3)
        )
        lun_field = int.from_bytes(pdu.isid + pdu.tsih.to_bytes(2, "big"), "big")
        if isinstance(pdu, LoginRequest):
            return _bhs(
                0x03,
                True,
                flags,
                (pdu.version_max << 8) | pdu.version_min,
                0,
                dlen,
                lun_field,
                pdu.itt,
                (pdu.cid << 16, pdu.cmdsn, pdu.exp_statsn, 0, 0, 0, 0),
            )
        return _bhs(
            0x23,
            False,
            flags,
            (pdu.version_max << 8) | pdu.version_active,
            0,
            dlen,
            lun_field,
            pdu.itt,
            (
                0,
                pdu.statsn,
                pdu.exp_cmdsn,
                pdu.max_cmdsn,
                (pdu.status_class << 24) | (pdu.status_detail << 16),
                0,
                0,
            ),
        )
    if isinstance(pdu, TextRequest):
        return _bhs(
            0x04,
            pdu.immediate,
            (0x80 if pdu.final else 0) | (0x40 if pdu.cont else 0),
            0,
            0,
            dlen,
            _lun_field(pdu.lun),
            pdu.itt,
            (pdu.ttt, pdu.cmdsn, pdu.exp_statsn, 0, 0, 0, 0),
        )
    if isinstance(pdu, TextResponse):
        return _bhs(
            0x24,
            False,
            (0x80 if pdu.final else 0) | (0x40 if pdu.cont else 0),
            0,
            0,
            dlen,
            _lun_field(pdu.lun),
            pdu.itt,
            (pdu.ttt, pdu.statsn, pdu.exp_cmdsn, pdu.max_cmdsn, 0, 0, 0),
        )
    if isinstance(pdu, LogoutRequest):
        return _bhs(
            0x06,
            pdu.immediate,
            0x80 | (pdu.reason & 0x7F),
            0,
            0,
            0,
            0,
            pdu.itt,
            (pdu.cid << 16, pdu.cmdsn, pdu.exp_statsn, 0, 0, 0, 0),
        )
    if isinstance(pdu, LogoutResponse):
        return _bhs(
            0x26,
            False,
            0x80,
            pdu.response << 8,
            0,
            0,
            0,
            pdu.itt,
            (
                0,
                pdu.statsn,
                pdu.exp_cmdsn,
                pdu.max_cmdsn,
                0,
                (pdu.time2wait << 16) | pdu.time2retain,
                0,
            ),
        )
    if isinstance(pdu, Snack):
        return _bhs(
            0x10,
            False,
            0x80 | (pdu.type & 0x0F),
            0,
            0,
            0,
            _lun_field(pdu.lun),
            pdu.itt,
            (pdu.ttt, 0, pdu.exp_statsn, 0, 0, pdu.begrun, pdu.run_length),
        )
    if isinstance(pdu, AsyncMessage):
        return _bhs(
            0x32,
            False,
            0x80,
            0,
            0,
            dlen,
            _lun_field(pdu.lun),
            ALL_ONES,
            (
                0,
                pdu.statsn,
                pdu.exp_cmdsn,
                pdu.max_cmdsn,
                (pdu.event << 24) | (pdu.vcode << 16) | pdu.parameter1,
                (pdu.parameter2 << 16) | pdu.parameter3,
                0,
            ),
        )
    if isinstance(pdu, Reject):
        return _bhs(
            0x3F,
            False,
            0x80,
            pdu.reason << 8,
            0,
            dlen,
            0,
            ALL_ONES,
            (0, pdu.statsn, pdu.exp_cmdsn, pdu.max_cmdsn, pdu.datasn, 0, 0),
        )
    raise TypeError(f"not a PDU: {pdu!r}")


def encode_pdu(pdu: Pdu, *, header_digest: bool = False, data_digest: bool = False) -> list[Buffer]:
    """The buffers that carry `pdu` on the wire (header [+ digest], data, padding
    [+ digest]); the data segment is passed through without copying."""
    header = encode_header(pdu)
    if header_digest:
        header += crc32c(header).to_bytes(4, "little")
    data = pdu.data
    n = len(data)
    if not n:
        return [header]
    pad = _PAD[pad_length(n)]
    out: list[Buffer] = [header, data]
    if data_digest:
        crc = crc32c(data)
        if pad:
            crc = crc32c(pad, crc)
        out.append(pad + crc.to_bytes(4, "little"))
    elif pad:
        out.append(pad)
    return out


# --- decoding ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FramedPdu:
    """One PDU cut from the stream: its header (BHS + AHS) and its data segment."""

    header: bytes
    data: Buffer
    data_digest_ok: bool = True


def _parse_ahs(ahs: bytes) -> tuple[bytes, int | None]:
    ext = b""
    bidi: int | None = None
    pos = 0
    while pos < len(ahs):
        if pos + 4 > len(ahs):
            raise PduError("truncated AHS", RejectReason.INVALID_PDU_FIELD)
        length, kind = struct.unpack_from(">HB", ahs, pos)
        end = pos + 3 + length
        if length == 0 or end > len(ahs):
            raise PduError(
                f"AHSLength {length} overruns TotalAHSLength", RejectReason.INVALID_PDU_FIELD
            )
        if kind == AHS_EXTENDED_CDB:
            ext = ahs[pos + 4 : end]
        elif kind == AHS_BIDI_READ_LENGTH:
            if length != 5:
                raise PduError(
                    "bidirectional read AHS length is not 5", RejectReason.INVALID_PDU_FIELD
                )
            bidi = int.from_bytes(ahs[pos + 4 : pos + 8], "big")
        else:
            raise PduError(f"unknown AHSType {kind}", RejectReason.INVALID_PDU_FIELD)
        pos = end + pad_length(3 + length)
    return ext, bidi


def decode_pdu(header: Buffer, data: Buffer = b"") -> Pdu:
    """Decode a framed PDU (`header` = BHS + AHS without digest)."""
    hdr = bytes(header)
    if len(hdr) < BHS_LENGTH:
        raise PduError(f"BHS of {len(hdr)} bytes (48 needed)")
    b0, flags, b23, ahs_dlen, lun_field, itt = _HEAD.unpack_from(hdr, 0)
    w = _W.unpack_from(hdr, 20)
    opcode = b0 & 0x3F
    immediate = bool(b0 & 0x40)
    ahs_len = (ahs_dlen >> 24) * 4
    if len(hdr) != BHS_LENGTH + ahs_len:
        raise PduError("TotalAHSLength does not match the header", RejectReason.INVALID_PDU_FIELD)
    if (ahs_dlen & 0xFFFFFF) != len(data):
        raise PduError("DataSegmentLength does not match the data", RejectReason.INVALID_PDU_FIELD)
    final = bool(flags & 0x80)
    if opcode == Opcode.SCSI_COMMAND:
        ext, bidi = _parse_ahs(hdr[BHS_LENGTH:])
        cdb = hdr[32:48] + ext
        r, wr = bool(flags & 0x40), bool(flags & 0x20)
        if bidi is not None and not (r and wr):
            raise PduError("bidirectional read AHS without R and W", RejectReason.INVALID_PDU_FIELD)
        return ScsiCommand(
            itt=itt,
            cdb=cdb,
            lun=decode_lun(lun_field),
            read=r,
            write=wr,
            final=final,
            attribute=flags & 7,
            expected_length=w[0],
            cmdsn=w[1],
            exp_statsn=w[2],
            immediate=immediate,
            bidi_read_length=bidi,
            data=data,
        )
    if ahs_len:
        raise PduError(f"AHS on opcode 0x{opcode:02x}", RejectReason.INVALID_PDU_FIELD)
    if opcode == Opcode.DATA_OUT:
        return DataOut(
            itt=itt,
            ttt=w[0],
            final=final,
            lun=decode_lun(lun_field),
            exp_statsn=w[2],
            datasn=w[4],
            buffer_offset=w[5],
            data=data,
        )
    if opcode == Opcode.NOP_OUT:
        return NopOut(
            itt=itt,
            ttt=w[0],
            lun=decode_lun(lun_field),
            cmdsn=w[1],
            exp_statsn=w[2],
            immediate=immediate,
            data=data,
        )
    if opcode == Opcode.TASK_MANAGEMENT_REQUEST:
        return TaskManagementRequest(
            itt=itt,
            function=flags & 0x7F,
            lun=decode_lun(lun_field),
            referenced_task_tag=w[0],
            cmdsn=w[1],
            exp_statsn=w[2],
            ref_cmdsn=w[3],
            exp_datasn=w[4],
            immediate=immediate,
        )
    if opcode in (Opcode.LOGIN_REQUEST, Opcode.LOGIN_RESPONSE):
        raw = lun_field.to_bytes(8, "big")
        common = {
            "itt": itt,
            "isid": raw[:6],
            "tsih": int.from_bytes(raw[6:], "big"),
            "transit": final,
            "cont": bool(flags & 0x40),
            "csg": (flags >> 2) & 3,
            "nsg": flags & 3,
            "version_max": b23 >> 8,
            "data": data,
        }
        if opcode == Opcode.LOGIN_REQUEST:
            return LoginRequest(
                version_min=b23 & 0xFF,
                cid=w[0] >> 16,
                cmdsn=w[1],
                exp_statsn=w[2],
                **common,
            )
        return LoginResponse(
            version_active=b23 & 0xFF,
            statsn=w[1],
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            status_class=w[4] >> 24,
            status_detail=(w[4] >> 16) & 0xFF,
            **common,
        )
    if opcode == Opcode.TEXT_REQUEST:
        return TextRequest(
            itt=itt,
            final=final,
            cont=bool(flags & 0x40),
            lun=decode_lun(lun_field),
            ttt=w[0],
            cmdsn=w[1],
            exp_statsn=w[2],
            immediate=immediate,
            data=data,
        )
    if opcode == Opcode.LOGOUT_REQUEST:
        return LogoutRequest(
            itt=itt,
            reason=flags & 0x7F,
            cid=w[0] >> 16,
            cmdsn=w[1],
            exp_statsn=w[2],
            immediate=immediate,
        )
    if opcode == Opcode.SNACK_REQUEST:
        return Snack(
            itt=itt,
            type=flags & 0x0F,
            lun=decode_lun(lun_field),
            ttt=w[0],
            exp_statsn=w[2],
            begrun=w[5],
            run_length=w[6],
        )
    if opcode == Opcode.NOP_IN:
        return NopIn(
            itt=itt,
            ttt=w[0],
            lun=decode_lun(lun_field),
            statsn=w[1],
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            data=data,
        )
    if opcode == Opcode.SCSI_RESPONSE:
        return ScsiResponse(
            itt=itt,
            status=b23 & 0xFF,
            response=b23 >> 8,
            overflow=bool(flags & 0x04),
            underflow=bool(flags & 0x02),
            bidi_overflow=bool(flags & 0x10),
            bidi_underflow=bool(flags & 0x08),
            snack_tag=w[0],
            statsn=w[1],
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            exp_datasn=w[4],
            bidi_residual=w[5],
            residual=w[6],
            data=data,
        )
    if opcode == Opcode.TASK_MANAGEMENT_RESPONSE:
        return TaskManagementResponse(
            itt=itt, response=b23 >> 8, statsn=w[1], exp_cmdsn=w[2], max_cmdsn=w[3]
        )
    if opcode == Opcode.TEXT_RESPONSE:
        return TextResponse(
            itt=itt,
            final=final,
            cont=bool(flags & 0x40),
            lun=decode_lun(lun_field),
            ttt=w[0],
            statsn=w[1],
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            data=data,
        )
    if opcode == Opcode.DATA_IN:
        s = bool(flags & 0x01)
        return DataIn(
            itt=itt,
            final=final,
            ack=bool(flags & 0x40),
            overflow=bool(flags & 0x04),
            underflow=bool(flags & 0x02),
            status_present=s,
            status=b23 & 0xFF if s else 0,
            lun=decode_lun(lun_field) if flags & 0x40 else 0,
            ttt=w[0],
            statsn=w[1] if s else 0,
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            datasn=w[4],
            buffer_offset=w[5],
            residual=w[6],
            data=data,
        )
    if opcode == Opcode.LOGOUT_RESPONSE:
        return LogoutResponse(
            itt=itt,
            response=b23 >> 8,
            statsn=w[1],
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            time2wait=w[5] >> 16,
            time2retain=w[5] & 0xFFFF,
        )
    if opcode == Opcode.R2T:
        return R2T(
            itt=itt,
            ttt=w[0],
            lun=decode_lun(lun_field),
            statsn=w[1],
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            r2tsn=w[4],
            buffer_offset=w[5],
            desired_length=w[6],
        )
    if opcode == Opcode.ASYNC_MESSAGE:
        return AsyncMessage(
            event=w[4] >> 24,
            lun=decode_lun(lun_field),
            statsn=w[1],
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            vcode=(w[4] >> 16) & 0xFF,
            parameter1=w[4] & 0xFFFF,
            parameter2=w[5] >> 16,
            parameter3=w[5] & 0xFFFF,
            data=data,
        )
    if opcode == Opcode.REJECT:
        return Reject(
            reason=b23 >> 8,
            statsn=w[1],
            exp_cmdsn=w[2],
            max_cmdsn=w[3],
            datasn=w[4],
            data=data,
        )
    raise PduError(f"unknown opcode 0x{opcode:02x}", RejectReason.COMMAND_NOT_SUPPORTED)


# --- framing -------------------------------------------------------------------------


@dataclass(slots=True)
class PduFramer:
    """Cuts a byte stream into PDUs (RFC 7143 11.2), checking digests.

    `max_data_segment` bounds what is accepted before any of it is buffered: a
    header announcing more raises `PduError` as soon as the BHS is complete.
    A header digest mismatch raises `PduError` (the stream cannot be trusted,
    RFC 7143 7.8); a data digest mismatch is reported on the frame.
    """

    max_data_segment: int = 8192
    header_digest: bool = False
    data_digest: bool = False
    _buf: bytes | bytearray = b""
    _pos: int = 0

    def feed(self, data: Buffer) -> None:
        """Add received bytes. A chunk that starts on a PDU boundary is kept as is
        (immutable bytes: data segments are handed out as views, not copies);
        only a partial PDU is carried over into a growing bytearray."""
        if self._pos >= len(self._buf):
            self._buf = data if isinstance(data, bytes) else bytes(data)
            self._pos = 0
            return
        buf = self._buf
        if not isinstance(buf, bytearray):
            buf = bytearray(memoryview(buf)[self._pos :])
            self._pos = 0
        elif self._pos > 1 << 16:
            del buf[: self._pos]
            self._pos = 0
        buf += data
        self._buf = buf

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def pending_header(self) -> bytes:
        """The first bytes of the PDU being received (for a Reject)."""
        return bytes(self._buf[self._pos : self._pos + BHS_LENGTH])

    def next_frame(self) -> FramedPdu | None:
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < BHS_LENGTH:
            return None
        ahs_words = buf[pos + 4]
        dlen = _DLEN.unpack_from(buf, pos + 4)[0] & 0xFFFFFF
        if dlen > self.max_data_segment:
            raise PduError(
                f"DataSegmentLength {dlen} exceeds MaxRecvDataSegmentLength "
                f"{self.max_data_segment} (opcode 0x{buf[pos] & 0x3F:02x})"
            )
        hlen = BHS_LENGTH + ahs_words * 4
        hd = 4 if self.header_digest else 0
        padded = dlen + (-dlen & 3)
        dd = 4 if (self.data_digest and dlen) else 0
        total = hlen + hd + padded + dd
        if avail < total:
            return None
        header = bytes(buf[pos : pos + hlen])
        if hd:
            got = int.from_bytes(buf[pos + hlen : pos + hlen + 4], "little")
            if got != crc32c(header):
                raise PduError("header digest mismatch")
        start = pos + hlen + hd
        data: Buffer
        if not dlen:
            data = b""
        elif isinstance(buf, bytes):
            data = memoryview(buf)[start : start + dlen]  # immutable: safe to share
        else:
            data = bytes(buf[start : start + dlen])
        ok = True
        if dd:
            got = int.from_bytes(buf[start + padded : start + padded + 4], "little")
            ok = got == crc32c(memoryview(buf)[start : start + padded])
        self._pos = pos + total
        return FramedPdu(header, data, ok)
