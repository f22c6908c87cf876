"""EXTENDED COPY (LID1) parameter lists: CSCD descriptors, segment descriptors, LBA ranges.

Owns the SPC-4 parameter list of EXTENDED COPY (LID1): the 16-byte
header, the copy source/copy destination (CSCD) descriptors (SPC-4;
identification descriptor E4h with its designator and disk block length), and
the segment descriptors (SPC-4) whose block device side carries LBAs:
block->stream (00h), stream->block (01h), block->block (02h), the offset forms
(08h-0Ah) and the "+application client" forms (0Bh-0Dh). `xcopy_lba_ranges`
returns every block range a copy reads or writes, on any CSCD (the caller
decides which CSCD is which logical unit: `parse_xcopy` gives the details).
EXTENDED COPY (LID4) lists (SPC-4 "EXTENDED COPY(LID4) parameter data") carry a
48-byte header (PARAMETER LIST FORMAT 01h, a 32-byte header CSCD descriptor of
type FFh holding the 4-byte LIST IDENTIFIER at bytes 20-23, and 2-byte CSCD,
segment and inline lengths at bytes 42-47) followed by the same descriptors.
The LID4 length offsets follow other targets' reading of that table; they are
not checked against the standard's text here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sgguard.scsi.layout import ParameterListError
from sgguard.scsi.model import LbaRange

__all__ = [
    "Cscd",
    "Segment",
    "XcopyList",
    "XcopyParameterError",
    "parse_xcopy",
    "xcopy_lba_ranges",
]


class XcopyParameterError(ParameterListError):
    """The EXTENDED COPY parameter list is malformed (INVALID FIELD IN PARAMETER LIST)."""


@dataclass(frozen=True, slots=True)
class Cscd:
    """One CSCD descriptor (SPC-4)."""

    index: int
    type_code: int
    peripheral_device_type: int
    designator: bytes  # for identification descriptors (E4h), else the raw descriptor
    block_length: int | None  # disk block length for block devices


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment descriptor with its block ranges."""

    type_code: int
    source: int  # CSCD index
    destination: int
    source_range: LbaRange | None
    destination_range: LbaRange | None


@dataclass(frozen=True, slots=True)
class XcopyList:
    list_identifier: int
    cscds: tuple[Cscd, ...]
    segments: tuple[Segment, ...]


_SEG_NAMES = {
    0x00: "block->stream",
    0x01: "stream->block",
    0x02: "block->block",
    0x03: "stream->stream",
    0x04: "inline->stream",
    0x05: "embedded->stream",
    0x06: "stream->discard",
    0x07: "verify CSCD",
    0x08: "block<o>->stream",
    0x09: "stream->block<o>",
    0x0A: "block<o>->block<o>",
    0x0B: "block->stream+application client",
    0x0C: "stream->block+application client",
    0x0D: "block->block+application client",
}


def _be(b: bytes, off: int, n: int) -> int:
    return int.from_bytes(b[off : off + n], "big")


def _err(field: str, byte: int, msg: str) -> XcopyParameterError:
    return XcopyParameterError(field, byte, None, msg)


def _cscd_len(type_code: int) -> int:
    # SPC-4: CSCD descriptors are 32 bytes; type codes with 64-byte
    # descriptors: E5h? (no), EAh IPv6, F?h none. Only EAh (IPv6) is 64.
    return 64 if type_code == 0xEA else 32


def parse_xcopy(data: bytes, *, lid4: bool = False) -> XcopyList:
    """Parse an EXTENDED COPY (LID1) or, with `lid4`, (LID4) parameter list (SPC-4)."""
    if lid4:
        if len(data) < 48:
            raise _err("parameter list", 0, f"{len(data)} bytes is shorter than the 48-byte header")
        if data[0] != 0x01:
            raise _err("parameter list format", 0, f"{data[0]:02X}h is not 01h")
        head = 48
        list_id = _be(data, 20, 4)
        cscd_len = _be(data, 42, 2)
        seg_len = _be(data, 44, 2)
        inline_len = _be(data, 46, 2)
    else:
        if len(data) < 16:
            raise _err("parameter list", 0, f"{len(data)} bytes is shorter than the 16-byte header")
        head = 16
        list_id = data[0]
        cscd_len = _be(data, 2, 2)
        seg_len = _be(data, 8, 4)
        inline_len = _be(data, 12, 4)
    if head + cscd_len + seg_len + inline_len > len(data):
        raise _err(
            "segment descriptor list length",
            8,
            f"header lists {cscd_len}+{seg_len}+{inline_len} bytes of descriptors and inline"
            f" data, parameter list has {len(data) - head}",
        )
    cscds: list[Cscd] = []
    off = head
    end = head + cscd_len
    while off < end:
        t = data[off]
        n = _cscd_len(t)
        if off + n > end:
            raise _err("cscd descriptor list length", 2, f"CSCD descriptor at byte {off} truncated")
        d = data[off : off + n]
        pdt = d[1] & 0x1F
        if t == 0xE4:
            desig = bytes(d[4 : 8 + min(d[7], 20)])
            block_len = _be(d, 29, 3) if pdt == 0 else None
        else:
            desig = bytes(d)
            block_len = _be(d, 29, 3) if pdt == 0 and n == 32 else None
        cscds.append(Cscd(len(cscds), t, pdt, desig, block_len or None))
        off += n
    segs: list[Segment] = []
    end = off + seg_len
    while off < end:
        if off + 4 > end:
            raise _err("segment descriptor list length", 8, f"segment at byte {off} truncated")
        t = data[off]
        dlen = _be(data, off + 2, 2)
        d = data[off : off + 4 + dlen]
        if off + 4 + dlen > end:
            raise _err("descriptor length", off + 2, f"segment at byte {off} runs past its list")
        segs.append(_segment(t, d, off, cscds))
        off += 4 + dlen
    return XcopyList(list_id, tuple(cscds), tuple(segs))


