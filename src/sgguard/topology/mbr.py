"""MBR partition tables: the four primary entries, the EBR chain of logical partitions,
protective MBRs in front of a GPT; a parser and a writer, both sans-IO.

Layout (UEFI 2.10 5.2.1 Legacy MBR; the classic IBM PC table): bytes 440-443 disk
signature, 446-509 four 16-byte entries (boot indicator, CHS start, system ID,
CHS end, starting LBA u32le, size in LBA u32le), 510-511 0x55 0xAA. An extended
partition (system ID 0x05, 0x0F or 0x85) holds a chain of EBRs: in each, entry 1
is a logical partition relative to that EBR and entry 2 points at the next EBR
relative to the start of the extended partition. Numbering follows the Linux
kernel: primaries 1-4 by slot, logicals from 5 in chain order.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from sgguard.errors import InputError
from sgguard.topology.model import Partition, PartitionKind, ReadAt

__all__ = [
    "EXTENDED_TYPES",
    "MBR_TYPE_NAMES",
    "MbrEntry",
    "MbrTable",
    "build_mbr",
    "check_overlaps",
    "parse_mbr",
]

EXTENDED_TYPES = frozenset({0x05, 0x0F, 0x85})
PROTECTIVE_TYPE = 0xEE
MAX_LOGICAL = 256  # an EBR chain longer than this is treated as corrupt (loops, garbage)

MBR_TYPE_NAMES: dict[int, str] = {
    0x01: "FAT12",
    0x04: "FAT16 <32M",
    0x05: "Extended",
    0x06: "FAT16",
    0x07: "HPFS/NTFS/exFAT",
    0x0B: "W95 FAT32",
    0x0C: "W95 FAT32 (LBA)",
    0x0E: "W95 FAT16 (LBA)",
    0x0F: "W95 Ext'd (LBA)",
    0x11: "Hidden FAT12",
    0x12: "Compaq diagnostics",
    0x27: "Hidden NTFS WinRE",
    0x42: "SFS",
    0x82: "Linux swap / Solaris",
    0x83: "Linux",
    0x85: "Linux extended",
    0x8E: "Linux LVM",
    0xA5: "FreeBSD",
    0xA6: "OpenBSD",
    0xA8: "Darwin UFS",
    0xA9: "NetBSD",
    0xAF: "HFS / HFS+",
    0xBF: "Solaris",
    0xDA: "Non-FS data",
    0xEE: "GPT",
    0xEF: "EFI (FAT-12/16/32)",
    0xFB: "VMware VMFS",
    0xFC: "VMware VMKCORE",
    0xFD: "Linux raid autodetect",
}

_ENTRY = struct.Struct("<B3sB3sII")


@dataclass(frozen=True, slots=True)
class MbrEntry:
    """One 16-byte MBR entry, in sectors; for the writer, logical entries use absolute LBAs."""

    start_lba: int
    sectors: int
    type_id: int
    bootable: bool = False


@dataclass(frozen=True, slots=True)
class MbrTable:
    disk_signature: int
    partitions: tuple[Partition, ...]
    protective: bool  # a 0xEE entry: a GPT follows (hybrid MBRs included)


def _type_code(type_id: int) -> str:
    return f"0x{type_id:02x}"


def _entries(sector: bytes) -> list[tuple[int, int, int, int]]:
    """(boot, type, start, sectors) of the four entries."""
    out = []
    for i in range(4):
        boot, _chs1, type_id, _chs2, start, size = _ENTRY.unpack_from(sector, 446 + 16 * i)
        out.append((boot, type_id, start, size))
    return out


def _looks_like_boot_sector(sector: bytes) -> bool:
    """A filesystem boot sector (FAT/NTFS volume on the whole disk), not a table."""
    bps = int.from_bytes(sector[11:13], "little")
    return sector[0] in (0xEB, 0xE9) and bps in (512, 1024, 2048, 4096)


def _is_filesystem_boot_sector(sector: bytes) -> bool:
    """Certainly a volume boot record: a jump, a sane BPB and a file system name."""
    return _looks_like_boot_sector(sector) and (
        sector[3:11] in (b"NTFS    ", b"EXFAT   ")
        or sector[54:59] == b"FAT12"
        or sector[54:59] == b"FAT16"
        or sector[82:87] == b"FAT32"
    )


def parse_mbr(read_at: ReadAt, disk_size: int, sector_size: int = 512) -> MbrTable | None:
    """The MBR of the disk, or None when sector 0 carries no 0x55AA table."""
    sector = read_at(0, 512)
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        return None
    if _is_filesystem_boot_sector(sector):
        return None  # a FAT/NTFS/exFAT file system on the whole disk
    entries = _entries(sector)
    if any(t == PROTECTIVE_TYPE for _b, t, _s, _n in entries):
        return MbrTable(int.from_bytes(sector[440:444], "little"), (), True)
    bad = [i for i, (b, t, _s, _n) in enumerate(entries, 1) if t and b not in (0x00, 0x80)]
    if bad:
        if _looks_like_boot_sector(sector):
            return None  # a filesystem on the whole disk: no partition table
        i = bad[0]
        raise InputError(
            f"MBR entry {i}: boot indicator 0x{entries[i - 1][0]:02x} is neither 0x00 nor 0x80"
        )
    disk_sectors = disk_size // sector_size
    parts: list[Partition] = []
    extended: Partition | None = None
    for number, (boot, type_id, start, size) in enumerate(entries, 1):
        if type_id == 0 or size == 0:
            continue
        where = f"MBR partition {number}"
        _check_extent(where, start, size, disk_sectors, sector_size, disk_size)
        kind = PartitionKind.EXTENDED if type_id in EXTENDED_TYPES else PartitionKind.PRIMARY
        part = Partition(
            number=number,
            kind=kind,
            start_byte=start * sector_size,
            size_bytes=size * sector_size,
            type_code=_type_code(type_id),
            type_name=MBR_TYPE_NAMES.get(type_id, ""),
            bootable=boot == 0x80,
        )
        if kind is PartitionKind.EXTENDED:
            if extended is not None:
                raise InputError(
                    f"MBR partitions {extended.number} and {number} are both extended partitions"
                )
            extended = part
        parts.append(part)
    check_overlaps(parts, "MBR")
    if extended is not None:
        logicals = _parse_ebr_chain(read_at, extended, sector_size)
        check_overlaps(logicals, "MBR logical")
        parts.extend(logicals)
    return MbrTable(int.from_bytes(sector[440:444], "little"), tuple(parts), False)


def _check_extent(
    where: str, start: int, size: int, disk_sectors: int, sector_size: int, disk_size: int
) -> None:
    if start == 0:
        raise InputError(f"{where} starts at sector 0, over the partition table itself")
    if start + size > disk_sectors:
        raise InputError(
            f"{where} (sectors {start}-{start + size - 1}) ends beyond the disk "
            f"({disk_size} bytes = {disk_sectors} sectors of {sector_size})"
        )


def _parse_ebr_chain(read_at: ReadAt, ext: Partition, sector_size: int) -> list[Partition]:
    ext_start = ext.start_byte // sector_size
    ext_end = ext_start + ext.size_bytes // sector_size  # exclusive
    out: list[Partition] = []
    seen: set[int] = set()
    ebr = ext_start
    number = 5
    while True:
        if ebr in seen:
            raise InputError(f"MBR extended partition: EBR chain loops back to sector {ebr}")
        if len(seen) >= MAX_LOGICAL:
            raise InputError(f"MBR extended partition: EBR chain longer than {MAX_LOGICAL}")
        seen.add(ebr)
        sector = read_at(ebr * sector_size, 512)
        if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
            if ebr == ext_start:
                return out  # an empty extended partition (never written)
            raise InputError(f"MBR extended partition: EBR at sector {ebr} lacks the 0x55AA mark")
        entries = _entries(sector)
        boot, type_id, rel, size = entries[0]
        if type_id and size:
            if type_id in EXTENDED_TYPES:
                raise InputError(f"EBR at sector {ebr}: first entry is an extended partition")
            start = ebr + rel
            if rel == 0 or start + size > ext_end:
                raise InputError(
                    f"MBR logical partition {number} (sectors {start}-{start + size - 1}) "
                    f"lies outside its extended partition (sectors {ext_start}-{ext_end - 1})"
                )
            out.append(
                Partition(
                    number=number,
                    kind=PartitionKind.LOGICAL,
                    start_byte=start * sector_size,
                    size_bytes=size * sector_size,
                    type_code=_type_code(type_id),
                    type_name=MBR_TYPE_NAMES.get(type_id, ""),
                    bootable=boot == 0x80,
                )
            )
            number += 1
        _b2, next_type, next_rel, _next_size = entries[1]
        if next_type == 0 or next_rel == 0:
            return out
        if next_type not in EXTENDED_TYPES:
            raise InputError(
                f"EBR at sector {ebr}: link entry has system ID 0x{next_type:02x}, "
                "not an extended partition"
            )
        nxt = ext_start + next_rel
        if nxt >= ext_end:
            raise InputError(
                f"EBR at sector {ebr}: next EBR at sector {nxt} is outside the extended "
                f"partition (sectors {ext_start}-{ext_end - 1})"
            )
        ebr = nxt


def check_overlaps(parts: Sequence[Partition], table: str) -> None:
    """InputError naming the first two partitions that share bytes."""
    ordered = sorted(parts, key=lambda p: (p.start_byte, p.number))
    for a, b in itertools.pairwise(ordered):
        if b.start_byte < a.end_byte:
            raise InputError(
                f"{table} partitions {a.number} and {b.number} overlap "
                f"(bytes {a.start_byte}-{a.end_byte - 1} and {b.start_byte}-{b.end_byte - 1})"
            )


def _chs(lba: int) -> bytes:
    """LBA -> CHS with 255 heads, 63 sectors per track; beyond 1023 cylinders, 1023/254/63."""
    c, rem = divmod(lba, 255 * 63)
    h, s = divmod(rem, 63)
    if c > 1023:
        c, h, s = 1023, 254, 62
    return bytes([h, ((c >> 2) & 0xC0) | (s + 1), c & 0xFF])


def _pack_entry(entry: MbrEntry, relative_to: int = 0) -> bytes:
    start = entry.start_lba - relative_to
    if not (0 <= start <= 0xFFFFFFFF and 0 <= entry.sectors <= 0xFFFFFFFF):
        raise InputError(f"MBR entry at sector {entry.start_lba} does not fit 32-bit fields")
    if not 0 <= entry.type_id <= 0xFF:
        raise InputError(f"MBR system ID {entry.type_id} does not fit a byte")
    end = entry.start_lba + max(entry.sectors, 1) - 1
    return _ENTRY.pack(
        0x80 if entry.bootable else 0,
        _chs(entry.start_lba),
        entry.type_id,
        _chs(end),
        start,
        entry.sectors,
    )


def _sector(entries: Sequence[bytes], signature: int | None = None) -> bytes:
    buf = bytearray(512)
    if signature is not None:
        buf[440:444] = signature.to_bytes(4, "little")
    for i, e in enumerate(entries):
        buf[446 + 16 * i : 462 + 16 * i] = e
    buf[510:512] = b"\x55\xaa"
    return bytes(buf)


def build_mbr(
    primaries: Sequence[MbrEntry],
    logicals: Sequence[MbrEntry] = (),
    *,
    disk_signature: int = 0,
    sector_size: int = 512,
) -> list[tuple[int, bytes]]:
    """The sectors to write, as (byte offset, 512 bytes) pairs.

    `primaries` fill slots 1-4 in order (at most one extended entry). `logicals`
    use absolute start sectors inside the extended entry: the first EBR sits at
    the extended partition's first sector, each later EBR in the sector just
    before its logical partition.
    """
    if len(primaries) > 4:
        raise InputError(f"an MBR holds 4 primary entries, not {len(primaries)}")
    exts = [e for e in primaries if e.type_id in EXTENDED_TYPES]
    if len(exts) > 1:
        raise InputError("an MBR holds at most one extended partition")
    writes = [(0, _sector([_pack_entry(e) for e in primaries], disk_signature))]
    if logicals and not exts:
        raise InputError("logical partitions need an extended partition")
    if exts:
        ext = exts[0]
        ebrs = [ext.start_lba] + [lg.start_lba - 1 for lg in logicals[1:]]
        for i, lg in enumerate(logicals):
            ebr = ebrs[i]
            if not (
                ebr < lg.start_lba and lg.start_lba + lg.sectors <= ext.start_lba + ext.sectors
            ):
                raise InputError(
                    f"logical partition at sector {lg.start_lba} does not fit its EBR at {ebr} "
                    "inside the extended partition"
                )
            if i and ebr < logicals[i - 1].start_lba + logicals[i - 1].sectors:
                raise InputError(
                    f"logical partition at sector {lg.start_lba} overlaps the previous"
                )
            entries = [_pack_entry(lg, relative_to=ebr)]
            if i + 1 < len(logicals):
                nxt = ebrs[i + 1]
                last = logicals[i + 1]
                link = MbrEntry(nxt, last.start_lba + last.sectors - nxt, 0x05)
                entries.append(_pack_entry(link, relative_to=ext.start_lba))
            writes.append((ebr * sector_size, _sector(entries)))
        if not logicals:
            writes.append((ext.start_lba * sector_size, _sector([])))
    return writes
