"""REPORT SUPPORTED OPERATION CODES, generated from the command table (SPC-5 6.36).

Owns the parameter data of REPORT SUPPORTED OPERATION CODES for a logical unit:
the all_commands format (reporting options 000b) and the one_command format
(001b, 010b, 011b), each with the command timeouts descriptor when RCTD is set
(SPC-5 6.36.4). The rows come from `sgguard.scsi.table` (those the unit
implements after policy); CDB sizes from the rows, CDB USAGE DATA bitmaps from the
rows' CDB layouts in `sgguard.scsi.cdb` (a bit is one when a field, flag or
constant of the layout covers it, zero when the layout marks it reserved).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import lru_cache

from sgguard.scsi.model import CommandDef, DeviceType

__all__ = ["ReportError", "cdb_usage_data", "report"]

# Timeouts (seconds) advertised in the command timeouts descriptor (SPC-5 6.36.4).
NOMINAL_TIMEOUT = 1
RECOMMENDED_TIMEOUT = 30


class ReportError(ValueError):
    """The CDB asks for something invalid: `byte`/`bit` is the field pointer."""

    def __init__(self, byte: int, bit: int | None = None) -> None:
        super().__init__(f"invalid field at byte {byte}")
        self.byte = byte
        self.bit = bit


@lru_cache(maxsize=512)
def cdb_usage_data(row: CommandDef) -> bytes:
    """The CDB USAGE DATA bitmap of a row (SPC-5 6.36.3): byte 0 is the operation code.

    Generated from the row's SBC layout: bits of value fields, flags and
    constants are one, reserved and obsolete bits zero. A row without a layout
    reports every bit of its CDB as possibly used.
    """
    length = row.cdb_length
    usage = bytearray(length)
    variant = row.variant(DeviceType.SBC) or row.variants[0]
    layout = None
    if variant.layout is not None:
        from sgguard.scsi import cdb

        try:
            layout = cdb.layout_class(variant.layout).LAYOUT
        except (KeyError, LookupError, AttributeError):
            layout = None
    if layout is None or layout.length != length:
        usage[:] = b"\xff" * length
    else:
        for info in layout.fields:
            if info.kind == "reserved":
                continue
            for offset in range(info.start, info.start + info.bits):
                usage[offset // 8] |= 0x80 >> (offset % 8)
    usage[0] = row.opcode
    return bytes(usage)


def _timeouts() -> bytes:
    return struct.pack(">HxxII", 0x000A, NOMINAL_TIMEOUT, RECOMMENDED_TIMEOUT)


def _one_command(row: CommandDef | None, rctd: bool) -> bytes:
    if row is None:
        return bytes((0, 0x01, 0, 0))  # SUPPORT 001b: not supported
    usage = cdb_usage_data(row)
    head = bytes((0, (0x80 if rctd else 0) | 0x03)) + struct.pack(">H", len(usage))
    return head + usage + (_timeouts() if rctd else b"")


def report(implemented: Mapping[tuple[int, int | None], CommandDef], cdb: bytes) -> bytes:
    """The parameter data for `cdb` (REPORT SUPPORTED OPERATION CODES), untruncated.

    Raises `ReportError` for an invalid REPORTING OPTIONS / requested opcode
    combination (ILLEGAL REQUEST, INVALID FIELD IN CDB).
    """
    rctd = bool(cdb[2] & 0x80)
    options = cdb[2] & 0x07
    if options == 0:
        body = bytearray()
        for (op, sa), row in sorted(implemented.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
            flags = (0x02 if rctd else 0) | (0x01 if sa is not None else 0)
            body += struct.pack(">BxHxBH", op, sa or 0, flags, row.cdb_length)
            if rctd:
                body += _timeouts()
        return struct.pack(">I", len(body)) + bytes(body)
    op = cdb[3]
    sa = (cdb[4] << 8) | cdb[5]
    has_sa = _table_has_sa(op)
    if options == 1:
        if has_sa:
            raise ReportError(2, 2)
        return _one_command(implemented.get((op, None)), rctd)
    if options == 2:
        if not has_sa:
            raise ReportError(2, 2)
        return _one_command(implemented.get((op, sa)), rctd)
    if options == 3:
        if has_sa:
            return _one_command(implemented.get((op, sa)), rctd)
        return _one_command(implemented.get((op, None)) if sa == 0 else None, rctd)
    raise ReportError(2, 2)


def _table_has_sa(opcode: int) -> bool:
    from sgguard.scsi import table

    dts = table.SERVICE_ACTION_OPCODES.get(opcode)
    return dts is not None and DeviceType.SBC in dts
