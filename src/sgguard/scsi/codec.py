"""Decode dispatch, encode and LBA ranges over the command table and the CDB layouts.

Owns `decode` (a 256-entry dispatch array per device type, built once from
`sgguard.scsi.table`; opcodes with service actions dispatch a second time on
the service action), `encode`, `UnknownCdb` (reserved, vendor specific and
unassigned (opcode, service action) pairs) and `lba_ranges` (the logical blocks
a command touches, from the CDB and, for UNMAP, EXTENDED COPY, POPULATE TOKEN,
WRITE USING TOKEN and WRITE SCATTERED, from its parameter list).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sgguard.scsi import cdb_layouts as _L
from sgguard.scsi import cdb_layouts_mmc as _M
from sgguard.scsi import cdb_layouts_ssc as _S
from sgguard.scsi.layout import Cdb, CdbError, ParameterListError
from sgguard.scsi.model import DeviceType, LbaRange
from sgguard.scsi.table import COMMANDS, SERVICE_ACTION_OPCODES, for_opcode, lookup

__all__ = [
    "MAX_CDB_LENGTH",
    "LbaRange",
    "LbaStatus",
    "ParameterListError",
    "UnknownCdb",
    "decode",
    "encode",
    "layout_class",
    "layout_classes",
    "lba_ranges",
    "lba_status_descriptors",
]

MAX_CDB_LENGTH = 260  # SPC-5: variable-length CDBs hold at most 260 bytes


@dataclass(frozen=True, slots=True)
class UnknownCdb(Cdb):
    """A CDB whose (opcode, service action) has no layout: reserved, vendor specific, unknown.

    Keeps the raw bytes; `to_bytes()` returns them unchanged.
    """

    operation_code: int
    service_action: int | None
    raw: bytes

    def to_bytes(self) -> bytes:
        return self.raw


_CLASSES: dict[str, type[Cdb]] = {
    name: getattr(mod, name) for mod in (_L, _M, _S) for name in mod.__all__
}


def layout_class(name: str) -> type[Cdb]:
    """The CDB class named by a table row's `layout`."""
    return _CLASSES[name]


def layout_classes() -> dict[str, type[Cdb]]:
    return dict(_CLASSES)


Decoder = Callable[[Any], Cdb]


def _empty_error() -> CdbError:
    return CdbError("operation code", 0, None, "empty CDB")


def _unknown(cdb: Any, sa: int | None = None) -> Cdb:
    n = len(cdb)
    if n > MAX_CDB_LENGTH:
        raise CdbError(
            "cdb length", 0, None, f"{n} bytes is longer than the {MAX_CDB_LENGTH} bytes SPC allows"
        )
    return UnknownCdb(cdb[0], sa, bytes(cdb))


def _sa_dispatcher(opcode: int, table: dict[int, Decoder]) -> Decoder:
    get = table.get
    if opcode == 0x7F:

        def decode_var(cdb: Any) -> Cdb:
            if len(cdb) < 10:
                raise CdbError(
                    "cdb length",
                    0,
                    None,
                    f"variable-length CDB needs at least 10 bytes, got {len(cdb)} (truncated CDB)",
                )
            sa = (cdb[8] << 8) | cdb[9]
            fn = get(sa)
            if fn is None:
                return _unknown(cdb, sa)
            return fn(cdb)

        return decode_var

    def decode_sa(cdb: Any) -> Cdb:
        if len(cdb) < 2:
            raise CdbError(
                "service action", 1, 4, f"CDB of opcode {opcode:02X}h truncated before byte 1"
            )
        sa = cdb[1] & 0x1F
        fn = get(sa)
        if fn is None:
            return _unknown(cdb, sa)
        return fn(cdb)

    return decode_sa


def _build(dt: DeviceType) -> list[Decoder]:
    out: list[Decoder] = []
    for opcode in range(256):
        sa_dts = SERVICE_ACTION_OPCODES.get(opcode)
        if sa_dts is not None and dt in sa_dts:
            table: dict[int, Decoder] = {}
            for row in for_opcode(opcode):
                if row.service_action is None:
                    continue
                v = row.variant(dt)
                if v is not None and v.layout is not None:
                    table[row.service_action] = _CLASSES[v.layout].LAYOUT.decode
            out.append(_sa_dispatcher(opcode, table))
            continue
        plain = lookup(opcode, None)
        v = plain.variant(dt) if plain is not None else None
        if v is not None and v.layout is not None:
            out.append(_CLASSES[v.layout].LAYOUT.decode)
        else:
            out.append(_unknown)
    return out


