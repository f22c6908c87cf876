"""GUID Partition Tables: header and entry array parsing with CRC32 checks and backup
fallback, partition type names, and a writer (protective MBR + primary + backup GPT).

UEFI 2.10 5.3.2 GPT Header: signature "EFI PART", revision 1.0, header size, header
CRC32 (over the header with the field zeroed), MyLBA, AlternateLBA, FirstUsableLBA,
LastUsableLBA, DiskGUID, PartitionEntryLBA, NumberOfPartitionEntries,
SizeOfPartitionEntry, PartitionEntryArrayCRC32. UEFI 2.10 5.3.3 GPT Partition Entry:
PartitionTypeGUID, UniquePartitionGUID, StartingLBA, EndingLBA (inclusive),
Attributes, PartitionName (36 UTF-16LE code units). GUIDs are stored with their first
three fields little-endian. UEFI 5.3.2: a bad primary is recovered from the backup at
the disk's last LBA. Sans-IO except `build_gpt_image`, which writes a sparse file.
"""

from __future__ import annotations

import itertools
import os
import struct
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from sgguard.errors import InputError
from sgguard.topology.mbr import MbrEntry, build_mbr, check_overlaps
from sgguard.topology.model import Layout, Partition, PartitionKind, ReadAt

__all__ = [
    "GPT_TYPE_NAMES",
    "LINUX_FILESYSTEM",
    "GptPartitionSpec",
    "GptTable",
    "build_gpt",
    "build_gpt_image",
    "format_guid",
    "parse_gpt",
]

SIGNATURE = b"EFI PART"
REVISION = 0x00010000
HEADER_SIZE = 92
ENTRY_SIZE = 128
NUM_ENTRIES = 128
MAX_ARRAY_BYTES = 1 << 20  # refuse entry arrays larger than 1 MiB (garbage headers)

LINUX_FILESYSTEM = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

GPT_TYPE_NAMES: dict[str, str] = {
    "C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
    "21686148-6449-6E6F-744E-656564454649": "BIOS boot",
    "024DEE41-33E7-11D3-9D69-0008C781F39F": "MBR partition scheme",
    LINUX_FILESYSTEM: "Linux filesystem",
    "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
    "E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
    "A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
    "CA7D7CCB-63ED-4C53-861C-1742536059CC": "Linux LUKS",
    "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
    "44479540-F297-41B2-9AF7-D131D5F0458A": "Linux root (x86)",
    "B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM64)",
    "8484680C-9521-48C6-9C11-B0720656F69E": "Linux /usr (x86-64)",
    "933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux /home",
    "3B8F8425-20E0-4F3B-907F-1A25A76F98E8": "Linux /srv",
    "BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
    "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
    "E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
    "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows recovery",
    "48465300-0000-11AA-AA11-00306543ECAC": "Apple HFS/HFS+",
    "7C3457EF-0000-11AA-AA11-00306543ECAC": "Apple APFS",
    "6A898CC3-1DD2-11B2-99A6-080020736631": "Solaris /usr & Apple ZFS",
    "516E7CB5-6ECF-11D6-8FF8-00022D09712B": "FreeBSD swap",
    "516E7CB6-6ECF-11D6-8FF8-00022D09712B": "FreeBSD UFS",
    "516E7CBA-6ECF-11D6-8FF8-00022D09712B": "FreeBSD ZFS",
}

# UEFI 5.3.2 Table 5-5, in the order the standard prints it.
_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
_ENTRY = struct.Struct("<16s16sQQQ72s")


def format_guid(raw: bytes) -> str:
    """The mixed-endian on-disk GUID as its canonical upper-case text."""
    return str(uuid.UUID(bytes_le=raw)).upper()


def _guid_bytes(text: str, what: str) -> bytes:
    try:
        return uuid.UUID(text).bytes_le
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a GUID") from None


@dataclass(frozen=True, slots=True)
class _Header:
    lba: int
    alternate_lba: int
    first_usable: int
    last_usable: int
    disk_guid: str
    entries_lba: int
    num_entries: int
    entry_size: int
    entries_crc: int
    entries: bytes


@dataclass(frozen=True, slots=True)
class GptTable:
    disk_guid: str
    first_usable_lba: int
    last_usable_lba: int
    partitions: tuple[Partition, ...]
    warnings: tuple[str, ...]
    used_backup: bool


def has_gpt_signature(read_at: ReadAt, sector_size: int) -> bool:
    return read_at(sector_size, 8) == SIGNATURE


