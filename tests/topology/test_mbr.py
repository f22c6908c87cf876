"""MBR: sfdisk images with extended/logical partitions, our writer read back by sfdisk,
protective MBRs, corrupt tables (loops, out of disk, overlaps), round trips, garbage."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgguard.errors import InputError
from sgguard.topology import (
    MbrEntry,
    PartitionKind,
    TableType,
    build_mbr,
    parse_layout,
    read_layout,
    resolve_slice,
)
from tests.topology.disks import SparseDisk
from tests.topology.tools import have, run

needs_sfdisk = pytest.mark.skipif(not have("sfdisk"), reason="needs fdisk")
MIB = 1 << 20

SFDISK_SCRIPT = """label: dos
label-id: 0xdeadbeef
start=2048, size=8M, type=83, bootable
start=18432, size=4M, type=82
type=5
size=6M, type=83
size=5M, type=8e
size=3M, type=7
"""


def _blank(tmp_path: Path, size: int = 64 * MIB) -> Path:
    img = tmp_path / "m.img"
    with open(img, "wb") as f:
        f.truncate(size)
    return img


def _sfdisk_parts(img: Path) -> list[dict[str, object]]:
    doc = json.loads(run("sfdisk", "--json", str(img)))
    parts = doc["partitiontable"].get("partitions", [])
    assert isinstance(parts, list)
    return parts


@needs_sfdisk
def test_read_layout_sfdisk_primary_extended_logical(tmp_path: Path) -> None:
    img = _blank(tmp_path)
    run("sfdisk", "-q", str(img), stdin=SFDISK_SCRIPT)
    layout = read_layout(img)
    assert layout.table is TableType.MBR
    assert layout.mbr_signature == 0xDEADBEEF
    theirs = _sfdisk_parts(img)
    assert [p.number for p in layout.partitions] == [
        int(str(t["node"]).removeprefix(str(img))) for t in theirs
    ]
    for ours, t in zip(layout.partitions, theirs, strict=True):
        assert ours.start_byte == int(str(t["start"])) * 512
        assert ours.size_bytes == int(str(t["size"])) * 512
        assert int(ours.type_code, 16) == int(str(t["type"]), 16)
        assert ours.bootable == bool(t.get("bootable", False))
    kinds = [p.kind for p in layout.partitions]
    assert (
        kinds
        == [PartitionKind.PRIMARY] * 2 + [PartitionKind.EXTENDED] + [PartitionKind.LOGICAL] * 3
    )
    assert layout.partition(6) is not None and layout.partition(6).type_name == "Linux LVM"  # type: ignore[union-attr]
    assert resolve_slice(layout, "p5").start_byte == 28672 * 512
    with pytest.raises(InputError, match="extended partition"):
        resolve_slice(layout, "3")


@needs_sfdisk
def test_build_mbr_is_read_back_by_sfdisk(tmp_path: Path) -> None:
    img = _blank(tmp_path, 32 * MIB)
    primaries = [
        MbrEntry(2048, 4096, 0x83, bootable=True),
        MbrEntry(8192, 40960, 0x05),
        MbrEntry(49152, 8192, 0x07),
    ]
    logicals = [
        MbrEntry(10240, 2048, 0x83),
        MbrEntry(14336, 4096, 0x8E),
        MbrEntry(20480, 100, 0x82),
    ]
    with open(img, "r+b") as f:
        for off, data in build_mbr(primaries, logicals, disk_signature=0x1234ABCD):
            f.seek(off)
            f.write(data)
    theirs = _sfdisk_parts(img)
    assert [(t["start"], t["size"], int(str(t["type"]), 16)) for t in theirs] == [
        (2048, 4096, 0x83),
        (8192, 40960, 0x05),
        (49152, 8192, 0x07),
        (10240, 2048, 0x83),
        (14336, 4096, 0x8E),
        (20480, 100, 0x82),
    ]
    layout = read_layout(img)
    assert [p.number for p in layout.partitions] == [1, 2, 3, 5, 6, 7]
    assert layout.mbr_signature == 0x1234ABCD


def _write(img: Path, writes: list[tuple[int, bytes]]) -> None:
    with open(img, "r+b") as f:
        for off, data in writes:
            f.seek(off)
            f.write(data)


def _poke(img: Path, off: int, data: bytes) -> None:
    _write(img, [(off, data)])


def test_mbr_partition_beyond_disk_is_an_error(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    _write(img, build_mbr([MbrEntry(2048, 16384, 0x83)]))
    with pytest.raises(InputError, match=r"MBR partition 1 \(sectors 2048-18431\) ends beyond"):
        read_layout(img)


def test_mbr_overlap_is_an_error(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    _write(img, build_mbr([MbrEntry(2048, 4096, 0x83), MbrEntry(4096, 2048, 0x83)]))
    with pytest.raises(InputError, match="MBR partitions 1 and 2 overlap"):
        read_layout(img)


def test_mbr_bad_boot_indicator_is_an_error(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    _write(img, build_mbr([MbrEntry(2048, 4096, 0x83)]))
    _poke(img, 446, b"\x12")
    with pytest.raises(InputError, match="MBR entry 1: boot indicator 0x12"):
        read_layout(img)


def test_mbr_ebr_loop_is_an_error(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    _write(
        img,
        build_mbr(
            [MbrEntry(2048, 8192, 0x05)],
            [MbrEntry(2049, 100, 0x83), MbrEntry(4096, 100, 0x83)],
        ),
    )
    # Point the second EBR's link (entry 2, relative to the extended start) at itself.
    link = bytes([0, 0, 0, 0, 0x05, 0, 0, 0]) + (4095 - 2048).to_bytes(4, "little") + bytes(4)
    _poke(img, 4095 * 512 + 446 + 16, link)
    with pytest.raises(InputError, match="EBR chain loops back to sector 4095"):
        read_layout(img)


def test_mbr_logical_outside_extended_is_an_error(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    _write(img, build_mbr([MbrEntry(2048, 4096, 0x05)], [MbrEntry(2049, 100, 0x83)]))
    _poke(img, 2048 * 512 + 446 + 12, (9000).to_bytes(4, "little"))  # logical size
    with pytest.raises(InputError, match=r"logical partition 5 .* outside its extended"):
        read_layout(img)


def test_mbr_ebr_without_signature_is_an_error(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    _write(
        img,
        build_mbr(
            [MbrEntry(2048, 8192, 0x05)], [MbrEntry(2049, 100, 0x83), MbrEntry(4096, 9, 0x83)]
        ),
    )
    _poke(img, 4095 * 512 + 510, b"\0\0")
    with pytest.raises(InputError, match="EBR at sector 4095 lacks the 0x55AA"):
        read_layout(img)


def test_mbr_protective_without_gpt_is_an_error(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    _write(img, build_mbr([MbrEntry(1, 8 * MIB // 512 - 1, 0xEE)]))
    with pytest.raises(InputError, match="no usable GPT"):
        read_layout(img)


def test_mbr_none_and_filesystem_boot_sector(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    assert read_layout(img).table is TableType.NONE
    sector = bytearray(512)
    sector[0:3] = b"\xeb\x3c\x90"
    sector[3:11] = b"mkfs.fat"
    sector[11:13] = (512).to_bytes(2, "little")
    sector[446:462] = bytes(range(1, 17))  # BPB/boot code where entries would be
    sector[510:512] = b"\x55\xaa"
    _poke(img, 0, bytes(sector))
    assert read_layout(img).table is TableType.NONE
    # A FAT32 boot sector whose boot code happens to look like sane entries.
    sector[446:462] = bytes([0x80, 0, 0, 0, 0x83, 0, 0, 0]) + (5).to_bytes(4, "little") * 2
    sector[446 + 12 : 446 + 16] = (10**6).to_bytes(4, "little")  # far beyond 8 MiB
    sector[82:90] = b"FAT32   "
    _poke(img, 0, bytes(sector))
    assert read_layout(img).table is TableType.NONE
    sector[82:90] = b"NOTAFS  "
    _poke(img, 0, bytes(sector))
    with pytest.raises(InputError, match="ends beyond the disk"):
        read_layout(img)


def test_read_layout_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No such file"):
        read_layout(tmp_path / "none.img")
    with pytest.raises(InputError, match="not an image file or block device"):
        read_layout(tmp_path)
    with pytest.raises(InputError, match="not supported"):
        read_layout(_blank(tmp_path), sector_size=999)


def test_read_layout_on_open_descriptor(tmp_path: Path) -> None:
    img = _blank(tmp_path, 8 * MIB)
    _write(img, build_mbr([MbrEntry(2048, 4096, 0x83)]))
    fd = os.open(img, os.O_RDONLY)
    try:
        assert read_layout(fd).partitions[0].size_bytes == 4096 * 512
    finally:
        os.close(fd)


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[MbrEntry], list[MbrEntry], int]:
    cursor = 1 + draw(st.integers(0, 100))
    primaries: list[MbrEntry] = []
    logicals: list[MbrEntry] = []
    n = draw(st.integers(0, 4))
    ext_slot = draw(st.integers(0, 3)) if draw(st.booleans()) and n else -1
    for i in range(n):
        if i == ext_slot:
            ext_start = cursor
            lcur = ext_start + 1 + draw(st.integers(0, 5))
            for _ in range(draw(st.integers(0, 5))):
                size = draw(st.integers(1, 300))
                logicals.append(
                    MbrEntry(lcur, size, draw(st.sampled_from([0x83, 0x82, 0x8E, 0x07])))
                )
                lcur += size + 1 + draw(st.integers(0, 5))
            size = lcur - ext_start + draw(st.integers(0, 10))
            primaries.append(MbrEntry(ext_start, size, draw(st.sampled_from([0x05, 0x0F, 0x85]))))
        else:
            size = draw(st.integers(1, 1000))
            type_id = draw(st.integers(1, 255).filter(lambda t: t not in (0x05, 0x0F, 0x85, 0xEE)))
            primaries.append(MbrEntry(cursor, size, type_id, bootable=draw(st.booleans())))
        cursor = primaries[-1].start_lba + primaries[-1].sectors + draw(st.integers(0, 50))
    return primaries, logicals, cursor + draw(st.integers(0, 50))


@settings(max_examples=200, deadline=None)
@given(table=_tables(), signature=st.integers(0, 2**32 - 1))
def test_mbr_writer_parser_round_trip(
    table: tuple[list[MbrEntry], list[MbrEntry], int], signature: int
) -> None:
    primaries, logicals, sectors = table
    disk = SparseDisk(sectors * 512, build_mbr(primaries, logicals, disk_signature=signature))
    layout = parse_layout(disk.read_at, disk.size)
    assert layout.table is TableType.MBR and layout.mbr_signature == signature
    expect = [(i, e) for i, e in enumerate(primaries, 1)] + [
        (i, e) for i, e in enumerate(logicals, 5)
    ]
    assert [
        (p.number, p.start_byte, p.size_bytes, int(p.type_code, 16), p.bootable)
        for p in layout.partitions
    ] == [(i, e.start_lba * 512, e.sectors * 512, e.type_id, e.bootable) for i, e in expect]


@settings(max_examples=400, deadline=None)
@given(
    sectors=st.lists(st.binary(min_size=0, max_size=512), min_size=1, max_size=8),
    mark=st.booleans(),
    size=st.integers(0, 16 * 512),
)
def test_layout_garbage_in_gives_input_error(sectors: list[bytes], mark: bool, size: int) -> None:
    disk = SparseDisk(size)
    for i, s in enumerate(sectors):
        data = bytearray(s.ljust(512, b"\0"))
        if mark:
            data[510:512] = b"\x55\xaa"
        disk.write(i * 512, bytes(data))
    with contextlib.suppress(InputError):
        layout = parse_layout(disk.read_at, size)
        for p in layout.partitions:
            assert p.start_byte > 0 and p.end_byte <= size


@needs_sfdisk
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    primaries=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    logicals=st.lists(st.integers(1, 4), min_size=0, max_size=4),
    types=st.lists(st.sampled_from(["83", "82", "8e", "7", "c", "fd"]), min_size=7, max_size=7),
)
def test_mbr_random_sfdisk_tables_are_read(
    tmp_path: Path, primaries: list[int], logicals: list[int], types: list[str]
) -> None:
    """sfdisk writes random primary/extended/logical layouts; we read what it reports."""
    img = tmp_path / "r.img"
    img.unlink(missing_ok=True)
    total = sum(primaries) + sum(logicals) + len(logicals) + 2
    with open(img, "wb") as f:
        f.truncate(total * MIB)
    script = ["label: dos"]
    script += [f"size={n}M, type={types[i]}" for i, n in enumerate(primaries)]
    if logicals:
        script.append("type=5")
        script += [f"size={n}M, type={types[3 + i % 4]}" for i, n in enumerate(logicals)]
    run("sfdisk", "-q", str(img), stdin="\n".join(script) + "\n")
    layout = read_layout(img)
    theirs = _sfdisk_parts(img)
    assert [
        (p.number, p.start_byte, p.size_bytes, int(p.type_code, 16)) for p in layout.partitions
    ] == [
        (
            int(str(t["node"]).removeprefix(str(img))),
            int(str(t["start"])) * 512,
            int(str(t["size"])) * 512,
            int(str(t["type"]), 16),
        )
        for t in theirs
    ]