_DISPATCH: dict[DeviceType, list[Decoder]] = {dt: _build(dt) for dt in DeviceType}
_BY_VALUE: dict[int, list[Decoder]] = {int(dt): table for dt, table in _DISPATCH.items()}
_SBC = DeviceType.SBC


def decode(
    cdb: bytes | bytearray | memoryview,
    device_type: DeviceType = DeviceType.SBC,
    *,
    _sbc: list[Decoder] = _DISPATCH[DeviceType.SBC],
    _by_value: dict[int, list[Decoder]] = _BY_VALUE,
) -> Cdb:
    """Decode a CDB into its typed layout object; `UnknownCdb` for unassigned commands.

    Raises `CdbError` (field, byte, bit, message) for a wrong length, a
    truncated CDB, reserved bits set or a field value out of range.
    """
    # Hot path: the dispatch list is bound at definition time and SBC is found
    # by identity (hashing an IntEnum member costs more than decoding a field).
    table = _sbc if device_type is _SBC else _by_value[device_type]
    try:
        op = cdb[0]
    except IndexError:
        raise _empty_error() from None
    return table[op](cdb)


def encode(obj: Cdb) -> bytes:
    """Encode a CDB object; raises `CdbError` for a value that does not fit its field."""
    return obj.to_bytes()


# --------------------------------------------------------------------------- LBA ranges


def _be(data: bytes, off: int, n: int) -> int:
    return int.from_bytes(data[off : off + n], "big")


def _unmap_ranges(data: bytes) -> tuple[LbaRange, ...]:
    """SBC-4 UNMAP parameter list: 8-byte header, 16-byte block descriptors."""
    if len(data) < 8:
        if len(data) == 0:
            return ()
        raise ParameterListError(
            "unmap data length", 0, None, f"parameter list of {len(data)} bytes is truncated"
        )
    bd_len = _be(data, 2, 2)
    if bd_len % 16:
        raise ParameterListError(
            "unmap block descriptor data length",
            2,
            7,
            f"{bd_len} is not a multiple of 16",
        )
    end = 8 + bd_len
    if end > len(data):
        raise ParameterListError(
            "unmap block descriptor data length",
            2,
            7,
            f"{bd_len} bytes of descriptors but only {len(data) - 8} in the parameter list",
        )
    out = []
    for off in range(8, end, 16):
        out.append(LbaRange(_be(data, off, 8), _be(data, off + 8, 4)))
    return tuple(out)


def _rod_ranges(data: bytes, desc_off: int) -> tuple[LbaRange, ...]:
    """SBC-4 / 5.53.2: block device range descriptors (LBA 8, NUMBER OF LBs 4, rsv 4)."""
    if len(data) < desc_off:
        if not data:
            return ()
        raise ParameterListError("parameter list", 0, None, "truncated parameter list")
    n = _be(data, desc_off - 2, 2)
    if n % 16 or desc_off + n > len(data):
        raise ParameterListError(
            "block device range descriptor length",
            desc_off - 2,
            7,
            f"{n} is not a multiple of 16 or runs past the parameter list",
        )
    return tuple(
        LbaRange(_be(data, o, 8), _be(data, o + 8, 4)) for o in range(desc_off, desc_off + n, 16)
    )


_WHOLE = (LbaRange(0, 0, True),)


@dataclass(frozen=True, slots=True)
class LbaStatus:
    """One LBA status descriptor of GET LBA STATUS parameter data (SBC-4)."""

    lba: int
    blocks: int
    provisioning_status: int  # 0 mapped or unknown, 1 deallocated, 2 anchored, 3 mapped, 4 unknown
    additional_status: int


def lba_status_descriptors(data_in: bytes) -> tuple[LbaStatus, ...]:
    """The LBA ranges GET LBA STATUS returned: 8-byte header, 16-byte descriptors.

    PARAMETER DATA LENGTH (bytes 0-3) counts the bytes after byte 3; a
    truncated last descriptor (allocation length too small) is dropped.
    """
    data = bytes(data_in)
    if len(data) < 8:
        return ()
    end = min(len(data), 4 + _be(data, 0, 4))
    out = []
    for off in range(8, end - 15, 16):
        out.append(
            LbaStatus(
                _be(data, off, 8), _be(data, off + 8, 4), data[off + 12] & 0x0F, data[off + 13]
            )
        )
    return tuple(out)