def _read_header(
    read_at: ReadAt, lba: int, disk_sectors: int, sector_size: int, name: str
) -> _Header | str:
    """The header at `lba` with its entry array, or a message saying what is wrong."""
    if not 1 <= lba < disk_sectors:
        return f"{name} GPT header LBA {lba} is outside the disk ({disk_sectors} sectors)"
    raw = read_at(lba * sector_size, sector_size)
    if len(raw) < HEADER_SIZE:
        return f"{name} GPT header at LBA {lba} is truncated"
    (
        sig,
        revision,
        header_size,
        header_crc,
        _reserved,
        my_lba,
        alternate,
        first_usable,
        last_usable,
        disk_guid,
        entries_lba,
        num_entries,
        entry_size,
        entries_crc,
    ) = _HEADER.unpack_from(raw)
    if sig != SIGNATURE:
        return f"{name} GPT header at LBA {lba}: no 'EFI PART' signature"
    if revision >> 16 != 1:
        return f"{name} GPT header at LBA {lba}: revision 0x{revision:08x} is not 1.x"
    if not HEADER_SIZE <= header_size <= sector_size:
        return f"{name} GPT header at LBA {lba}: header size {header_size} out of range"
    check = bytearray(raw[:header_size])
    check[16:20] = b"\0\0\0\0"
    if zlib.crc32(check) != header_crc:
        return (
            f"{name} GPT header at LBA {lba}: header CRC32 0x{header_crc:08x} does not match "
            f"the contents (0x{zlib.crc32(check):08x})"
        )
    if my_lba != lba:
        return f"{name} GPT header at LBA {lba} says it is at LBA {my_lba}"
    if not (first_usable <= last_usable + 1 and last_usable < disk_sectors):
        return (
            f"{name} GPT header: usable LBAs {first_usable}-{last_usable} do not fit the disk "
            f"({disk_sectors} sectors)"
        )
    if entry_size < ENTRY_SIZE or entry_size % 8 or entry_size > 4096:
        return f"{name} GPT header: partition entry size {entry_size} is invalid"
    array_bytes = num_entries * entry_size
    if array_bytes > MAX_ARRAY_BYTES:
        return f"{name} GPT header: {num_entries} entries of {entry_size} bytes is too large"
    array_sectors = -(-array_bytes // sector_size)
    if not (entries_lba >= 1 and entries_lba + array_sectors <= disk_sectors):
        return f"{name} GPT header: entry array at LBA {entries_lba} is outside the disk"
    if entries_lba <= lba < entries_lba + array_sectors:
        return f"{name} GPT header: entry array at LBA {entries_lba} covers the header"
    if not (entries_lba + array_sectors <= first_usable or entries_lba > last_usable):
        return f"{name} GPT header: entry array at LBA {entries_lba} lies in the usable area"
    entries = read_at(entries_lba * sector_size, array_bytes)
    if len(entries) != array_bytes:
        return f"{name} GPT entry array at LBA {entries_lba} is truncated"
    if zlib.crc32(entries) != entries_crc:
        return (
            f"{name} GPT partition entry array CRC32 0x{entries_crc:08x} does not match the "
            f"entries (0x{zlib.crc32(entries):08x})"
        )
    return _Header(
        lba,
        alternate,
        first_usable,
        last_usable,
        format_guid(disk_guid),
        entries_lba,
        num_entries,
        entry_size,
        entries_crc,
        entries,
    )


def parse_gpt(read_at: ReadAt, disk_size: int, sector_size: int = 512) -> GptTable:
    """Parse the GPT; fall back to the backup header when the primary is bad.

    Raises InputError naming what is wrong when neither header is usable or the
    entries are inconsistent (outside the usable area, overlapping, bad names).
    """
    disk_sectors = disk_size // sector_size
    if disk_sectors < 3:
        raise InputError(f"disk of {disk_size} bytes is too small for a GPT")
    warnings: list[str] = []
    primary = _read_header(read_at, 1, disk_sectors, sector_size, "primary")
    used_backup = False
    if isinstance(primary, _Header):
        header = primary
        backup_lba = primary.alternate_lba
        backup = _read_header(read_at, backup_lba, disk_sectors, sector_size, "backup")
        if isinstance(backup, str):
            warnings.append(backup)
        elif (
            backup.entries != primary.entries
            or backup.disk_guid != primary.disk_guid
            or (backup.first_usable, backup.last_usable)
            != (primary.first_usable, primary.last_usable)
        ):
            warnings.append("backup GPT differs from the primary; using the primary")
        if backup_lba != disk_sectors - 1:
            warnings.append(
                f"backup GPT header is at LBA {backup_lba}, not the last LBA {disk_sectors - 1} "
                "(disk grown or truncated?)"
            )
    else:
        backup = _read_header(read_at, disk_sectors - 1, disk_sectors, sector_size, "backup")
        if isinstance(backup, str):
            raise InputError(f"no usable GPT: {primary}; {backup}")
        header = backup
        used_backup = True
        warnings.append(f"{primary}; using the backup GPT")
    parts = _parse_entries(header, sector_size)
    check_overlaps(parts, "GPT")
    return GptTable(
        header.disk_guid,
        header.first_usable,
        header.last_usable,
        tuple(parts),
        tuple(warnings),
        used_backup,
    )


def _parse_entries(header: _Header, sector_size: int) -> list[Partition]:
    parts: list[Partition] = []
    guids: dict[str, int] = {}
    for i in range(header.num_entries):
        raw = header.entries[i * header.entry_size : i * header.entry_size + ENTRY_SIZE]
        type_raw, unique_raw, first, last, attrs, name_raw = _ENTRY.unpack(raw)
        if type_raw == bytes(16):
            continue
        number = i + 1
        if first > last:
            raise InputError(f"GPT partition {number}: starting LBA {first} > ending LBA {last}")
        if first < header.first_usable or last > header.last_usable:
            raise InputError(
                f"GPT partition {number} (LBAs {first}-{last}) lies outside the usable area "
                f"(LBAs {header.first_usable}-{header.last_usable})"
            )
        name = _decode_name(name_raw, number)
        type_guid = format_guid(type_raw)
        guid = format_guid(unique_raw)
        if guid in guids:
            raise InputError(
                f"GPT partitions {guids[guid]} and {number} share the unique GUID {guid}"
            )
        guids[guid] = number
        parts.append(
            Partition(
                number=number,
                kind=PartitionKind.GPT,
                start_byte=first * sector_size,
                size_bytes=(last - first + 1) * sector_size,
                type_code=type_guid,
                type_name=GPT_TYPE_NAMES.get(type_guid, ""),
                name=name,
                guid=guid,
                attributes=attrs,
            )
        )
    return parts


def _decode_name(raw: bytes, number: int) -> str:
    units = len(raw) // 2
    end = units
    for k in range(units):
        if raw[2 * k] == 0 and raw[2 * k + 1] == 0:
            end = k
            break
    try:
        return raw[: 2 * end].decode("utf-16-le")
    except UnicodeDecodeError:
        raise InputError(f"GPT partition {number}: name is not valid UTF-16LE") from None


def _encode_name(name: str) -> bytes:
    raw = name.encode("utf-16-le")
    if len(raw) > 72:
        raise InputError(f"GPT partition name {name!r} is longer than 36 UTF-16 code units")
    return raw.ljust(72, b"\0")


@dataclass(frozen=True, slots=True)
class GptPartitionSpec:
    """A partition to write. `size_bytes` None takes the rest of the disk (end aligned
    down to `align_bytes`); `start_byte` None places it after the previous one,
    aligned. GUIDs default to random ones."""

    size_bytes: int | None
    name: str = ""
    type_guid: str = LINUX_FILESYSTEM
    guid: str | None = None
    attributes: int = 0
    start_byte: int | None = None


def build_gpt(
    size_bytes: int,
    partitions: Sequence[GptPartitionSpec],
    *,
    disk_guid: str | None = None,
    sector_size: int = 512,
    align_bytes: int = 1 << 20,
    num_entries: int = NUM_ENTRIES,
) -> list[tuple[int, bytes]]:
    """The writes (byte offset, data) that give a disk of `size_bytes` a protective
    MBR, a primary GPT at LBA 1-33 and a backup GPT in its last 33 sectors."""
    if size_bytes % sector_size:
        raise InputError(f"disk size {size_bytes} is not a multiple of {sector_size}")
    if align_bytes % sector_size or align_bytes <= 0:
        raise InputError(f"alignment {align_bytes} is not a multiple of {sector_size}")
    if not num_entries >= 1 or num_entries * ENTRY_SIZE > MAX_ARRAY_BYTES:
        raise InputError(f"{num_entries} partition entries is out of range")
    if len(partitions) > num_entries:
        raise InputError(f"{len(partitions)} partitions do not fit {num_entries} entries")
    disk_sectors = size_bytes // sector_size
    array_sectors = -(-num_entries * ENTRY_SIZE // sector_size)
    first_usable = 2 + array_sectors
    last_usable = disk_sectors - 2 - array_sectors
    if last_usable < first_usable:
        raise InputError(f"disk of {size_bytes} bytes is too small for a GPT")
    align = align_bytes // sector_size
    entries = bytearray(num_entries * ENTRY_SIZE)
    cursor = first_usable
    placed: list[tuple[int, int, int]] = []
    for i, spec in enumerate(partitions):
        number = i + 1
        if spec.start_byte is not None:
            if spec.start_byte % sector_size:
                raise InputError(f"partition {number}: start {spec.start_byte} is not aligned")
            start = spec.start_byte // sector_size
        else:
            start = -(-cursor // align) * align
        if spec.size_bytes is None:
            end_excl = (last_usable + 1) // align * align
            if end_excl <= start:
                end_excl = last_usable + 1
        else:
            if spec.size_bytes <= 0 or spec.size_bytes % sector_size:
                raise InputError(
                    f"partition {number}: size {spec.size_bytes} is not a positive multiple "
                    f"of {sector_size}"
                )
            end_excl = start + spec.size_bytes // sector_size
        if start < first_usable or end_excl - 1 > last_usable or end_excl <= start:
            raise InputError(
                f"partition {number} (LBAs {start}-{end_excl - 1}) does not fit the usable "
                f"area (LBAs {first_usable}-{last_usable})"
            )
        if not 0 <= spec.attributes < 1 << 64:
            raise InputError(f"partition {number}: attributes do not fit 64 bits")
        unique = spec.guid if spec.guid is not None else str(uuid.uuid4())
        entries[i * ENTRY_SIZE : (i + 1) * ENTRY_SIZE] = _ENTRY.pack(
            _guid_bytes(spec.type_guid, f"partition {number} type"),
            _guid_bytes(unique, f"partition {number} GUID"),
            start,
            end_excl - 1,
            spec.attributes,
            _encode_name(spec.name),
        )
        placed.append((start, end_excl, number))
        cursor = end_excl
    placed.sort()
    for (a_start, a_end, a_num), (b_start, _b_end, b_num) in itertools.pairwise(placed):
        if b_start < a_end:
            raise InputError(
                f"partitions {a_num} and {b_num} overlap (LBAs {a_start}-{a_end - 1} and "
                f"from {b_start})"
            )
    disk = _guid_bytes(disk_guid if disk_guid is not None else str(uuid.uuid4()), "disk GUID")
    array_crc = zlib.crc32(entries)
    backup_lba = disk_sectors - 1
    backup_array_lba = backup_lba - array_sectors

    def header(my_lba: int, alternate: int, entries_lba: int) -> bytes:
        fields = [
            SIGNATURE,
            REVISION,
            HEADER_SIZE,
            0,
            0,
            my_lba,
            alternate,
            first_usable,
            last_usable,
            disk,
            entries_lba,
            num_entries,
            ENTRY_SIZE,
            array_crc,
        ]
        raw = _HEADER.pack(*fields)
        fields[3] = zlib.crc32(raw)
        return _HEADER.pack(*fields).ljust(sector_size, b"\0")

    protective_sectors = min(disk_sectors - 1, 0xFFFFFFFF)
    writes = build_mbr([MbrEntry(1, protective_sectors, 0xEE)], sector_size=sector_size)
    if sector_size > 512:
        writes = [(off, data.ljust(sector_size, b"\0")) for off, data in writes]
    writes += [
        (sector_size, header(1, backup_lba, 2)),
        (2 * sector_size, bytes(entries)),
        (backup_array_lba * sector_size, bytes(entries)),
        (backup_lba * sector_size, header(backup_lba, 1, backup_array_lba)),
    ]
    return writes


def build_gpt_image(
    path: str | os.PathLike[str],
    size_bytes: int,
    partitions: Sequence[GptPartitionSpec],
    *,
    disk_guid: str | None = None,
    overwrite: bool = False,
    align_bytes: int = 1 << 20,
) -> Layout:
    """Create a sparse image file of `size_bytes` with a GPT holding `partitions`.

    Refuses an existing file unless `overwrite` (then its old contents are
    discarded). Returns the layout read back from the new file.
    """
    from sgguard.topology.reader import read_layout

    writes = build_gpt(size_bytes, partitions, disk_guid=disk_guid, align_bytes=align_bytes)
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise InputError(f"{os.fspath(path)} already exists") from None
    except OSError as exc:
        raise InputError(f"{os.fspath(path)}: {exc.strerror}") from None
    try:
        os.ftruncate(fd, size_bytes)
        for off, data in writes:
            os.pwrite(fd, data, off)
        os.fsync(fd)
    finally:
        os.close(fd)
    return read_layout(path)
