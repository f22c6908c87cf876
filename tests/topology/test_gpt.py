"""GPT: images from sgdisk and from our writer, checked against sgdisk -v and sfdisk;
corruption (header CRC, array CRC, both headers, overlaps, out of range); round trips."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import struct
import uuid
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgguard.errors import InputError
from sgguard.topology import (
    LINUX_FILESYSTEM,
    GptPartitionSpec,
    MbrEntry,
    PartitionKind,
    TableType,
    build_gpt,
    build_gpt_image,
    build_mbr,
    parse_layout,
    read_layout,
    resolve_slice,
)
from tests.topology.disks import SparseDisk, reseal_gpt
from tests.topology.tools import have, run

needs_gdisk = pytest.mark.skipif(not have("sgdisk", "sfdisk"), reason="needs gdisk and fdisk")

GIB = 1 << 30
NAME = "donn\u00e9es-\u03b1"  # non-ASCII, two-byte UTF-16 code units
MIB = 1 << 20


def _sfdisk_json(path: Path) -> dict[str, object]:
    doc = json.loads(run("sfdisk", "--json", str(path)))
    table = doc["partitiontable"]
    assert isinstance(table, dict)
    return table


@needs_gdisk
def test_build_gpt_image_default_disk_passes_sgdisk_verify(tmp_path: Path) -> None:
    img = tmp_path / "shared.img"
    layout = build_gpt_image(
        img,
        GIB,
        [GptPartitionSpec(512 * MIB, "slice-a"), GptPartitionSpec(None, "slice-b")],
        disk_guid="12345678-1234-5678-9ABC-DEF012345678",
    )
    assert img.stat().st_size == GIB
    assert img.stat().st_blocks * 512 < 1 * MIB  # sparse: only the tables are written
    out = run("sgdisk", "-v", str(img))
    assert "No problems found" in out
    table = _sfdisk_json(img)
    assert table["label"] == "gpt"
    assert table["id"] == "12345678-1234-5678-9ABC-DEF012345678"
    parts = table["partitions"]
    assert isinstance(parts, list)
    assert [
        (p["start"] * 512, p["size"] * 512, p["name"], p["uuid"], p["type"]) for p in parts
    ] == [(p.start_byte, p.size_bytes, p.name, p.guid, p.type_code) for p in layout.partitions]
    assert layout.partitions[0].start_byte == MIB
    assert layout.partitions[0].size_bytes == 512 * MIB
    assert layout.partitions[1].end_byte % MIB == 0
    assert layout.partitions[1].end_byte <= layout.last_usable_byte + 1
    assert layout.warnings == ()


def test_build_gpt_image_refuses_existing_file(tmp_path: Path) -> None:
    img = tmp_path / "x.img"
    img.write_bytes(b"keep")
    with pytest.raises(InputError, match="already exists"):
        build_gpt_image(img, 8 * MIB, [GptPartitionSpec(None)])
    assert img.read_bytes() == b"keep"
    layout = build_gpt_image(img, 8 * MIB, [GptPartitionSpec(None, "all")], overwrite=True)
    assert layout.partitions[0].name == "all"


def test_build_gpt_refuses_bad_specs() -> None:
    with pytest.raises(InputError, match="does not fit"):
        build_gpt(8 * MIB, [GptPartitionSpec(8 * MIB)])
    with pytest.raises(InputError, match="multiple of 512"):
        build_gpt(8 * MIB, [GptPartitionSpec(1000)])
    with pytest.raises(InputError, match="36 UTF-16"):
        build_gpt(8 * MIB, [GptPartitionSpec(MIB, "x" * 37)])
    with pytest.raises(InputError, match="not a GUID"):
        build_gpt(8 * MIB, [GptPartitionSpec(MIB, type_guid="linux")])
    with pytest.raises(InputError, match="too small"):
        build_gpt(16 * 1024, [])
    with pytest.raises(InputError, match="partitions 1 and 2 overlap"):
        build_gpt(8 * MIB, [GptPartitionSpec(2 * MIB), GptPartitionSpec(MIB, start_byte=2 * MIB)])


@needs_gdisk
def test_read_layout_sgdisk_names_attributes_types(tmp_path: Path) -> None:
    img = tmp_path / "u.img"
    img.write_bytes(b"")
    os.truncate(img, 32 * MIB)
    run(
        "sgdisk",
        "-n1:2048:+4M", f"-c1:{NAME}", "-t1:8300", "-A1:set:2", "-A1:set:60",
        "-n2:0:+4M", "-c2:swap", "-t2:8200",
        "-n4:0:+1M", "-t4:ef00",
        str(img),
    )  # fmt: skip
    layout = read_layout(img)
    table = _sfdisk_json(img)
    assert layout.table is TableType.GPT
    assert layout.disk_guid == table["id"]
    assert [p.number for p in layout.partitions] == [1, 2, 4]
    p1, p2, p4 = layout.partitions
    assert (p1.name, p1.type_name, p1.attributes) == (NAME, "Linux filesystem", 1 << 60 | 4)
    assert p2.type_name == "Linux swap" and p4.type_name == "EFI System" and p4.name == ""
    parts = table["partitions"]
    assert isinstance(parts, list)
    for ours, theirs in zip(layout.partitions, parts, strict=True):
        assert ours.start_byte == theirs["start"] * 512
        assert ours.size_bytes == theirs["size"] * 512
        assert ours.guid == theirs["uuid"] and ours.type_code == theirs["type"]
        assert ours.kind is PartitionKind.GPT
    assert layout.first_usable_byte == table["firstlba"] * 512
    assert layout.last_usable_byte == (table["lastlba"] + 1) * 512 - 1
    assert resolve_slice(layout, f"name={NAME}").start_byte == 2048 * 512
    assert resolve_slice(layout, f"guid={p2.guid.lower()}").start_byte == p2.start_byte
    assert resolve_slice(layout, "p4").size_bytes == MIB
    with pytest.raises(InputError, match="no partition 3"):
        resolve_slice(layout, "3")


def _image(tmp_path: Path, size: int = 16 * MIB) -> Path:
    img = tmp_path / "t.img"
    build_gpt_image(
        img,
        size,
        [
            GptPartitionSpec(4 * MIB, "a"),
            GptPartitionSpec(4 * MIB, "b"),
            GptPartitionSpec(None, "c"),
        ],
    )
    return img


def _poke(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_gpt_primary_header_crc_bad_uses_backup(tmp_path: Path) -> None:
    img = _image(tmp_path)
    good = read_layout(img)
    _poke(img, 512 + 16, b"\xde\xad\xbe\xef")
    layout = read_layout(img)
    assert layout.partitions == good.partitions
    assert any("header CRC32" in w and "backup" in w for w in layout.warnings)


def test_gpt_primary_array_crc_bad_uses_backup(tmp_path: Path) -> None:
    img = _image(tmp_path)
    good = read_layout(img)
    _poke(img, 1024 + 56, b"Z\0")  # first entry's name, primary array only
    layout = read_layout(img)
    assert layout.partitions == good.partitions
    assert any("entry array CRC32" in w for w in layout.warnings)


def test_gpt_primary_signature_wiped_uses_backup(tmp_path: Path) -> None:
    img = _image(tmp_path)
    _poke(img, 512, bytes(512))
    layout = read_layout(img)
    assert [p.name for p in layout.partitions] == ["a", "b", "c"]
    assert any("signature" in w for w in layout.warnings)


def test_gpt_backup_damaged_is_a_warning(tmp_path: Path) -> None:
    img = _image(tmp_path)
    _poke(img, 16 * MIB - 512 + 100, b"\x01")  # reserved tail of the backup header: no CRC
    _poke(img, 16 * MIB - 512 + 24, b"\x07")  # backup MyLBA field
    layout = read_layout(img)
    assert len(layout.partitions) == 3
    assert any(w.startswith("backup GPT header") for w in layout.warnings)


def test_gpt_both_headers_bad_is_an_error(tmp_path: Path) -> None:
    img = _image(tmp_path)
    _poke(img, 512 + 16, b"\0\0\0\0")
    _poke(img, 16 * MIB - 512 + 16, b"\0\0\0\0")
    with pytest.raises(InputError, match=r"no usable GPT: primary .*CRC32.*; backup .*CRC32"):
        read_layout(img)


def test_gpt_overlapping_partitions_are_an_error(tmp_path: Path) -> None:
    img = _image(tmp_path)
    for array in (1024, 16 * MIB - 512 - 32 * 512):
        _poke(img, array + 128 + 32, struct.pack("<Q", 4096))
    reseal_gpt(img)
    with pytest.raises(InputError, match="GPT partitions 1 and 2 overlap"):
        read_layout(img)


def test_gpt_partition_outside_usable_area_is_an_error(tmp_path: Path) -> None:
    img = _image(tmp_path)
    for array in (1024, 16 * MIB - 512 - 32 * 512):
        _poke(img, array + 2 * 128 + 40, struct.pack("<Q", (16 * MIB) // 512 + 5))
    reseal_gpt(img)
    with pytest.raises(InputError, match=r"GPT partition 3 .* outside the usable area"):
        read_layout(img)


def test_gpt_duplicate_unique_guid_is_an_error(tmp_path: Path) -> None:
    img = _image(tmp_path)
    for array in (1024, 16 * MIB - 512 - 32 * 512):
        with open(img, "rb") as f:
            f.seek(array + 16)
            guid = f.read(16)
        _poke(img, array + 128 + 16, guid)
    reseal_gpt(img)
    with pytest.raises(InputError, match="share the unique GUID"):
        read_layout(img)


def test_gpt_truncated_image(tmp_path: Path) -> None:
    img = _image(tmp_path)
    os.truncate(img, 8 * MIB)  # backup gone, partitions beyond the end
    with pytest.raises(InputError):
        read_layout(img)
    os.truncate(img, 700)  # header cut in half
    with pytest.raises(InputError, match="GPT"):
        read_layout(img)


def test_gpt_4k_sectors_detected() -> None:
    writes = build_gpt(
        64 * MIB, [GptPartitionSpec(8 * MIB, "four-k")], sector_size=4096, num_entries=128
    )
    disk = SparseDisk(64 * MIB, writes)
    layout = parse_layout(disk.read_at, disk.size)
    assert layout.sector_size == 4096
    assert layout.partitions[0].start_byte == MIB and layout.partitions[0].size_bytes == 8 * MIB
    assert layout.first_usable_byte == 6 * 4096


_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=20
).filter(lambda s: len(s.encode("utf-16-le")) <= 72)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 64), min_size=0, max_size=8),
    gaps=st.lists(st.integers(0, 16), min_size=8, max_size=8),
    names=st.lists(_names, min_size=8, max_size=8),
    attrs=st.lists(st.integers(0, 2**64 - 1), min_size=8, max_size=8),
    types=st.lists(st.uuids(), min_size=8, max_size=8),
    sector_size=st.sampled_from([512, 4096]),
    entries=st.sampled_from([4, 16, 128]),
)
def test_gpt_writer_parser_round_trip(
    sizes: list[int],
    gaps: list[int],
    names: list[str],
    attrs: list[int],
    types: list[uuid.UUID],
    sector_size: int,
    entries: int,
) -> None:
    sizes = sizes[:entries]
    unit = sector_size * 8
    specs = []
    cursor = 64 * sector_size
    for i, n in enumerate(sizes):
        cursor += gaps[i] * unit
        specs.append(
            GptPartitionSpec(
                n * unit,
                names[i],
                type_guid=str(types[i]) if types[i].int else LINUX_FILESYSTEM,
                guid=str(uuid.UUID(int=i + 1)),
                attributes=attrs[i],
                start_byte=cursor,
            )
        )
        cursor += n * unit
    size = cursor + 64 * sector_size
    disk = SparseDisk(size, build_gpt(size, specs, sector_size=sector_size, num_entries=entries))
    layout = parse_layout(disk.read_at, size, sector_size=sector_size)
    assert layout.table is TableType.GPT and layout.warnings == ()
    assert [
        (p.start_byte, p.size_bytes, p.name, p.attributes, p.guid, p.number)
        for p in layout.partitions
    ] == [
        (
            s.start_byte,
            s.size_bytes,
            s.name,
            s.attributes,
            str(uuid.UUID(s.guid or "")).upper(),
            i + 1,
        )
        for i, s in enumerate(specs)
    ]


@settings(max_examples=300, deadline=None)
@given(
    blob=st.binary(min_size=0, max_size=4096),
    where=st.sampled_from([0, 512, 1024, 1536]),
)
def test_gpt_garbage_in_gives_input_error(blob: bytes, where: int) -> None:
    base = build_gpt(1 * MIB, [GptPartitionSpec(256 * 1024, "g")], align_bytes=4096)
    disk = SparseDisk(1 * MIB, base)
    disk.write(where, blob)
    with contextlib.suppress(InputError):
        parse_layout(disk.read_at, disk.size)


def test_gpt_behind_a_legacy_mbr_is_ignored_like_the_kernel(tmp_path: Path) -> None:
    img = _image(tmp_path)
    with open(img, "r+b") as f:
        for off, data in build_mbr([MbrEntry(2048, 4096, 0x83)]):
            f.seek(off)
            f.write(data)
    layout = read_layout(img)
    assert layout.table is TableType.MBR
    assert [(p.number, p.size_bytes) for p in layout.partitions] == [(1, 4096 * 512)]
    assert any("not protective" in w for w in layout.warnings)
    _poke(img, 446, bytes(16))  # no partitions left in the MBR: the GPT is used
    layout = read_layout(img)
    assert layout.table is TableType.GPT and len(layout.partitions) == 3
    assert any("no 0xEE entry" in w for w in layout.warnings)
    _poke(img, 510, b"\0\0")  # no MBR at all
    layout = read_layout(img)
    assert layout.table is TableType.GPT
    assert any("no protective MBR" in w for w in layout.warnings)


@settings(max_examples=300, deadline=None)
@given(array=st.binary(min_size=4 * 128, max_size=4 * 128))
def test_gpt_random_entries_behind_valid_crcs(array: bytes) -> None:
    """Entries that pass the CRC checks but say anything: a layout whose partitions
    are in the usable area and disjoint, or an InputError naming the problem."""
    size = 1 * MIB
    writes = dict(build_gpt(size, [], num_entries=4, align_bytes=4096))
    for lba in (1, size // 512 - 1):
        hdr = bytearray(writes[lba * 512])
        struct.pack_into("<I", hdr, 88, zlib.crc32(array))
        struct.pack_into("<I", hdr, 16, 0)
        struct.pack_into("<I", hdr, 16, zlib.crc32(bytes(hdr[:92])))
        writes[lba * 512] = bytes(hdr)
        entries_lba = struct.unpack_from("<Q", hdr, 72)[0]
        writes[entries_lba * 512] = array
    disk = SparseDisk(size, list(writes.items()))
    try:
        layout = parse_layout(disk.read_at, size)
    except InputError as exc:
        assert str(exc).startswith("GPT partition")
        return
    ends = sorted((p.start_byte, p.end_byte) for p in layout.partitions)
    for (_s1, e1), (s2, _e2) in itertools.pairwise(ends):
        assert e1 <= s2
    for p in layout.partitions:
        assert layout.first_usable_byte <= p.start_byte < p.end_byte <= layout.last_usable_byte + 1


@needs_gdisk
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=5),
    names=st.lists(st.text(alphabet="abcxyz-_09", max_size=12), min_size=5, max_size=5),
)
def test_gpt_writer_random_layouts_read_by_sfdisk(
    tmp_path: Path, sizes: list[int], names: list[str]
) -> None:
    """sfdisk as the oracle for random layouts from our writer."""
    img = tmp_path / "r.img"
    specs = [GptPartitionSpec(n * MIB, names[i]) for i, n in enumerate(sizes)]
    layout = build_gpt_image(img, (sum(sizes) + 2) * MIB, specs, overwrite=True)
    table = _sfdisk_json(img)
    parts = table["partitions"]
    assert isinstance(parts, list)
    assert [(p["start"] * 512, p["size"] * 512, p.get("name", ""), p["uuid"]) for p in parts] == [
        (p.start_byte, p.size_bytes, p.name, p.guid) for p in layout.partitions
    ]
    assert "No problems found" in run("sgdisk", "-v", str(img))
