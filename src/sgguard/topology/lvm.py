"""LVM2 physical volumes found on a disk: label, PV header, metadata area, VG metadata,
and the byte ranges of logical volumes' extents.

Owns the on-disk format as LVM2 writes it (lib/format_text/layout.h, described in
LVM2's doc/lvm2-format and lvm(8)): a 512-byte label in one of the PV's first four
sectors (``LABELONE``, its own sector number, CRC of bytes 20-511, offset of the
PV header, type ``LVM2 001``); the PV header (32-character PV UUID, device size,
zero-terminated lists of data areas and metadata areas, each (offset, size) in
bytes from the PV start); in each metadata area a 512-byte header (CRC of bytes
4-511, magic `` LVM2 x[5A%r0N*>``, version 1, start, size, raw locations) whose
first raw location points at the current text metadata in a circular buffer (the
text wraps to just after the header). All CRCs are LVM2's: CRC-32 (polynomial
0xEDB88320) from the initial value 0xF597A6CF without final inversion.

Segments of type "striped" with one stripe are linear; only those become slices.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from dataclasses import dataclass

from sgguard.errors import InputError
from sgguard.topology.lvmconfig import Section, parse_config
from sgguard.topology.model import (
    Layout,
    LogicalVolume,
    PartitionKind,
    PhysicalVolume,
    ReadAt,
    Segment,
    Slice,
    Stripe,
    VolumeGroup,
)

__all__ = ["LabelInfo", "lv_extents", "lv_slice", "lvm_crc", "read_pv", "scan"]

LABEL_ID = b"LABELONE"
LABEL_TYPE = b"LVM2 001"
LABEL_SCAN_SECTORS = 4
SECTOR = 512  # LVM2 counts its own offsets in 512-byte sectors whatever the device's
INITIAL_CRC = 0xF597A6CF
MDA_MAGIC = b" LVM2 x[5A%r0N*>"
MDA_HEADER_SIZE = 512
RAW_LOCN_IGNORED = 0x1
MAX_METADATA = 16 << 20
MAX_AREAS = 64


def lvm_crc(data: bytes, initial: int = INITIAL_CRC) -> int:
    """LVM2's calc_crc: reflected CRC-32 from `initial`, no final XOR.

    zlib's crc32 inverts on entry and exit, so invert around it.
    """
    return zlib.crc32(data, initial ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class LabelInfo:
    """One PV found on the disk and the metadata text it carries."""

    disk_byte: int  # where the PV starts on the disk
    partition: int | None
    uuid: str  # 32 characters, no dashes
    device_size: int
    data_areas: tuple[tuple[int, int], ...]
    metadata: Section | None  # None when no usable metadata area
    seqno: int


def _areas(buf: bytes, pos: int, what: str) -> tuple[list[tuple[int, int]], int]:
    out: list[tuple[int, int]] = []
    while True:
        if pos + 16 > len(buf):
            raise InputError(f"{what}: area list runs off the label sector")
        off, size = struct.unpack_from("<QQ", buf, pos)
        pos += 16
        if off == 0:
            return out, pos
        if len(out) >= MAX_AREAS:
            raise InputError(f"{what}: more than {MAX_AREAS} areas")
        out.append((off, size))


def read_pv(
    read_at: ReadAt, pv_start: int, pv_size: int, partition: int | None
) -> LabelInfo | None:
    """The PV at `pv_start` (absolute byte), or None if no LVM2 label is there.

    Raises InputError when a label is present but damaged.
    """
    where = f"LVM2 PV at byte {pv_start}"
    for sector in range(LABEL_SCAN_SECTORS):
        buf = read_at(pv_start + sector * SECTOR, SECTOR)
        if len(buf) == SECTOR and buf[:8] == LABEL_ID:
            break
    else:
        return None
    sector_xl, crc_xl, offset_xl = struct.unpack_from("<QII", buf, 8)
    if sector_xl != sector:
        raise InputError(f"{where}: label in sector {sector} says it is in sector {sector_xl}")
    if lvm_crc(buf[20:]) != crc_xl:
        raise InputError(
            f"{where}: label CRC 0x{crc_xl:08x} does not match (0x{lvm_crc(buf[20:]):08x})"
        )
    if buf[24:32] != LABEL_TYPE:
        raise InputError(f"{where}: label type {buf[24:32]!r} is not {LABEL_TYPE!r}")
    if not 32 <= offset_xl <= SECTOR - 56:
        raise InputError(f"{where}: PV header offset {offset_xl} out of range")
    uuid = buf[offset_xl : offset_xl + 32].decode("ascii", "replace")
    (device_size,) = struct.unpack_from("<Q", buf, offset_xl + 32)
    data_areas, pos = _areas(buf, offset_xl + 40, where)
    meta_areas, _pos = _areas(buf, pos, where)
    best: tuple[int, Section] | None = None
    problems: list[str] = []
    for mda_off, mda_size in meta_areas:
        try:
            found = _read_mda(read_at, pv_start, mda_off, mda_size, pv_size, where)
        except InputError as exc:
            problems.append(str(exc))
            continue
        if found is not None and (best is None or found[0] > best[0]):
            best = found
    if best is None and problems:
        raise InputError("; ".join(problems))
    return LabelInfo(
        disk_byte=pv_start,
        partition=partition,
        uuid=uuid,
        device_size=device_size,
        data_areas=tuple(data_areas),
        metadata=None if best is None else best[1],
        seqno=-1 if best is None else best[0],
    )


def _read_mda(
    read_at: ReadAt, pv_start: int, mda_off: int, mda_size: int, pv_size: int, where: str
) -> tuple[int, Section] | None:
    if mda_size < MDA_HEADER_SIZE or mda_off > pv_size or mda_size > pv_size - mda_off:
        raise InputError(f"{where}: metadata area {mda_off}+{mda_size} does not fit the PV")
    hdr = read_at(pv_start + mda_off, MDA_HEADER_SIZE)
    if len(hdr) != MDA_HEADER_SIZE:
        raise InputError(f"{where}: metadata area header at {mda_off} is truncated")
    (checksum,) = struct.unpack_from("<I", hdr, 0)
    if lvm_crc(hdr[4:]) != checksum:
        raise InputError(f"{where}: metadata area header at {mda_off} has a bad CRC")
    if hdr[4:20] != MDA_MAGIC:
        raise InputError(f"{where}: metadata area header at {mda_off} has no LVM2 magic")
    version, start, size = struct.unpack_from("<IQQ", hdr, 20)
    if version != 1 or start != mda_off or size != mda_size:
        raise InputError(
            f"{where}: metadata area header at {mda_off} disagrees with the PV header "
            f"(version {version}, start {start}, size {size})"
        )
    offset, length, text_crc, flags = struct.unpack_from("<QQII", hdr, 40)
    if offset == 0 or flags & RAW_LOCN_IGNORED:
        return None  # empty (PV not in a VG yet) or ignored metadata area
    ring = mda_size - MDA_HEADER_SIZE
    if not MDA_HEADER_SIZE <= offset < mda_size or length > min(ring, MAX_METADATA):
        raise InputError(f"{where}: metadata text location {offset}+{length} is invalid")
    first = min(length, mda_size - offset)
    text = read_at(pv_start + mda_off + offset, first)
    if first < length:  # wrapped around the circular buffer
        text += read_at(pv_start + mda_off + MDA_HEADER_SIZE, length - first)
    if len(text) != length:
        raise InputError(f"{where}: metadata text is truncated")
    if lvm_crc(text) != text_crc:
        raise InputError(f"{where}: metadata text CRC 0x{text_crc:08x} does not match")
    try:
        decoded = text.rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: metadata text is not UTF-8") from None
    config = parse_config(decoded, where=f"{where} metadata")
    vgs = [k for k, v in config.items() if isinstance(v, dict)]
    if len(vgs) != 1:
        raise InputError(f"{where}: metadata names {len(vgs)} volume groups, expected 1")
    vg = config[vgs[0]]
    assert isinstance(vg, dict)
    seqno = vg.get("seqno")
    if not isinstance(seqno, int):
        raise InputError(f"{where}: VG {vgs[0]} metadata lacks seqno")
    return seqno, config


def _int(sec: Section, key: str, where: str) -> int:
    v = sec.get(key)
    if not isinstance(v, int) or v < 0:
        raise InputError(f"{where}: {key} is missing or not a non-negative integer")
    return v


def _str(sec: Section, key: str, where: str, default: str | None = None) -> str:
    v = sec.get(key, default)
    if not isinstance(v, str):
        raise InputError(f"{where}: {key} is missing or not a string")
    return v


def _strs(sec: Section, key: str) -> tuple[str, ...]:
    v = sec.get(key, [])
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()


def _sub(sec: Section, key: str) -> Section:
    v = sec.get(key, {})
    return v if isinstance(v, dict) else {}


def _vg_from_metadata(config: Section, found: dict[str, LabelInfo], disk_size: int) -> VolumeGroup:
    name = next(k for k, v in config.items() if isinstance(v, dict))
    vg = config[name]
    assert isinstance(vg, dict)
    where = f"LVM2 VG {name}"
    extent_size = _int(vg, "extent_size", where) * SECTOR
    if extent_size == 0:
        raise InputError(f"{where}: extent_size is 0")
    pvs: dict[str, PhysicalVolume] = {}
    for pv_name, pv in _sub(vg, "physical_volumes").items():
        if not isinstance(pv, dict):
            continue
        pw = f"{where} PV {pv_name}"
        uuid = _str(pv, "id", pw)
        label = found.get(uuid.replace("-", ""))
        pe_start = _int(pv, "pe_start", pw) * SECTOR
        pe_count = _int(pv, "pe_count", pw)
        size = label.device_size if label else _int(pv, "dev_size", pw) * SECTOR
        if label is not None and pe_start + pe_count * extent_size > label.device_size:
            raise InputError(
                f"{pw}: {pe_count} extents of {extent_size} bytes from byte {pe_start} "
                f"exceed the PV's {label.device_size} bytes"
            )
        pvs[pv_name] = PhysicalVolume(
            name=pv_name,
            uuid=uuid,
            device=_str(pv, "device", pw, ""),
            pe_start_byte=pe_start,
            pe_count=pe_count,
            disk_byte=label.disk_byte if label else None,
            partition=label.partition if label else None,
            size_bytes=size,
        )
    lvs: list[LogicalVolume] = []
    for lv_name, lv in _sub(vg, "logical_volumes").items():
        if not isinstance(lv, dict):
            continue
        lw = f"{where} LV {lv_name}"
        segs: list[Segment] = []
        count = _int(lv, "segment_count", lw)
        for i in range(1, count + 1):
            seg = lv.get(f"segment{i}")
            if not isinstance(seg, dict):
                raise InputError(f"{lw}: segment{i} is missing")
            sw = f"{lw} segment{i}"
            seg_type = _str(seg, "type", sw)
            start_extent = _int(seg, "start_extent", sw)
            extent_count = _int(seg, "extent_count", sw)
            stripes: list[Stripe] = []
            raw = seg.get("stripes")
            if isinstance(raw, list):
                if len(raw) % 2:
                    raise InputError(f"{sw}: stripes list has an odd number of items")
                n_stripes = len(raw) // 2
                if n_stripes == 0 or extent_count % n_stripes:
                    raise InputError(f"{sw}: {extent_count} extents over {n_stripes} stripes")
                per_stripe = extent_count // n_stripes
                for k in range(0, len(raw), 2):
                    pv_ref, pe = raw[k], raw[k + 1]
                    if not isinstance(pv_ref, str) or not isinstance(pe, int) or pe < 0:
                        raise InputError(f"{sw}: stripe {k // 2} is not (PV name, extent)")
                    pv_obj = pvs.get(pv_ref)
                    if pv_obj is None:
                        raise InputError(f"{sw}: stripe on unknown PV {pv_ref!r}")
                    if pe + per_stripe > pv_obj.pe_count:
                        raise InputError(
                            f"{sw}: extents {pe}-{pe + per_stripe - 1} beyond PV {pv_ref}'s "
                            f"{pv_obj.pe_count} extents"
                        )
                    disk_byte = (
                        None
                        if pv_obj.disk_byte is None
                        else pv_obj.disk_byte + pv_obj.pe_start_byte + pe * extent_size
                    )
                    if disk_byte is not None and disk_byte + per_stripe * extent_size > disk_size:
                        raise InputError(f"{sw}: extents end beyond the disk")
                    stripes.append(Stripe(pv_ref, pe, disk_byte))
            stripe_size = seg.get("stripe_size", 0)
            segs.append(
                Segment(
                    start_extent=start_extent,
                    extent_count=extent_count,
                    type=seg_type,
                    stripes=tuple(stripes),
                    stripe_size_bytes=stripe_size * SECTOR if isinstance(stripe_size, int) else 0,
                )
            )
        lvs.append(
            LogicalVolume(
                vg=name,
                name=lv_name,
                uuid=_str(lv, "id", lw, ""),
                extent_size=extent_size,
                segments=tuple(segs),
                status=_strs(lv, "status"),
            )
        )
    _check_extent_overlaps(where, lvs)
    return VolumeGroup(
        name=name,
        uuid=_str(vg, "id", where, ""),
        seqno=_int(vg, "seqno", where),
        extent_size=extent_size,
        pvs=tuple(pvs.values()),
        lvs=tuple(lvs),
    )


def _check_extent_overlaps(where: str, lvs: list[LogicalVolume]) -> None:
    used: list[tuple[str, int, int, str]] = []
    for lv in lvs:
        for seg in lv.segments:
            if not seg.stripes:
                continue
            per = seg.extent_count // len(seg.stripes)
            for s in seg.stripes:
                used.append((s.pv, s.start_extent, s.start_extent + per, lv.name))
    used.sort()
    for a, b in itertools.pairwise(used):
        if a[0] == b[0] and b[1] < a[2]:
            raise InputError(
                f"{where}: LVs {a[3]} and {b[3]} share extents {b[1]}-{min(a[2], b[2]) - 1} "
                f"of PV {a[0]}"
            )


def scan(read_at: ReadAt, layout: Layout) -> tuple[tuple[VolumeGroup, ...], list[str]]:
    """LVM2 PVs on the whole disk and on each partition, grouped into VGs.

    A damaged PV label or metadata area is reported as a warning (the partition
    table stays usable); `lv_slice` repeats those warnings when it cannot find
    the LV asked for.
    """
    candidates: list[tuple[int, int, int | None]] = [(0, layout.size_bytes, None)]
    for p in layout.partitions:
        if p.kind is not PartitionKind.EXTENDED:
            candidates.append((p.start_byte, p.size_bytes, p.number))
    warnings: list[str] = []
    labels: list[LabelInfo] = []
    for start, size, number in candidates:
        try:
            info = read_pv(read_at, start, size, number)
        except InputError as exc:
            warnings.append(str(exc))
            continue
        if info is None:
            continue
        if number is None and layout.partitions:
            warnings.append(
                "LVM2 label on the whole disk and a partition table: ignoring the whole-disk PV"
            )
            continue
        labels.append(info)
    found = {lab.uuid: lab for lab in labels}
    latest: dict[str, tuple[int, Section]] = {}
    for lab in labels:
        if lab.metadata is None:
            continue
        name = next(k for k, v in lab.metadata.items() if isinstance(v, dict))
        vg = lab.metadata[name]
        assert isinstance(vg, dict)
        key = str(vg.get("id", name))
        if key not in latest or lab.seqno > latest[key][0]:
            latest[key] = (lab.seqno, lab.metadata)
    vgs: list[VolumeGroup] = []
    for _seq, config in latest.values():
        try:
            vgs.append(_vg_from_metadata(config, found, layout.size_bytes))
        except InputError as exc:
            warnings.append(str(exc))
    return tuple(sorted(vgs, key=lambda v: v.name)), warnings


def lv_extents(layout: Layout, spec: str) -> tuple[Slice, ...]:
    """The disk byte ranges of logical volume `vg/lv`, in LV order (adjacent ones merged).

    Every segment must be linear and on this disk.
    """
    vg_name, sep, lv_name = spec.partition("/")
    if not sep or not vg_name or not lv_name:
        raise InputError(f"lv={spec!r}: expected VG/LV")
    vg = next((v for v in layout.volume_groups if v.name == vg_name), None)
    if vg is None:
        have = ", ".join(v.name for v in layout.volume_groups) or "none"
        extra = f"; LVM2 problems: {'; '.join(layout.warnings)}" if layout.warnings else ""
        raise InputError(f"{layout.source} has no volume group {vg_name!r} (VGs: {have}){extra}")
    lv = next((v for v in vg.lvs if v.name == lv_name), None)
    if lv is None:
        have = ", ".join(v.name for v in vg.lvs) or "none"
        raise InputError(f"volume group {vg_name} has no LV {lv_name!r} (LVs: {have})")
    if not lv.segments:
        raise InputError(f"LV {spec} has no segments")
    ranges: list[tuple[int, int]] = []
    expect = 0
    for i, seg in enumerate(sorted(lv.segments, key=lambda s: s.start_extent), 1):
        if seg.start_extent != expect:
            raise InputError(
                f"LV {spec} segment {i} starts at extent {seg.start_extent}, not {expect}"
            )
        expect += seg.extent_count
        if not seg.is_linear:
            raise InputError(
                f"LV {spec} segment {i} is {seg.type} with {len(seg.stripes)} stripes; "
                "only linear segments can be exported"
            )
        disk_byte = seg.stripes[0].disk_byte
        if disk_byte is None:
            raise InputError(
                f"LV {spec} segment {i} lies on PV {seg.stripes[0].pv}, which is not on this disk"
            )
        size = seg.extent_count * lv.extent_size
        if ranges and ranges[-1][0] + ranges[-1][1] == disk_byte:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + size)
        else:
            ranges.append((disk_byte, size))
    n = len(ranges)
    return tuple(
        Slice(start, size, f"{layout.source} LV {spec}" + (f" part {k}/{n}" if n > 1 else ""))
        for k, (start, size) in enumerate(ranges, 1)
    )


def lv_slice(layout: Layout, spec: str) -> Slice:
    """The bytes of logical volume `vg/lv`: linear segments, contiguous on this disk."""
    extents = lv_extents(layout, spec)
    if len(extents) > 1:
        where = ", ".join(f"{s.start_byte}+{s.size_bytes}" for s in extents)
        raise InputError(
            f"LV {spec} is not contiguous on the disk (byte ranges {where}); "
            "export it as a concatenation (resolve_extents)"
        )
    return extents[0]
