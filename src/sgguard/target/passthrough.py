"""SG_IO pass-through flavour of the slice logical unit: rewrite, forward, rewrite back.

Owns the pure rewrite functions that let a slice of a real SCSI disk keep its
SCSI semantics (host-tested; the real device path runs in a lab guest) and
`PassthroughLogicalUnit`, a `LogicalUnit` whose media commands go to the device:

- `rewrite_media_cdb`: a media CDB in slice LBAs -> the CDB(s) for the device:
  LBA shifted by the slice start, transfer length unchanged, the CDB grown
  (6 -> 10 -> 16, 12 -> 16) when the shifted LBA or an explicit length needs a
  wider field, and "zero blocks means to the end of the medium" (WRITE SAME,
  SYNCHRONIZE CACHE, PRE-FETCH) made explicit so it ends at the slice's end
  (split in several CDBs when the count does not fit one).
- `rewrite_unmap_parameters`: UNMAP block descriptors shifted.
- `rewrite_read_capacity10/16`, `rewrite_inquiry`, `rewrite_vpd`,
  `rewrite_lba_status`: device-describing data-in rewritten to describe the slice
  (capacity, lowest aligned LBA, serial number, designators, supported pages,
  GET LBA STATUS descriptors clipped and translated), then truncated to the
  initiator's allocation length.
- `translate_sense`: the INFORMATION field of the device's sense data (an LBA
  for media errors) translated back to the slice, or dropped if it is outside.

Range checks, policy, unit attentions, reservations, mode pages and medium state
stay emulated per slice by `LogicalUnit`; only commands whose ranges
`sgguard.scsi.cdb.lba_ranges` puts inside the slice reach the device.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sgguard.policy import Policy, Refusal
from sgguard.scsi import cdb as codec
from sgguard.scsi import table
from sgguard.scsi.layout import CdbError
from sgguard.scsi.model import Effect
from sgguard.scsi.sense import Asc
from sgguard.target.api import Nexus, Response, Status
from sgguard.target.backend import LbaExtent, LbaState
from sgguard.target.identity import (
    SUPPORTED_VPD_PAGES,
    Identity,
    Limits,
    device_identification_vpd,
    unit_serial_number_vpd,
)
from sgguard.target.lu import _MEDIUM, _NO_UA, _WRITES, CheckCondition, LogicalUnit, build_sense

__all__ = [
    "PassthroughLogicalUnit",
    "SgDeviceLike",
    "SgResultLike",
    "SgioBackend",
    "rewrite_inquiry",
    "rewrite_lba_status",
    "rewrite_media_cdb",
    "rewrite_read_capacity10",
    "rewrite_read_capacity16",
    "rewrite_unmap_parameters",
    "rewrite_vpd",
    "synchronize_cache_cdbs",
    "translate_sense",
    "transport_failed",
]


class SgResultLike(Protocol):
    """What `sgguard.sgio.SgDevice.execute` returns (`sgguard.sgio.SgResult`)."""

    @property
    def status(self) -> int: ...
    @property
    def sense(self) -> bytes: ...
    @property
    def data(self) -> bytes: ...
    @property
    def resid(self) -> int: ...
    @property
    def host_status(self) -> int: ...
    @property
    def driver_status(self) -> int: ...
    @property
    def errno_name(self) -> str | None: ...


class SgDeviceLike(Protocol):
    """The part of `sgguard.sgio.SgDevice` the pass-through uses."""

    def execute(
        self, cdb: bytes, data_out: bytes = b"", data_in_len: int = 0, timeout_ms: int = 20_000
    ) -> SgResultLike: ...


# -- CDB rewriting ----------------------------------------------------------------------------

# 6/10/12-byte opcodes and their 16-byte forms (SBC-4 5.x: same fields, wider LBA and length).
_TO_16 = {
    0x08: 0x88,  # READ (6) -> READ (16)
    0x28: 0x88,
    0xA8: 0x88,
    0x0A: 0x8A,  # WRITE
    0x2A: 0x8A,
    0xAA: 0x8A,
    0x2E: 0x8E,  # WRITE AND VERIFY
    0xAE: 0x8E,
    0x2F: 0x8F,  # VERIFY
    0xAF: 0x8F,
    0x41: 0x93,  # WRITE SAME
    0x35: 0x91,  # SYNCHRONIZE CACHE
    0x34: 0x90,  # PRE-FETCH
}
_TO_10 = {0x08: 0x28, 0x0A: 0x2A}
# Commands where a zero length means "to the end of the medium" (made explicit).
_ZERO_TO_END = frozenset({0x41, 0x93, 0x35, 0x91, 0x34, 0x90})
_ZERO_TO_END_32 = frozenset({0x000D})  # WRITE SAME (32)
_LBA16 = frozenset({0x88, 0x8A, 0x8B, 0x8E, 0x8F, 0x90, 0x91, 0x93, 0x89})
_LBA32_SA = frozenset({0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x000E})
_MEDIA_WRITES = Effect.WRITES_MEDIA | Effect.ERASES


def _fields(cdb: bytes) -> tuple[int, int, int, int, int]:
    """(flags byte, lba, length, group, control) of a 6/10/12/16-byte media CDB."""
    op = cdb[0]
    if op in (0x08, 0x0A):
        lba = ((cdb[1] & 0x1F) << 16) | (cdb[2] << 8) | cdb[3]
        return 0, lba, cdb[4] or 256, 0, cdb[5]
    group = op >> 5
    if group in (1, 2):
        flags, lba, grp, length, control = struct.unpack_from(">xBIBHB", cdb)
        return flags, lba, length, grp & 0x3F, control
    if group == 5:
        flags, lba, length, grp, control = struct.unpack_from(">xBIIBB", cdb)
        return flags, lba, length, grp & 0x3F, control
    flags, lba, length, grp, control = struct.unpack_from(">xBQIBB", cdb)
    return flags, lba, length, grp & 0x3F, control


def transport_failed(res: SgResultLike) -> bool:
    """True when SG_IO says the command never completed on the device.

    host_status is the HBA's DID_* code; the low three bits of driver_status are
    the DRIVER_* code (busy, soft, media, error, invalid, timeout, hard).
    DRIVER_SENSE (0x08) only says sense data came back with a CHECK CONDITION:
    that is the device's own answer, to relay, not a failure of the transport.
    """
    return bool(res.host_status or res.driver_status & 0x07)


def synchronize_cache_cdbs(first: int, blocks: int) -> tuple[bytes, bytes]:
    """SYNCHRONIZE CACHE (16) for a slice, then the (10) form to fall back to.

    Some devices (QEMU's emulated disk among them) know only the 10-byte form. Its
    16-bit NUMBER OF LOGICAL BLOCKS cannot always name the slice: 0 then means "to
    the end of the medium", which flushes more than the slice: harmless for a
    cache flush, which changes no data.
    """
    ten_lba = first if first <= 0xFFFFFFFF else 0
    ten_len = blocks if first <= 0xFFFFFFFF and blocks <= 0xFFFF else 0
    return _cdb16(0x91, 0, first, blocks, 0, 0), _cdb10(0x35, 0, ten_lba, ten_len, 0, 0)


def _cdb16(op: int, flags: int, lba: int, length: int, group: int, control: int) -> bytes:
    return struct.pack(">BBQIBB", op, flags, lba, length, group, control)


def _cdb10(op: int, flags: int, lba: int, length: int, group: int, control: int) -> bytes:
    return struct.pack(">BBIBHB", op, flags, lba, group, length, control)


def rewrite_media_cdb(cdb: bytes, first: int, slice_blocks: int) -> tuple[bytes, ...]:
    """The device CDB(s) for a media CDB already checked against a slice of `slice_blocks`.

    `first` is the slice's first LBA on the device. The transfer length is kept;
    a CDB whose shifted LBA (or explicit length) no longer fits its fields grows
    to the 10- or 16-byte form; a zero "to the end" length becomes the explicit
    count to the slice's end (several CDBs if it exceeds the field).
    """
    op = cdb[0]
    if op == 0x7F:
        sa = (cdb[8] << 8) | cdb[9]
        if sa not in _LBA32_SA:
            raise ValueError(f"variable-length service action {sa:#06x} is not a media command")
        out = bytearray(cdb)
        lba = struct.unpack_from(">Q", cdb, 12)[0]
        struct.pack_into(">Q", out, 12, lba + first)
        length = struct.unpack_from(">I", cdb, 28)[0]
        if sa in _ZERO_TO_END_32 and length == 0:
            return _split32(out, lba, slice_blocks - lba, first)
        return (bytes(out),)
    if op == 0x9E:  # GET LBA STATUS (16): LBA in bytes 2-9
        out = bytearray(cdb)
        struct.pack_into(">Q", out, 2, struct.unpack_from(">Q", cdb, 2)[0] + first)
        return (bytes(out),)
    if op == 0x89:  # COMPARE AND WRITE: LBA in bytes 2-9, one-byte length
        out = bytearray(cdb)
        struct.pack_into(">Q", out, 2, struct.unpack_from(">Q", cdb, 2)[0] + first)
        return (bytes(out),)
    flags, lba, length, group, control = _fields(cdb)
    if op in _ZERO_TO_END and length == 0:
        length = slice_blocks - lba
        if length == 0:
            return ()  # nothing to do: the range is empty at the slice's end
    dev_lba = lba + first
    if op in _LBA16 and op != 0x89:
        if length > 0xFFFFFFFF:
            return _split16(op, flags, dev_lba, length, group, control)
        return (_cdb16(op, flags, dev_lba, length, group, control),)
    if op in (0x08, 0x0A) and dev_lba <= 0x1FFFFF and length <= 256:
        out = bytearray(cdb)
        out[1] = (cdb[1] & 0xE0) | (dev_lba >> 16)
        out[2], out[3] = (dev_lba >> 8) & 0xFF, dev_lba & 0xFF
        return (bytes(out),)
    if op in (0x08, 0x0A) and dev_lba <= 0xFFFFFFFF:
        return (_cdb10(_TO_10[op], 0, dev_lba, length, 0, control),)
    group_code = op >> 5
    if group_code in (1, 2) and dev_lba <= 0xFFFFFFFF and length <= 0xFFFF:
        return (_cdb10(op, flags, dev_lba, length, group, control),)
    if group_code == 5 and dev_lba <= 0xFFFFFFFF:
        return (struct.pack(">BBIIBB", op, flags, dev_lba, length, group, control),)
    op16 = _TO_16.get(op)
    if op16 is None:
        raise ValueError(f"opcode {op:#04x} is not a media command the pass-through rewrites")
    if op in (0x08, 0x0A):
        flags = 0
    if length > 0xFFFFFFFF:
        return _split16(op16, flags, dev_lba, length, group, control)
    return (_cdb16(op16, flags, dev_lba, length, group, control),)


def _split16(
    op: int, flags: int, lba: int, length: int, group: int, control: int
) -> tuple[bytes, ...]:
    out = []
    while length:
        n = min(length, 0xFFFFFFFF)
        out.append(_cdb16(op, flags, lba, n, group, control))
        lba += n
        length -= n
    return tuple(out)


def _split32(template: bytearray, lba: int, length: int, first: int) -> tuple[bytes, ...]:
    out = []
    while length:
        n = min(length, 0xFFFFFFFF)
        c = bytearray(template)
        struct.pack_into(">Q", c, 12, lba + first)
        struct.pack_into(">I", c, 28, n)
        out.append(bytes(c))
        lba += n
        length -= n
    return tuple(out)


def rewrite_unmap_parameters(data: bytes, first: int) -> bytes:
    """UNMAP parameter list with every block descriptor's LBA shifted by `first` (SBC-4 5.32.2)."""
    out = bytearray(data)
    if len(out) < 8:
        return bytes(out)
    bd_len = struct.unpack_from(">H", out, 2)[0]
    for off in range(8, min(8 + bd_len, len(out)) - 15, 16):
        struct.pack_into(">Q", out, off, struct.unpack_from(">Q", out, off)[0] + first)
    return bytes(out)


# -- data-in rewriting -------------------------------------------------------------------------


def rewrite_read_capacity10(data: bytes, slice_blocks: int) -> bytes:
    """READ CAPACITY (10) data (SBC-4 5.19.2) for the slice: the last LBA, the device's block size."""
    if len(data) < 8:
        raise ValueError("READ CAPACITY (10) data is shorter than 8 bytes")
    return struct.pack(">I", min(slice_blocks - 1, 0xFFFFFFFF)) + bytes(data[4:8])


def rewrite_read_capacity16(data: bytes, first: int, slice_blocks: int) -> bytes:
    """READ CAPACITY (16) data (SBC-4 5.20.2) for the slice.

    The RETURNED LOGICAL BLOCK ADDRESS becomes the slice's last LBA and the
    LOWEST ALIGNED LOGICAL BLOCK ADDRESS is recomputed for a slice starting at
    device LBA `first`; everything else (block size, protection, exponents,
    LBPME/LBPRZ) is the device's.
    """
    if len(data) < 16:
        raise ValueError("READ CAPACITY (16) data is shorter than 16 bytes")
    out = bytearray(data[:32].ljust(32, b"\0"))[: max(16, len(data[:32]))]
    struct.pack_into(">Q", out, 0, slice_blocks - 1)
    exponent = out[13] & 0x0F
    if exponent:
        per_physical = 1 << exponent
        lowest = ((out[14] & 0x3F) << 8) | out[15]
        aligned = (lowest - first) % per_physical
        out[14] = (out[14] & 0xC0) | ((aligned >> 8) & 0x3F)
        out[15] = aligned & 0xFF
    return bytes(out)


def rewrite_inquiry(data: bytes, *, third_party_copy: bool = False) -> bytes:
    """Standard INQUIRY data (SPC-5 6.7.2) for a slice: the device's, without what a slice lacks.

    TPGS is cleared (the device's asymmetric access states are not the
    target's), 3PC reflects the target's own copy manager, MULTIP is cleared.
    Vendor, product and revision stay the device's (initiators key quirks on them).
    """
    out = bytearray(data)
    if len(out) > 5:
        out[5] = (out[5] & ~0x38) | (0x08 if third_party_copy else 0)
    if len(out) > 6:
        out[6] &= ~0x10  # MULTIP
    return bytes(out)


def rewrite_vpd(
    page: int,
    data: bytes,
    identity: Identity,
    target_port: str = "",
    *,
    max_transfer: int | None = None,
) -> bytes | None:
    """A VPD page of the device rewritten for the slice; None: the page is not passed on.

    0x00: the device's list filtered to the pages passed on; 0x80 and 0x83: the
    slice's own serial number and designators (never the device's); 0x86, 0xB0,
    0xB1, 0xB2: the device's (limits and characteristics of the medium hold for
    the slice), with MAXIMUM TRANSFER LENGTH lowered to `max_transfer`, the
    limit the unit itself enforces. Other pages (ATA Information, vendor pages, ...) describe the
    whole device and are not passed on.
    """
    if page == 0x80:
        return unit_serial_number_vpd(identity)
    if page == 0x83:
        return device_identification_vpd(identity, target_port)
    if len(data) < 4 or data[1] != page:
        raise ValueError(f"VPD page {page:#04x} from the device is malformed")
    if page == 0x00:
        listed = data[4 : 4 + struct.unpack_from(">H", data, 2)[0]]
        pages = sorted({p for p in listed if p in SUPPORTED_VPD_PAGES} | {0x00, 0x80, 0x83})
        return bytes((data[0], 0x00)) + struct.pack(">H", len(pages)) + bytes(pages)
    if page == 0xB0 and max_transfer is not None and len(data) >= 12:
        out = bytearray(data)
        device_max = struct.unpack_from(">I", out, 8)[0]
        if device_max == 0 or device_max > max_transfer:  # the unit enforces its own limit too
            struct.pack_into(">I", out, 8, max_transfer)
        return bytes(out)
    if page in (0x86, 0xB0, 0xB1, 0xB2):
        return bytes(data)
    return None


def rewrite_lba_status(data: bytes, first: int, slice_blocks: int, start: int) -> bytes:
    """GET LBA STATUS data (SBC-4 5.8.2) of the device, clipped to the slice and translated.

    Descriptors are moved to slice LBAs; parts before `start` (a slice LBA) or
    beyond the slice's end are cut off, descriptors wholly outside dropped.
    """
    if len(data) < 8:
        raise ValueError("GET LBA STATUS data is shorter than its 8-byte header")
    length = struct.unpack_from(">I", data)[0]
    end = min(len(data), 4 + length)
    body = bytearray()
    for off in range(8, end - 15, 16):
        lba, blocks = struct.unpack_from(">QI", data, off)
        status = data[off + 12]
        lo = max(lba, first + start)
        hi = min(lba + blocks, first + slice_blocks)
        if hi <= lo:
            continue
        body += struct.pack(">QIB3x", lo - first, hi - lo, status)
    return struct.pack(">I", len(body) + 4) + bytes(data[4:8]) + bytes(body)


def translate_sense(sense: bytes, first: int, slice_blocks: int) -> bytes:
    """Sense data of a media command with its INFORMATION (an LBA) moved into the slice.

    Fixed format (SPC-5 4.4.3): VALID and INFORMATION; descriptor format
    (SPC-5 4.4.2.2): the information descriptor. An LBA outside the slice is
    never passed on: the field is cleared (VALID=0 / descriptor removed).
    MISCOMPARE sense is kept as is: its INFORMATION is an offset in the data.
    """
    if len(sense) < 8:
        return bytes(sense)
    out = bytearray(sense)
    code = out[0] & 0x7F
    key = (out[2] if code in (0x70, 0x71) else out[1]) & 0x0F
    if key == 0x0E:  # MISCOMPARE: INFORMATION is a byte offset in the data-out, not an LBA
        return bytes(out)
    if code in (0x70, 0x71) and len(out) >= 7:
        if out[0] & 0x80:
            info = struct.unpack_from(">I", out, 3)[0]
            if first <= info < first + slice_blocks:
                struct.pack_into(">I", out, 3, info - first)
            else:
                out[0] &= 0x7F
                out[3:7] = bytes(4)
        return bytes(out)
    if code in (0x72, 0x73):
        descs = bytearray()
        pos, end = 8, min(len(out), 8 + out[7])
        while pos + 2 <= end:
            dlen = out[pos + 1]
            desc = bytearray(out[pos : pos + 2 + dlen])
            if desc[0] == 0x00 and len(desc) >= 12:
                info = struct.unpack_from(">Q", desc, 4)[0]
                if first <= info < first + slice_blocks:
                    struct.pack_into(">Q", desc, 4, info - first)
                else:
                    pos += 2 + dlen
                    continue
            descs += desc
            pos += 2 + dlen
        return bytes(out[:7]) + bytes((len(descs),)) + bytes(descs)
    return bytes(out)


# -- the device as a backend (copy manager, FORMAT UNIT emulation) -------------------------------


class SgioBackend:
    """A slice of a real SCSI device as a `sgguard.target.backend.Backend`, through SG_IO.

    Used where the logical unit needs plain block I/O on the slice (EXTENDED
    COPY, FORMAT UNIT emulated as an unmap of the slice); media commands
    themselves are forwarded by `PassthroughLogicalUnit` with their own flags.
    """

    blocking = True

    def __init__(
        self,
        device: SgDeviceLike,
        first: int,
        num_blocks: int,
        block_size: int,
        *,
        read_only: bool = False,
    ) -> None:
        self.device = device
        self.first = first
        self._num_blocks = num_blocks
        self._block_size = block_size
        self._read_only = read_only

    @property
    def block_size(self) -> int:
        return self._block_size

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def unmap_supported(self) -> bool:
        return True

    def _check(self, lba: int, blocks: int) -> None:
        if lba < 0 or blocks < 0 or lba + blocks > self._num_blocks:
            from sgguard.target.backend import OutOfRangeError

            raise OutOfRangeError(f"sgio slice: blocks [{lba}, +{blocks}) outside the slice")

    def _run(self, cdb: bytes, data_out: bytes = b"", data_in_len: int = 0) -> bytes:
        from sgguard.target.backend import BackendIOError

        res = self.device.execute(cdb, data_out, data_in_len)
        if (
            res.errno_name is not None
            or res.status != 0
            or res.host_status
            or transport_failed(res)
        ):
            raise BackendIOError(f"SG_IO {cdb[:1].hex()} failed: status {res.status:#x}", 5)
        return res.data

    def read(self, lba: int, blocks: int) -> bytes:
        self._check(lba, blocks)
        return self._run(
            _cdb16(0x88, 0, self.first + lba, blocks, 0, 0), b"", blocks * self._block_size
        )

    def write(self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False) -> None:
        blocks = len(data) // self._block_size
        self._check(lba, blocks)
        self._run(_cdb16(0x8A, 0x08 if fua else 0, self.first + lba, blocks, 0, 0), bytes(data))

    def write_same(
        self, lba: int, blocks: int, block: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> None:
        self._check(lba, blocks)
        for cdb in _split16(0x93, 0, self.first + lba, blocks, 0, 0):
            self._run(cdb, bytes(block))

    def punch(self, lba: int, blocks: int) -> None:
        self._check(lba, blocks)
        for cdb in _split16(0x93, 0x08, self.first + lba, blocks, 0, 0):
            self._run(cdb, bytes(self._block_size))

    def lba_status(self, lba: int, max_descriptors: int) -> list[LbaExtent]:
        self._check(lba, 0)
        alloc = 8 + 16 * max_descriptors
        data = self._run(
            struct.pack(">BBQIBB", 0x9E, 0x12, self.first + lba, alloc, 0, 0), b"", alloc
        )
        data = rewrite_lba_status(data, self.first, self._num_blocks, lba)
        out = []
        for off in range(8, len(data) - 15, 16):
            ext_lba, blocks, status = struct.unpack_from(">QIB", data, off)
            state = LbaState.DEALLOCATED if status & 0x0F in (1, 2) else LbaState.MAPPED
            out.append(LbaExtent(ext_lba, blocks, state))
        return out[:max_descriptors]

    def flush(self) -> None:
        sixteen, ten = synchronize_cache_cdbs(self.first, self._num_blocks)
        from sgguard.target.backend import BackendIOError

        try:
            self._run(sixteen)
        except BackendIOError:
            self._run(ten)

    def try_read_nowait(self, lba: int, blocks: int) -> bytes | None:
        return None

    def try_write_nowait(
        self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> bool:
        return False

    def close(self) -> None:
        pass


# -- the logical unit ----------------------------------------------------------------------------

_FORWARDED_MEDIA: tuple[tuple[int, int | None, int], ...] = (
    (0x08, None, _MEDIUM),
    (0x28, None, _MEDIUM),
    (0xA8, None, _MEDIUM),
    (0x88, None, _MEDIUM),
    (0x7F, 0x0009, _MEDIUM),
    (0x0A, None, _MEDIUM | _WRITES),
    (0x2A, None, _MEDIUM | _WRITES),
    (0xAA, None, _MEDIUM | _WRITES),
    (0x8A, None, _MEDIUM | _WRITES),
    (0x7F, 0x000B, _MEDIUM | _WRITES),
    (0x2E, None, _MEDIUM | _WRITES),
    (0xAE, None, _MEDIUM | _WRITES),
    (0x8E, None, _MEDIUM | _WRITES),
    (0x7F, 0x000C, _MEDIUM | _WRITES),
    (0x2F, None, _MEDIUM),
    (0xAF, None, _MEDIUM),
    (0x8F, None, _MEDIUM),
    (0x7F, 0x000A, _MEDIUM),
    (0x41, None, _MEDIUM | _WRITES),
    (0x93, None, _MEDIUM | _WRITES),
    (0x7F, 0x000D, _MEDIUM | _WRITES),
    (0x8B, None, _MEDIUM | _WRITES),
    (0x7F, 0x000E, _MEDIUM | _WRITES),
    (0x89, None, _MEDIUM | _WRITES),
    (0x35, None, _MEDIUM),
    (0x91, None, _MEDIUM),
    (0x34, None, _MEDIUM),
    (0x90, None, _MEDIUM),
)


class PassthroughLogicalUnit(LogicalUnit):
    """A slice of a real SCSI disk: media commands and device descriptions go through SG_IO.

    `device` is an `sgguard.sgio.SgDevice` (or anything with its `execute`);
    `first`/`num_blocks`/`block_size` place the slice on the device. The unit
    checks every command against the slice exactly as `LogicalUnit` does (the
    ranges come from `sgguard.scsi.cdb.lba_ranges`), then forwards the rewritten
    CDB; INQUIRY, READ CAPACITY and GET LBA STATUS answers come from the device
    and are rewritten to describe the slice.
    """

    def __init__(
        self,
        device: SgDeviceLike,
        first: int,
        num_blocks: int,
        block_size: int,
        identity: Identity,
        policy: Policy | None = None,
        *,
        read_only: bool = False,
        limits: Limits | None = None,
        log: Callable[[Refusal], None] | None = None,
        report_luns: Callable[[Nexus], Sequence[int]] | None = None,
        timeout_ms: int = 30_000,
        **delegates: Any,
    ) -> None:
        self.device = device
        self.first = first
        self.timeout_ms = timeout_ms
        backend = SgioBackend(device, first, num_blocks, block_size, read_only=read_only)
        super().__init__(
            backend,
            identity,
            policy,
            read_only=read_only,
            limits=limits,
            log=log,
            report_luns=report_luns,
            **delegates,
        )

    def _handler_for(self, key: tuple[int, int | None]) -> tuple[str, int] | None:
        for op, sa, flags in _FORWARDED_MEDIA:
            if (op, sa) == key:
                return ("_forward_media", flags)
        if key in ((0x12, None), (0x25, None), (0x9E, 0x10), (0x9E, 0x12), (0x42, None)):
            return {
                (0x12, None): ("_pt_inquiry", _NO_UA),
                (0x25, None): ("_pt_read_capacity10", _MEDIUM),
                (0x9E, 0x10): ("_pt_read_capacity16", _MEDIUM),
                (0x9E, 0x12): ("_pt_get_lba_status", _MEDIUM),
                (0x42, None): ("_pt_unmap", _MEDIUM | _WRITES),
            }[key]
        return None

    def _build_dispatch(self) -> None:
        super()._build_dispatch()
        for key in list(self._implemented):
            found = self._handler_for(key)
            if found is None:
                continue
            method, flags = found
            entry = self._entry_for_key(key)
            entry.fn = getattr(self, method)
            entry.flags = flags

    def _entry_for_key(self, key: tuple[int, int | None]) -> Any:
        op, sa = key
        entry = self._ops[op]
        if entry.sa is not None and sa is not None:
            return entry.sa[sa]
        return entry

    # -- forwarding --------------------------------------------------------------------
    def _device(self, cdb: bytes, data_out: bytes, data_in_len: int) -> SgResultLike:
        return self.device.execute(cdb, data_out, data_in_len, self.timeout_ms)

    def _failed(self, res: SgResultLike, nexus: Nexus, cdb: bytes) -> Response | None:
        """None when the device answered; else the CHECK CONDITION for a transport failure."""
        if res.errno_name is None and not transport_failed(res):
            return None
        why = f"SG_IO failed: errno {res.errno_name}, host {res.host_status:#x}, driver {res.driver_status:#x}"
        return self.refuse(nexus, cdb, why, 0x04, Asc.INTERNAL_TARGET_FAILURE.value)

    def _device_response(self, res: SgResultLike, data_in: bytes, data_length: int) -> Response:
        status = (
            Status(res.status)
            if res.status in Status._value2member_map_
            else Status.CHECK_CONDITION
        )
        sense = translate_sense(res.sense, self.first, self._nb) if res.sense else b""
        if status == Status.CHECK_CONDITION and not sense:
            sense = build_sense(0x04, *Asc.INTERNAL_TARGET_FAILURE.value)
        return Response(status, data_in if status == Status.GOOD else b"", sense, data_length)

    def _checked_ranges(self, cdb: bytes, data_out: bytes) -> None:
        try:
            obj = codec.decode(cdb)
            ranges = codec.lba_ranges(obj, data_out or None)
        except CdbError as exc:
            raise CheckCondition(
                0x05, Asc.INVALID_FIELD_IN_CDB.value, field=(exc.byte, exc.bit, True)
            ) from None
        nb = self._nb
        lba_field = getattr(obj, "lba", None)
        if isinstance(lba_field, int) and lba_field > nb:
            raise CheckCondition(
                0x05, Asc.LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE.value, information=lba_field
            )
        for rng in ranges:
            end = nb if rng.to_end else rng.lba + rng.blocks
            if rng.lba > nb or end > nb:
                raise CheckCondition(
                    0x05, Asc.LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE.value, information=rng.lba
                )
            if not rng.to_end and rng.blocks > self._max_xfer and cdb[0] not in _ZERO_TO_END:
                raise CheckCondition(0x05, Asc.INVALID_FIELD_IN_CDB.value)

    def _forward_media(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """Check a media command against the slice, rewrite it and send it to the device."""
        row = table.command_for_cdb(cdb)
        if row is not None and len(cdb) > row.cdb_length:
            cdb = bytes(cdb[: row.cdb_length])  # transports pad CDBs (iSCSI: 16 bytes)
        data = bytes(data_out)
        self._checked_ranges(cdb, data)
        want_out = self.expected_data_out(cdb)
        if want_out == 0 and not (row is not None and row.effects & _MEDIA_WRITES):
            data = b""  # a read without data-out ignores any offered (as LogicalUnit does)
        if len(data) != want_out:
            if cdb[0] == 0x89:  # COMPARE AND WRITE: the data and NUMBER OF LOGICAL BLOCKS disagree
                raise CheckCondition(0x05, Asc.INVALID_FIELD_IN_CDB.value, field=(13, None, True))
            blocks = _partial_write_blocks(cdb, len(data), want_out, self._bs)
            if blocks is None:
                raise CheckCondition(0x05, Asc.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT.value)
            if blocks == 0:
                return Response(Status.GOOD, b"", b"", want_out)  # nothing arrived to write
            # WRITE / WRITE AND VERIFY / ORWRITE write the whole blocks received (as
            # LogicalUnit does): the device gets a CDB for exactly those blocks
            cdb = _with_transfer_length(cdb, blocks)
            data = data[: blocks * self._bs]
        data_in_len = _data_in_length(cdb, self._bs)
        cdbs = rewrite_media_cdb(cdb, self.first, self._nb)
        if not cdbs:
            return Response(Status.GOOD, b"", b"", 0)
        res: SgResultLike | None = None
        for device_cdb in cdbs:
            res = self._device(device_cdb, data, data_in_len)
            failed = self._failed(res, nexus, cdb)
            if failed is not None:
                return failed
            if res.status != 0:
                break
        assert res is not None
        if res.status == 0 and self._force_fua and row is not None and row.effects & _MEDIA_WRITES:
            # the emulated Caching mode page says WCE=0: make the write durable before GOOD
            for sync in synchronize_cache_cdbs(self.first, self._nb):
                res_sync = self._device(sync, b"", 0)
                failed = self._failed(res_sync, nexus, cdb)
                if failed is not None:
                    return failed
                if res_sync.status == 0:
                    break
            if res_sync.status != 0:
                return self._device_response(res_sync, b"", 0)
        return self._device_response(res, res.data, data_in_len or want_out)

    def _pt_unmap(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """UNMAP: checked by the slice logic, then forwarded with shifted descriptors."""
        cdb = bytes(cdb[:10])
        plen = struct.unpack_from(">H", cdb, 7)[0]
        data = bytes(data_out[:plen])
        self._checked_ranges(cdb, data)
        if not data:
            return Response(Status.GOOD, b"", b"", plen)
        if len(data) < 8:
            raise CheckCondition(0x05, Asc.PARAMETER_LIST_LENGTH_ERROR.value)
        param = rewrite_unmap_parameters(data, self.first)
        res = self._device(
            bytes(cdb[:7]) + struct.pack(">H", len(param)) + bytes(cdb[9:10]), param, 0
        )
        return self._failed(res, nexus, cdb) or self._device_response(res, b"", plen)

    def _describe(
        self, cdb: bytes, nexus: Nexus, device_cdb: bytes, data_in_len: int
    ) -> bytes | Response:
        res = self._device(device_cdb, b"", data_in_len)
        failed = self._failed(res, nexus, cdb)
        if failed is not None:
            return failed
        if res.status != 0:
            return self._device_response(res, b"", 0)
        return res.data

    def _pt_inquiry(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """INQUIRY from the device, rewritten to describe the slice (SPC-5 6.7)."""
        evpd, page = cdb[1] & 0x01, cdb[2]
        alloc = struct.unpack_from(">H", cdb, 3)[0]
        if cdb[1] & 0x02 or (not evpd and page):
            raise CheckCondition(
                0x05, Asc.INVALID_FIELD_IN_CDB.value, field=(1 if cdb[1] & 2 else 2, None, True)
            )
        if evpd and page in (0x80, 0x83):
            full = rewrite_vpd(page, b"", self.identity, nexus.target)
            assert full is not None
            return Response(Status.GOOD, full[:alloc], b"", len(full))
        if evpd and page not in SUPPORTED_VPD_PAGES:
            raise CheckCondition(0x05, Asc.INVALID_FIELD_IN_CDB.value, field=(2, None, True))
        big = 0xFFFF
        got = self._describe(cdb, nexus, struct.pack(">BBBHB", 0x12, evpd, page, big, cdb[5]), big)
        if isinstance(got, Response):
            return got
        if evpd:
            try:
                rewritten = rewrite_vpd(
                    page, got, self.identity, nexus.target, max_transfer=self._max_xfer
                )
            except ValueError:
                rewritten = None
            if rewritten is None:
                raise CheckCondition(0x05, Asc.INVALID_FIELD_IN_CDB.value, field=(2, None, True))
        else:
            rewritten = rewrite_inquiry(got, third_party_copy=self.copy_manager is not None)
        return Response(Status.GOOD, rewritten[:alloc], b"", len(rewritten))

    def _pt_read_capacity10(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """READ CAPACITY (10) from the device, rewritten for the slice."""
        got = self._describe(cdb, nexus, bytes((0x25,)) + bytes(9), 8)
        if isinstance(got, Response):
            return got
        try:
            data = rewrite_read_capacity10(got, self._nb)
        except ValueError as exc:
            return self.refuse(
                nexus, cdb, f"device READ CAPACITY: {exc}", 0x04, Asc.INTERNAL_TARGET_FAILURE.value
            )
        return Response(Status.GOOD, data, b"", 8)

    def _pt_read_capacity16(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """READ CAPACITY (16) from the device, rewritten for the slice (lowest aligned LBA too)."""
        alloc = struct.unpack_from(">I", cdb, 10)[0]
        got = self._describe(cdb, nexus, struct.pack(">BBQIBB", 0x9E, 0x10, 0, 32, 0, 0), 32)
        if isinstance(got, Response):
            return got
        try:
            data = rewrite_read_capacity16(got, self.first, self._nb)
        except ValueError as exc:
            return self.refuse(
                nexus,
                cdb,
                f"device READ CAPACITY (16): {exc}",
                0x04,
                Asc.INTERNAL_TARGET_FAILURE.value,
            )
        return Response(Status.GOOD, data[:alloc], b"", len(data))

    def _pt_get_lba_status(self, cdb: bytes, data_out: Any, nexus: Nexus) -> Response:
        """GET LBA STATUS from the device: descriptors clipped to the slice and translated."""
        lba = struct.unpack_from(">Q", cdb, 2)[0]
        alloc = struct.unpack_from(">I", cdb, 10)[0]
        if lba >= self._nb:
            raise CheckCondition(
                0x05, Asc.LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE.value, information=lba
            )
        device_cdb = rewrite_media_cdb(cdb, self.first, self._nb)[0]
        ask = max(alloc, 24)
        device_cdb = device_cdb[:10] + struct.pack(">I", ask) + device_cdb[14:]
        got = self._describe(cdb, nexus, device_cdb, ask)
        if isinstance(got, Response):
            return got
        try:
            data = rewrite_lba_status(got, self.first, self._nb, lba)
        except ValueError as exc:
            return self.refuse(
                nexus, cdb, f"device GET LBA STATUS: {exc}", 0x04, Asc.INTERNAL_TARGET_FAILURE.value
            )
        return Response(Status.GOOD, data[:alloc], b"", len(data))


# Data-out media writes whose received prefix of whole blocks can be written alone.
_PARTIAL_WRITES = frozenset({0x0A, 0x2A, 0xAA, 0x8A, 0x2E, 0xAE, 0x8E, 0x8B})
_PARTIAL_WRITES_32 = frozenset({0x000B, 0x000C, 0x000E})


def _partial_write_blocks(cdb: bytes, got: int, want: int, block_size: int) -> int | None:
    """Blocks to write when `got` bytes of data-out arrived for a CDB asking `want`; None: refuse.

    Only WRITE, WRITE AND VERIFY and ORWRITE: more data than asked is cut to the
    transfer length, less writes its whole blocks; part of a block is refused.
    """
    op = cdb[0]
    if op == 0x7F:
        if len(cdb) < 10 or (cdb[8] << 8 | cdb[9]) not in _PARTIAL_WRITES_32:
            return None
    elif op not in _PARTIAL_WRITES:
        return None
    if got > want:
        return want // block_size
    if got % block_size:
        return None
    return got // block_size


def _with_transfer_length(cdb: bytes, blocks: int) -> bytes:
    """`cdb` (a WRITE-family CDB of `_partial_write_blocks`) with TRANSFER LENGTH `blocks`."""
    out = bytearray(cdb)
    op = out[0]
    if op == 0x0A:
        out[4] = blocks & 0xFF  # 1..255 (256 is only ever the full request: 0 stays)
    elif op in (0x2A, 0x2E):
        struct.pack_into(">H", out, 7, blocks)
    elif op in (0xAA, 0xAE):
        struct.pack_into(">I", out, 6, blocks)
    elif op == 0x7F:
        struct.pack_into(">I", out, 28, blocks)
    else:
        struct.pack_into(">I", out, 10, blocks)
    return bytes(out)


def _data_in_length(cdb: bytes, block_size: int) -> int:
    op = cdb[0]
    if op in (0x08, 0x28, 0xA8, 0x88):
        _, _, length, _, _ = _fields(cdb)
        return length * block_size
    if op == 0x7F and (cdb[8] << 8 | cdb[9]) == 0x0009:
        length32: int = struct.unpack_from(">I", cdb, 28)[0]
        return length32 * block_size
    return 0