def lba_ranges(obj: Cdb, data_out: bytes | None = None) -> tuple[LbaRange, ...]:
    """The logical blocks a command touches.

    From the CDB for the read/write/verify family (READ (6)/WRITE (6) with
    transfer length 0 mean 256 blocks; WRITE SAME, SYNCHRONIZE CACHE and
    PRE-FETCH with 0 blocks run to the end of the medium), from the parameter
    list for UNMAP, EXTENDED COPY, POPULATE TOKEN and WRITE USING TOKEN. When a
    command's LBAs live in a parameter list that is not given, the answer is
    the worst case: the whole medium. FORMAT UNIT and SANITIZE touch the whole
    medium. ATA PASS-THROUGH: the LBA range of the ATA command (sgguard.scsi.ata).
    """
    fn = _RANGE_FUNCS.get(type(obj))
    if fn is None:
        return ()
    return fn(obj, data_out)


def _rw(field: str) -> Callable[[Any, bytes | None], tuple[LbaRange, ...]]:
    def f(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
        n = getattr(o, field)
        return (LbaRange(o.lba, n),) if n else ()

    return f


def _rw_named(lba: str, field: str) -> Callable[[Any, bytes | None], tuple[LbaRange, ...]]:
    def f(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
        n = getattr(o, field)
        return (LbaRange(getattr(o, lba), n),) if n else ()

    return f


def _rw6(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
    return (LbaRange(o.lba, o.transfer_length or 256),)


def _zero_to_end(field: str) -> Callable[[Any, bytes | None], tuple[LbaRange, ...]]:
    def f(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
        n = getattr(o, field)
        return (LbaRange(o.lba, n),) if n else (LbaRange(o.lba, 0, True),)

    return f


def _one_block(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
    return (LbaRange(o.lba, 1),)


def _unmap(o: Any, d: bytes | None) -> tuple[LbaRange, ...]:
    if d is None:
        return _WHOLE
    return _unmap_ranges(bytes(d[: o.parameter_list_length]))


def _gls16(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
    return (LbaRange(o.starting_lba, 0, True),)


def _gls32(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
    if o.scan_length:
        return (LbaRange(o.starting_lba, o.scan_length),)
    return (LbaRange(o.starting_lba, 0, True),)


def _scattered(o: Any, d: bytes | None) -> tuple[LbaRange, ...]:
    """SBC-4: 32-byte header, then 32-byte LBA range descriptors (LBA 8, length 4)."""
    if d is None:
        return _WHOLE
    data = bytes(d)
    out = []
    for k in range(o.number_of_lba_range_descriptors):
        off = 32 + 32 * k
        if off + 12 > len(data):
            raise ParameterListError(
                "number of lba range descriptors",
                8,
                7,
                f"descriptor {k} at byte {off} is past the {len(data)}-byte parameter list",
            )
        n = _be(data, off + 8, 4)
        if n:
            out.append(LbaRange(_be(data, off, 8), n))
    return tuple(out)


def _reassign(o: Any, d: bytes | None) -> tuple[LbaRange, ...]:
    """SBC-4: 4-byte header (8 with LONGLIST), then 4- or 8-byte defect LBAs."""
    if d is None:
        return _WHOLE
    data = bytes(d)
    hdr = 4
    if len(data) < hdr:
        return ()
    n = _be(data, 0, 4) if o.longlist else _be(data, 2, 2)
    size = 8 if o.longlba else 4
    if n % size or hdr + n > len(data):
        raise ParameterListError(
            "defect list length", 0 if o.longlist else 2, 7, f"{n} bytes do not fit the list"
        )
    return tuple(LbaRange(_be(data, off, size), 1) for off in range(hdr, hdr + n, size))


def _zbc_out(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
    # zone sizes are not in the CDB: the zone starting at ZONE ID up to the end, or all zones
    if o.all:
        return _WHOLE
    return (LbaRange(o.zone_id, 0, True),)


def _whole(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
    return _WHOLE


def _sanitize(o: Any, _d: bytes | None) -> tuple[LbaRange, ...]:
    return () if o.service_action == 0x1F else _WHOLE


def _populate(o: Any, d: bytes | None) -> tuple[LbaRange, ...]:
    if d is None:
        return _WHOLE
    return _rod_ranges(bytes(d), 16)  # SBC-4: descriptors from byte 16


def _write_using_token(o: Any, d: bytes | None) -> tuple[LbaRange, ...]:
    if d is None:
        return _WHOLE
    # SBC-4: 16-byte header, 512-byte ROD token, 6 reserved, 2-byte length at 534
    return _rod_ranges(bytes(d), 536)


def _xcopy(o: Any, d: bytes | None) -> tuple[LbaRange, ...]:
    from sgguard.scsi.xcopy import xcopy_lba_ranges

    if d is None:
        return _WHOLE
    return xcopy_lba_ranges(bytes(d[: o.parameter_list_length]), lid4=o.service_action == 0x01)


def _ata(o: Any, d: bytes | None) -> tuple[LbaRange, ...]:
    from sgguard.scsi.ata import ata_lba_ranges

    return ata_lba_ranges(o, d)


_RANGE_FUNCS: dict[type, Callable[[Any, bytes | None], tuple[LbaRange, ...]]] = {
    _L.Read6: _rw6,
    _L.Write6: _rw6,
    _L.Read10: _rw("transfer_length"),
    _L.Read12: _rw("transfer_length"),
    _L.Read16: _rw("transfer_length"),
    _L.Read32: _rw("transfer_length"),
    _L.Write10: _rw("transfer_length"),
    _L.Write12: _rw("transfer_length"),
    _L.Write16: _rw("transfer_length"),
    _L.Write32: _rw("transfer_length"),
    _L.WriteAndVerify10: _rw("transfer_length"),
    _L.WriteAndVerify12: _rw("transfer_length"),
    _L.WriteAndVerify16: _rw("transfer_length"),
    _L.WriteAndVerify32: _rw("transfer_length"),
    _L.Verify10: _rw("verification_length"),
    _L.Verify12: _rw("verification_length"),
    _L.Verify16: _rw("verification_length"),
    _L.Verify32: _rw("verification_length"),
    _L.OrWrite16: _rw("transfer_length"),
    _L.OrWrite32: _rw("transfer_length"),
    _L.CompareAndWrite: _rw("number_of_logical_blocks"),
    _L.WriteSame10: _zero_to_end("number_of_logical_blocks"),
    _L.WriteSame16: _zero_to_end("number_of_logical_blocks"),
    _L.WriteSame32: _zero_to_end("number_of_logical_blocks"),
    _L.SynchronizeCache10: _zero_to_end("number_of_logical_blocks"),
    _L.SynchronizeCache16: _zero_to_end("number_of_logical_blocks"),
    _L.PreFetch10: _zero_to_end("prefetch_length"),
    _L.PreFetch16: _zero_to_end("prefetch_length"),
    _L.WriteLong10: _one_block,
    _L.WriteLong16: _one_block,
    _L.Unmap: _unmap,
    _L.GetLbaStatus16: _gls16,
    _L.GetLbaStatus32: _gls32,
    _L.FormatUnit: _whole,
    _L.Sanitize: _sanitize,
    _L.PopulateToken: _populate,
    _L.WriteUsingToken: _write_using_token,
    _L.ExtendedCopy: _xcopy,
    _L.ReadLong10: _one_block,
    _L.ReadLong16: _one_block,
    _L.LockUnlockCache10: _zero_to_end("number_of_logical_blocks"),
    _L.LockUnlockCache16: _zero_to_end("number_of_logical_blocks"),
    _L.WriteStream16: _rw("transfer_length"),
    _L.WriteStream32: _rw("transfer_length"),
    _L.WriteAtomic16: _rw("transfer_length"),
    _L.WriteAtomic32: _rw("transfer_length"),
    _L.XorCommand10: _rw("transfer_length"),
    _L.XorCommand32: _rw("transfer_length"),
    _L.XdWriteExtended16: _rw("transfer_length"),
    _L.SearchData10: _zero_to_end("number_of_blocks"),
    _L.SearchData12: _zero_to_end("number_of_blocks"),
    _L.WriteScattered16: _scattered,
    _L.WriteScattered32: _scattered,
    _L.ReassignBlocks: _reassign,
    _L.ZbcOut: _zbc_out,
    _L.Copy: _whole,
    _L.Compare: _whole,
    _L.CopyAndVerify: _whole,
    _M.Blank: _whole,
    _M.ReadCd: _rw_named("starting_lba", "transfer_length"),
    _M.PlayAudio10: _rw_named("starting_lba", "play_length"),
    _M.PlayAudio12: _rw_named("starting_lba", "play_length"),
    _M.PlayCd: _rw_named("starting_lba", "play_length"),
    _S.FormatMedium: _whole,
    _L.AtaPassThrough12: _ata,
    _L.AtaPassThrough16: _ata,
    _L.AtaPassThrough32: _ata,
}


def _check_table() -> None:
    """Every layout the table names exists (import-time invariant)."""
    for row in COMMANDS:
        for v in row.variants:
            if v.layout is not None and v.layout not in _CLASSES:
                raise RuntimeError(f"table row {row.opcode:02X}h names unknown layout {v.layout}")


_check_table()