def _need(d: bytes, n: int, off: int) -> None:
    if len(d) < n:
        raise _err("descriptor length", off + 2, f"segment at byte {off} needs {n} bytes")


def _bs(cscds: list[Cscd], idx: int) -> int | None:
    return cscds[idx].block_length if 0 <= idx < len(cscds) else None


def _segment(t: int, d: bytes, off: int, cscds: list[Cscd]) -> Segment:
    src = _be(d, 4, 2) if len(d) >= 6 else 0
    dst = _be(d, 6, 2) if len(d) >= 8 else 0
    dc = bool(d[1] & 0x02)
    if t in (0x00, 0x0B):  # block -> stream: block device NUMBER OF BLOCKS 14-15, LBA 16-23
        _need(d, 24, off)
        return Segment(t, src, dst, LbaRange(_be(d, 16, 8), _be(d, 14, 2)), None)
    if t in (0x01, 0x0C):  # stream -> block
        _need(d, 24, off)
        return Segment(t, src, dst, None, LbaRange(_be(d, 16, 8), _be(d, 14, 2)))
    if t in (0x02, 0x0D):  # block -> block: NUMBER OF BLOCKS 10-11, SRC LBA 12-19, DST LBA 20-27
        _need(d, 28, off)
        n = _be(d, 10, 2)
        s_bs, d_bs = _bs(cscds, src), _bs(cscds, dst)
        n_src = n_dst = n
        if s_bs and d_bs and s_bs != d_bs:
            if dc:  # count in destination blocks
                n_src = -(-n * d_bs // s_bs)
            else:
                n_dst = -(-n * s_bs // d_bs)
        return Segment(t, src, dst, LbaRange(_be(d, 12, 8), n_src), LbaRange(_be(d, 20, 8), n_dst))
    if t in (0x08, 0x09, 0x0A):  # byte-offset forms: NUMBER OF BYTES 8-11 (0Ah), LBAs 12-19/20-27
        if t == 0x0A:
            _need(d, 32, off)
            nbytes = _be(d, 8, 4)
            s_bs = _bs(cscds, src) or 512
            d_bs = _bs(cscds, dst) or 512
            s_off, d_off = _be(d, 28, 2), _be(d, 30, 2)
            return Segment(
                t,
                src,
                dst,
                LbaRange(_be(d, 12, 8), -(-(nbytes + s_off) // s_bs)),
                LbaRange(_be(d, 20, 8), -(-(nbytes + d_off) // d_bs)),
            )
        _need(d, 24, off)
        nbytes = _be(d, 8, 4)
        lba = _be(d, 12, 8)
        b_off = _be(d, 22, 2)
        bs = _bs(cscds, src if t == 0x08 else dst) or 512
        rng = LbaRange(lba, -(-(nbytes + b_off) // bs))
        return Segment(t, src, dst, rng if t == 0x08 else None, rng if t == 0x09 else None)
    if t in (0x03, 0x04, 0x05, 0x06, 0x07) or 0x10 <= t <= 0x15:
        return Segment(t, src, dst, None, None)  # stream, tape and verify segments: no LBAs
    # unknown or ROD segment types: assume the worst for both sides
    whole = LbaRange(0, 0, True)
    return Segment(t, src, dst, whole, whole)


def xcopy_lba_ranges(data: bytes, *, lid4: bool = False) -> tuple[LbaRange, ...]:
    """Every block range an EXTENDED COPY parameter list reads or writes."""
    if not data:
        return ()
    lst = parse_xcopy(data, lid4=lid4)
    out: list[LbaRange] = []
    for s in lst.segments:
        for r in (s.source_range, s.destination_range):
            if r is not None and (r.blocks or r.to_end):
                out.append(r)
    return tuple(out)
