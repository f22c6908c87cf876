"""Sense data: sense keys, ASC/ASCQ names, fixed and descriptor formats, decode and build.

Owns SPC-5 sense data: `SenseKey` (SPC-5 table 'Sense key descriptions'),
`Asc` (named ASC/ASCQ pairs, T10 names), `asc_name(asc, ascq)` (including the
ranges such as 40h/NNh DIAGNOSTIC FAILURE ON COMPONENT NN), the fixed format
(response codes 70h current, 71h deferred; SPC-5), the descriptor format
(72h, 73h; SPC-5) with the information (00h), command-specific (01h),
sense-key-specific (02h) and ATA status return (09h) descriptors, and the
sense-key-specific field pointer (SKSV, C/D, BPV, BIT POINTER, FIELD POINTER;
SPC-5) that points at the CDB or parameter list byte that was wrong.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sgguard.scsi.asc_names import ASC_NAMES, ASC_RANGES, Asc
from sgguard.scsi.layout import CdbError

__all__ = [
    "Asc",
    "AtaStatusReturn",
    "FieldPointer",
    "Sense",
    "SenseError",
    "SenseKey",
    "asc_name",
    "build_descriptor",
    "build_fixed",
    "decode_sense",
    "sense_for_cdb_error",
]


class SenseKey(enum.IntEnum):
    """SPC-5 sense keys."""

    NO_SENSE = 0x0
    RECOVERED_ERROR = 0x1
    NOT_READY = 0x2
    MEDIUM_ERROR = 0x3
    HARDWARE_ERROR = 0x4
    ILLEGAL_REQUEST = 0x5
    UNIT_ATTENTION = 0x6
    DATA_PROTECT = 0x7
    BLANK_CHECK = 0x8
    VENDOR_SPECIFIC = 0x9
    COPY_ABORTED = 0xA
    ABORTED_COMMAND = 0xB
    RESERVED_C = 0xC  # was EQUAL (obsolete)
    VOLUME_OVERFLOW = 0xD
    MISCOMPARE = 0xE
    COMPLETED = 0xF


class SenseError(ValueError):
    """Sense data that cannot be decoded (too short, unknown response code)."""


def asc_name(asc: int, ascq: int) -> str:
    """The T10 name of an ASC/ASCQ pair; ranges (40h/NNh ...) name the component."""
    name = ASC_NAMES.get((asc, ascq))
    if name is not None:
        return name
    for r_asc, lo, hi, fmt in ASC_RANGES:
        if r_asc == asc and lo <= ascq <= hi:
            return fmt.replace("NN", f"{ascq:02X}h")
    if ascq >= 0x80:
        return f"VENDOR SPECIFIC ASCQ {ascq:02X}h OF ASC {asc:02X}h"
    if asc >= 0x80:
        return f"VENDOR SPECIFIC ASC {asc:02X}h/{ascq:02X}h"
    return f"UNKNOWN ASC {asc:02X}h/{ascq:02X}h"


@dataclass(frozen=True, slots=True)
class FieldPointer:
    """SPC-5 field pointer: which CDB (c_d) or parameter-list byte and bit is bad."""

    c_d: bool  # True: the error is in the CDB; False: in the parameter list
    field_pointer: int  # byte number
    bit_pointer: int | None = None  # bit number 7..0, None when BPV = 0

    def to_bytes(self) -> bytes:
        b0 = 0x80 | (0x40 if self.c_d else 0)
        if self.bit_pointer is not None:
            if not 0 <= self.bit_pointer <= 7:
                raise ValueError(f"bit pointer {self.bit_pointer} is not 0..7")
            b0 |= 0x08 | self.bit_pointer
        if not 0 <= self.field_pointer <= 0xFFFF:
            raise ValueError(f"field pointer {self.field_pointer} does not fit 16 bits")
        return bytes((b0, self.field_pointer >> 8, self.field_pointer & 0xFF))

    @classmethod
    def from_bytes(cls, b: bytes) -> FieldPointer:
        bpv = bool(b[0] & 0x08)
        return cls(bool(b[0] & 0x40), (b[1] << 8) | b[2], (b[0] & 0x07) if bpv else None)


@dataclass(frozen=True, slots=True)
class AtaStatusReturn:
    """SAT-4 ATA Status Return sense data descriptor (09h)."""

    extend: bool
    error: int
    count: int
    lba: int
    device: int
    status: int


@dataclass(frozen=True, slots=True)
class Sense:
    """Decoded sense data (either format)."""

    response_code: int  # 70h/71h fixed, 72h/73h descriptor
    key: SenseKey
    asc: int
    ascq: int
    information: int | None = None
    command_specific: int | None = None
    sense_key_specific: bytes | None = None  # the 3 bytes with SKSV set, else None
    filemark: bool = False
    eom: bool = False
    ili: bool = False
    field_replaceable_unit: int = 0
    descriptors: tuple[tuple[int, bytes], ...] = field(default=())  # (type, body) of all
    ata_status: AtaStatusReturn | None = None

    @property
    def descriptor_format(self) -> bool:
        return self.response_code in (0x72, 0x73)

    @property
    def deferred(self) -> bool:
        return self.response_code in (0x71, 0x73)

    @property
    def asc_text(self) -> str:
        return asc_name(self.asc, self.ascq)

    @property
    def field_pointer(self) -> FieldPointer | None:
        """The field pointer, for ILLEGAL REQUEST with SKSV set."""
        if self.sense_key_specific is None or self.key != SenseKey.ILLEGAL_REQUEST:
            return None
        return FieldPointer.from_bytes(self.sense_key_specific)

    @property
    def progress(self) -> int | None:
        """Progress indication (0..65535 of 65536) for NOT READY / NO SENSE."""
        if self.sense_key_specific is None or self.key not in (
            SenseKey.NOT_READY,
            SenseKey.NO_SENSE,
        ):
            return None
        return (self.sense_key_specific[1] << 8) | self.sense_key_specific[2]

    def describe(self) -> str:
        parts = [
            f"{'deferred' if self.deferred else 'current'} "
            f"{'descriptor' if self.descriptor_format else 'fixed'}-format sense",
            f"key {self.key.name} ({self.key.value:X}h)",
            f"ASC/ASCQ {self.asc:02X}h/{self.ascq:02X}h {self.asc_text}",
        ]
        if self.information is not None:
            parts.append(f"information {self.information:#x}")
        fp = self.field_pointer
        if fp is not None:
            where = "CDB" if fp.c_d else "parameter list"
            bit = f" bit {fp.bit_pointer}" if fp.bit_pointer is not None else ""
            parts.append(f"field pointer: {where} byte {fp.field_pointer}{bit}")
        elif self.progress is not None:
            parts.append(f"progress {self.progress * 100 / 65536:.1f}%")
        return "; ".join(parts)


def _asc_pair(asc: Asc | int | tuple[int, int], ascq: int | None) -> tuple[int, int]:
    if isinstance(asc, Asc):
        return asc.asc, asc.ascq
    if isinstance(asc, tuple):
        return int(asc[0]), int(asc[1])
    return int(asc), int(ascq or 0)


def build_fixed(
    key: SenseKey | int,
    asc: Asc | int | tuple[int, int],
    ascq: int | None = None,
    *,
    information: int | None = None,
    command_specific: int = 0,
    field_pointer: FieldPointer | None = None,
    sense_key_specific: bytes | None = None,
    deferred: bool = False,
    filemark: bool = False,
    eom: bool = False,
    ili: bool = False,
) -> bytes:
    """Fixed-format sense data (SPC-5), 18 bytes.

    `information` sets VALID and must fit 32 bits (use the descriptor format for
    64-bit LBAs).
    """
    a, q = _asc_pair(asc, ascq)
    b = bytearray(18)
    b[0] = 0x71 if deferred else 0x70
    if information is not None:
        if not 0 <= information <= 0xFFFFFFFF:
            raise ValueError("information does not fit the 4-byte fixed-format field")
        b[0] |= 0x80
        b[3:7] = information.to_bytes(4, "big")
    b[2] = (
        (int(key) & 0x0F) | (0x80 if filemark else 0) | (0x40 if eom else 0) | (0x20 if ili else 0)
    )
    b[7] = 10
    b[8:12] = command_specific.to_bytes(4, "big")
    b[12] = a
    b[13] = q
    sks = field_pointer.to_bytes() if field_pointer is not None else sense_key_specific
    if sks is not None:
        b[15] = sks[0] | 0x80
        b[16] = sks[1]
        b[17] = sks[2]
    return bytes(b)


def build_descriptor(
    key: SenseKey | int,
    asc: Asc | int | tuple[int, int],
    ascq: int | None = None,
    *,
    information: int | None = None,
    command_specific: int | None = None,
    field_pointer: FieldPointer | None = None,
    sense_key_specific: bytes | None = None,
    deferred: bool = False,
    extra: tuple[tuple[int, bytes], ...] = (),
) -> bytes:
    """Descriptor-format sense data (SPC-5) with the descriptors asked for."""
    a, q = _asc_pair(asc, ascq)
    descs = bytearray()
    if information is not None:
        if not 0 <= information < 1 << 64:
            raise ValueError("information does not fit 8 bytes")
        descs += bytes((0x00, 0x0A, 0x80, 0)) + information.to_bytes(8, "big")
    if command_specific is not None:
        descs += bytes((0x01, 0x0A, 0, 0)) + command_specific.to_bytes(8, "big")
    sks = field_pointer.to_bytes() if field_pointer is not None else sense_key_specific
    if sks is not None:
        descs += bytes((0x02, 0x06, 0, 0, sks[0] | 0x80, sks[1], sks[2], 0))
    for dtype, body in extra:
        descs += bytes((dtype, len(body))) + body
    if len(descs) > 244:
        raise ValueError("descriptors exceed 244 bytes")
    head = bytes((0x73 if deferred else 0x72, int(key) & 0x0F, a, q, 0, 0, 0, len(descs)))
    return head + bytes(descs)


def decode_sense(data: bytes) -> Sense:
    """Decode fixed (70h/71h) or descriptor (72h/73h) sense data."""
    if len(data) < 1:
        raise SenseError("empty sense data")
    rc = data[0] & 0x7F
    if rc in (0x70, 0x71):
        if len(data) < 3:
            raise SenseError(f"fixed-format sense data needs at least 3 bytes, got {len(data)}")
        key = SenseKey(data[2] & 0x0F)
        valid = bool(data[0] & 0x80)
        info = int.from_bytes(data[3:7], "big") if valid and len(data) >= 7 else None
        add_len = data[7] if len(data) > 7 else 0
        end = min(len(data), 8 + add_len)
        body = data[:end]
        cmd_spec = int.from_bytes(body[8:12], "big") if len(body) >= 12 else None
        asc = body[12] if len(body) > 12 else 0
        ascq = body[13] if len(body) > 13 else 0
        fru = body[14] if len(body) > 14 else 0
        sks = bytes(body[15:18]) if len(body) >= 18 and body[15] & 0x80 else None
        return Sense(
            rc,
            key,
            asc,
            ascq,
            information=info,
            command_specific=cmd_spec,
            sense_key_specific=sks,
            filemark=bool(data[2] & 0x80),
            eom=bool(data[2] & 0x40),
            ili=bool(data[2] & 0x20),
            field_replaceable_unit=fru,
        )
    if rc in (0x72, 0x73):
        if len(data) < 8:
            raise SenseError(
                f"descriptor-format sense data needs at least 8 bytes, got {len(data)}"
            )
        key = SenseKey(data[1] & 0x0F)
        asc, ascq = data[2], data[3]
        end = min(len(data), 8 + data[7])
        off = 8
        descs: list[tuple[int, bytes]] = []
        info = cmd_spec = None
        sks = None
        fru = 0
        ili = eom = filemark = False
        ata = None
        while off + 2 <= end:
            dtype, dlen = data[off], data[off + 1]
            body = bytes(data[off + 2 : off + 2 + dlen])
            if off + 2 + dlen > end:
                raise SenseError(
                    f"sense descriptor type {dtype:02X}h at byte {off} runs past the sense data"
                )
            descs.append((dtype, body))
            if dtype == 0x00 and dlen >= 10 and body[0] & 0x80:
                info = int.from_bytes(body[2:10], "big")
            elif dtype == 0x01 and dlen >= 10:
                cmd_spec = int.from_bytes(body[2:10], "big")
            elif dtype == 0x02 and dlen >= 6 and body[2] & 0x80:
                sks = body[2:5]
            elif dtype == 0x03 and dlen >= 2:
                fru = body[1]
            elif dtype == 0x04 and dlen >= 2:  # stream commands
                filemark = bool(body[1] & 0x80)
                eom = bool(body[1] & 0x40)
                ili = bool(body[1] & 0x20)
            elif dtype == 0x05 and dlen >= 2:  # block commands
                ili = bool(body[1] & 0x20)
            elif dtype == 0x09 and dlen >= 12:
                ata = AtaStatusReturn(
                    extend=bool(body[0] & 0x01),
                    error=body[1],
                    count=(body[2] << 8) | body[3],
                    lba=int.from_bytes(
                        bytes((body[8], body[6], body[4], body[9], body[7], body[5])), "big"
                    ),
                    device=body[10],
                    status=body[11],
                )
            off += 2 + dlen
        return Sense(
            rc,
            key,
            asc,
            ascq,
            information=info,
            command_specific=cmd_spec,
            sense_key_specific=sks,
            filemark=filemark,
            eom=eom,
            ili=ili,
            field_replaceable_unit=fru,
            descriptors=tuple(descs),
            ata_status=ata,
        )
    raise SenseError(f"unknown sense response code {rc:02X}h (expected 70h-73h)")


def sense_for_cdb_error(err: CdbError, *, descriptor: bool = False, in_cdb: bool = True) -> bytes:
    """ILLEGAL REQUEST sense for a `CdbError`, with its field pointer.

    INVALID FIELD IN CDB (24h/00h) for CDB errors, INVALID FIELD IN PARAMETER
    LIST (26h/00h) when `in_cdb` is False, INVALID COMMAND OPERATION CODE
    (20h/00h) when the operation code itself is the bad field.
    """
    if in_cdb and err.byte == 0 and err.field in ("operation code", "operation_code"):
        asc: tuple[int, int] = Asc.INVALID_COMMAND_OPERATION_CODE.value
    elif in_cdb:
        asc = Asc.INVALID_FIELD_IN_CDB.value
    else:
        asc = Asc.INVALID_FIELD_IN_PARAMETER_LIST.value
    fp = FieldPointer(in_cdb, err.byte, err.bit)
    if descriptor:
        return build_descriptor(SenseKey.ILLEGAL_REQUEST, asc, field_pointer=fp)
    return build_fixed(SenseKey.ILLEGAL_REQUEST, asc, field_pointer=fp)
