"""Reading a disk's layout from an image file or block device, and choosing slices of it.

Owns the I/O shell over the sans-IO parsers (`mbr`, `gpt`, `lvm`): `read_layout`
opens the file or device (or uses a given descriptor), learns its size and
logical sector size (BLKGETSIZE64 / BLKSSZGET for block devices), and reads only
the sectors the parsers ask for with os.pread. `resolve_slice` turns a selector
(partition number, GPT name, GUID, LVM logical volume, explicit byte range) into a
`Slice`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import struct

from sgguard.errors import InputError
from sgguard.topology import gpt, lvm, mbr
from sgguard.topology.model import Layout, Partition, PartitionKind, ReadAt, Slice, TableType

__all__ = ["parse_layout", "parse_size", "read_layout", "resolve_extents", "resolve_slice"]

BLKSSZGET = 0x1268
BLKGETSIZE64 = 0x80081272
MAX_READ = 64 << 20  # no parser needs more than this in one read


def read_layout(
    path_or_fd: str | os.PathLike[str] | int, *, sector_size: int | None = None
) -> Layout:
    """The layout of an image file or block device (path or open descriptor)."""
    if isinstance(path_or_fd, int):
        fd = path_or_fd
        source = f"fd {fd}"
        own = False
    else:
        source = os.fspath(path_or_fd)
        try:
            fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise InputError(f"{source}: {exc.strerror}") from None
        own = True
    try:
        try:
            st = os.fstat(fd)
            if stat.S_ISBLK(st.st_mode):
                size = struct.unpack("=Q", fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8))[0]
                native = struct.unpack("=i", fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4))[0]
            elif stat.S_ISREG(st.st_mode):
                size = st.st_size
                native = None
            else:
                raise InputError(f"{source}: not an image file or block device")
        except OSError as exc:
            raise InputError(f"{source}: {exc.strerror}") from None

        def read_at(offset: int, length: int) -> bytes:
            if offset < 0 or length < 0 or length > MAX_READ:
                raise InputError(f"{source}: read of {length} bytes at {offset} refused")
            if offset >= size:
                return b""
            length = min(length, size - offset)
            parts: list[bytes] = []
            got = 0
            while got < length:
                try:
                    chunk = os.pread(fd, length - got, offset + got)
                except OSError as exc:
                    if exc.errno == errno.EINTR:
                        continue
                    raise InputError(
                        f"{source}: read at byte {offset + got}: {exc.strerror}"
                    ) from None
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
            return b"".join(parts)

        return parse_layout(read_at, size, source=source, sector_size=sector_size or native)
    finally:
        if own:
            os.close(fd)


def parse_layout(
    read_at: ReadAt, size: int, *, source: str = "disk", sector_size: int | None = None
) -> Layout:
    """Sans-IO: the layout from a `read_at(offset, size)` function and the disk size.

    Without `sector_size`, a GPT is looked for with 512-byte and then 4096-byte
    sectors; MBR offsets are taken in 512-byte sectors. Precedence follows the
    Linux kernel's efi.c: a GPT counts behind a protective (0xEE) MBR; behind a
    legacy MBR with partitions it is ignored (with a warning). A GPT without any
    MBR, or with a damaged primary header, is still read (with a warning).
    """
    sizes = [sector_size] if sector_size else [512, 4096]
    for ss in sizes:
        if ss not in (512, 1024, 2048, 4096):
            raise InputError(f"{source}: sector size {ss} is not supported")
    mbr_table = mbr.parse_mbr(read_at, size, sizes[0])
    gpt_ss = next((ss for ss in sizes if gpt.has_gpt_signature(read_at, ss)), None)
    if gpt_ss is None and mbr_table is not None and mbr_table.protective:
        gpt_ss = sizes[0]  # the primary header is gone: the backup may still be there
    if gpt_ss is None and mbr_table is None:
        # No MBR, no primary header: a lone backup GPT at the end of the disk?
        gpt_ss = next(
            (
                ss
                for ss in sizes
                if size >= 3 * ss and read_at((size // ss - 1) * ss, 8) == b"EFI PART"
            ),
            None,
        )
    warnings: list[str] = []
    if gpt_ss is not None and mbr_table is not None and mbr_table.partitions:
        # A valid MBR with partitions and no 0xEE entry: the Linux kernel (efi.c
        # is_pmbr_valid) ignores the GPT and uses the MBR; so do we.
        warnings.append(
            "a GPT header is present but the MBR is not protective: using the MBR, as the "
            "Linux kernel does (stale GPT?)"
        )
        gpt_ss = None
    if gpt_ss is not None:
        table = gpt.parse_gpt(read_at, size, gpt_ss)
        warnings.extend(table.warnings)
        if mbr_table is None:
            warnings.append("no protective MBR in front of the GPT")
        elif not mbr_table.protective:
            warnings.append("MBR has no partitions and no 0xEE entry: using the GPT")
        layout = Layout(
            source=source,
            size_bytes=size,
            sector_size=gpt_ss,
            table=TableType.GPT,
            partitions=table.partitions,
            disk_guid=table.disk_guid,
            mbr_signature=mbr_table.disk_signature if mbr_table else None,
            first_usable_byte=table.first_usable_lba * gpt_ss,
            last_usable_byte=(table.last_usable_lba + 1) * gpt_ss - 1,
        )
    elif mbr_table is not None:
        layout = Layout(
            source=source,
            size_bytes=size,
            sector_size=sizes[0],
            table=TableType.MBR,
            partitions=mbr_table.partitions,
            mbr_signature=mbr_table.disk_signature,
        )
    else:
        layout = Layout(source=source, size_bytes=size, sector_size=sizes[0], table=TableType.NONE)
    vgs, lvm_warnings = lvm.scan(read_at, layout)
    warnings.extend(lvm_warnings)
    return Layout(
        source=layout.source,
        size_bytes=layout.size_bytes,
        sector_size=layout.sector_size,
        table=layout.table,
        partitions=layout.partitions,
        disk_guid=layout.disk_guid,
        mbr_signature=layout.mbr_signature,
        first_usable_byte=layout.first_usable_byte,
        last_usable_byte=layout.last_usable_byte,
        volume_groups=vgs,
        warnings=tuple(warnings),
    )


_UNITS = {
    "": 1,
    "B": 1,
    "S": 512,
    "K": 1 << 10,
    "KB": 1000,
    "KIB": 1 << 10,
    "M": 1 << 20,
    "MB": 1000**2,
    "MIB": 1 << 20,
    "G": 1 << 30,
    "GB": 1000**3,
    "GIB": 1 << 30,
    "T": 1 << 40,
    "TB": 1000**4,
    "TIB": 1 << 40,
}
_SIZE = re.compile(r"\s*(0x[0-9a-fA-F]+|\d+)\s*([A-Za-z]*)\s*")


def parse_size(text: str, what: str = "size") -> int:
    """`4096`, `0x1000`, `8s` (512-byte sectors), `1M`/`1MiB` (binary), `1MB` (decimal)."""
    m = _SIZE.fullmatch(text)
    if not m or m.group(2).upper() not in _UNITS:
        raise InputError(
            f"{what} {text!r}: expected a number with an optional unit "
            "(s = 512-byte sectors, K/M/G/T or KiB/MiB/GiB/TiB, KB/MB/GB/TB)"
        )
    return int(m.group(1), 0) * _UNITS[m.group(2).upper()]


def _partition_slice(layout: Layout, part: Partition, how: str) -> Slice:
    what = f"partition {part.number}"
    if part.name:
        what += f" ({part.name!r})"
    return Slice(part.start_byte, part.size_bytes, f"{layout.source} {what} via {how}")


def resolve_slice(layout: Layout, selector: str, *, alignment: int = 512) -> Slice:
    """The byte range a selector names.

    Selectors: ``2`` or ``p2`` (partition number), ``name=data`` (GPT name),
    ``guid=...`` (GPT unique partition GUID), ``lv=vg/lv`` (an LVM2 logical volume
    whose segments are linear and contiguous on this disk), ``range=START:SIZE``
    (byte offset and length with units, both multiples of `alignment`).
    """
    sel = selector.strip()
    if re.fullmatch(r"p?\d+", sel):
        number = int(sel.lstrip("p"))
        part = layout.partition(number)
        if part is None:
            have = ", ".join(str(p.number) for p in layout.partitions) or "none"
            raise InputError(f"{layout.source} has no partition {number} (partitions: {have})")
        if part.kind is PartitionKind.EXTENDED:
            raise InputError(f"partition {number} is an extended partition (a container)")
        return _partition_slice(layout, part, "number")
    key, sep, value = sel.partition("=")
    if not sep:
        raise InputError(
            f"slice selector {selector!r}: expected N, pN, name=NAME, guid=GUID, lv=VG/LV "
            "or range=START:SIZE"
        )
    key = key.strip().lower()
    if key == "name":
        matches = [p for p in layout.partitions if p.name == value]
        if not matches:
            names = ", ".join(repr(p.name) for p in layout.partitions if p.name) or "none"
            raise InputError(f"{layout.source} has no partition named {value!r} (names: {names})")
        if len(matches) > 1:
            nums = ", ".join(str(p.number) for p in matches)
            raise InputError(f"partition name {value!r} is ambiguous (partitions {nums})")
        return _partition_slice(layout, matches[0], "name")
    if key == "guid":
        want = value.strip().strip("{}").upper()
        for p in layout.partitions:
            if p.guid and p.guid == want:
                return _partition_slice(layout, p, "GUID")
        raise InputError(f"{layout.source} has no partition with GUID {value}")
    if key == "lv":
        return lvm.lv_slice(layout, value)
    if key == "range":
        start_text, colon, size_text = value.partition(":")
        if not colon:
            raise InputError(f"range {value!r}: expected START:SIZE")
        start = parse_size(start_text, "range start")
        length = parse_size(size_text, "range size")
        if start % alignment or length % alignment:
            raise InputError(
                f"range {value!r}: start {start} and size {length} must be multiples of "
                f"{alignment} bytes"
            )
        if length == 0:
            raise InputError(f"range {value!r} is empty")
        if start > layout.size_bytes or length > layout.size_bytes - start:
            raise InputError(
                f"range {value!r} (bytes {start}-{start + length - 1}) ends beyond the disk "
                f"({layout.size_bytes} bytes)"
            )
        return Slice(start, length, f"{layout.source} bytes {start}+{length}")
    raise InputError(f"slice selector {selector!r}: unknown kind {key!r}")


def resolve_extents(layout: Layout, selector: str, *, alignment: int = 512) -> tuple[Slice, ...]:
    """Like `resolve_slice`, but an LVM2 LV whose linear segments lie apart on the
    disk gives one `Slice` per contiguous run, in LV order (export them with
    `sgguard.target.backend.slice_backend`). Other selectors give one slice."""
    key, sep, value = selector.strip().partition("=")
    if sep and key.strip().lower() == "lv":
        return lvm.lv_extents(layout, value)
    return (resolve_slice(layout, selector, alignment=alignment),)
