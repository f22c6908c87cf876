"""LVM2: PVs, VGs and LVs written by lvm2's own tools on loop devices (no device-mapper
needed: `--driverloaded n`), compared with what `lvs`/`pvs` report; corrupt labels,
wrapped metadata, the text config parser."""

from __future__ import annotations

import contextlib
import json
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgguard.errors import InputError
from sgguard.target.backend import FileBackend, slice_backend
from sgguard.topology import TableType, read_layout, resolve_extents, resolve_slice
from sgguard.topology.lvm import MDA_HEADER_SIZE, lvm_crc
from sgguard.topology.lvmconfig import parse_config
from tests.topology.tools import have, need_root_loop, run

pytestmark = pytest.mark.skipif(not have("lvm", "losetup", "sfdisk"), reason="needs lvm2")
MIB = 1 << 20
EXTENT = 4 * MIB

LVM_CONF = """
devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 }
backup { backup = 0 archive = 0 }
activation { udev_sync = 0 udev_rules = 0 }
"""


class Lvm:
    """lvm2 commands confined to our loop devices and to a private config dir."""

    def __init__(self, confdir: Path) -> None:
        confdir.mkdir(exist_ok=True)
        (confdir / "lvm.conf").write_text(LVM_CONF)
        self.env = {"LVM_SYSTEM_DIR": str(confdir)}
        self.devices: list[str] = []

    def __call__(self, *args: str) -> str:
        cmd, *rest = args
        extra = ["--driverloaded", "n"] if cmd in ("lvcreate", "lvextend") else []
        devs = [a for d in self.devices for a in ("--devices", d)]
        return run("lvm", cmd, *devs, *extra, *rest, env=self.env)

    def report(self, cmd: str, fields: str, key: str) -> list[dict[str, str]]:
        out = self(
            cmd,
            "--reportformat",
            "json",
            "--units",
            "b",
            "-o",
            fields,
            *(["--segments"] if cmd == "lvs" else []),
        )
        rows = json.loads(out[out.index("{") :])["report"][0][key]
        assert isinstance(rows, list)
        return rows


@contextlib.contextmanager
def _loops(image: Path, ranges: list[tuple[int, int]]) -> Iterator[list[str]]:
    need_root_loop()
    devs: list[str] = []
    try:
        for off, size in ranges:
            devs.append(
                run(
                    "losetup", "--find", "--show", "--offset", str(off), "--sizelimit", str(size),
                    str(image),
                ).strip()
            )  # fmt: skip
        yield devs
    finally:
        for d in devs:
            run("losetup", "-d", d)


def _vg() -> str:
    return f"sgt{uuid.uuid4().hex[:8]}"


def _blank(tmp_path: Path, size: int) -> Path:
    img = tmp_path / "lvm.img"
    with open(img, "wb") as f:
        f.truncate(size)
    return img


@pytest.fixture
def whole_disk_pv(tmp_path: Path) -> Iterator[tuple[Path, str, Lvm]]:
    """A 64 MiB image, PV on the whole disk; LVs a (8M, extended by 4M later), b (12M)."""
    img = _blank(tmp_path, 64 * MIB)
    lvm = Lvm(tmp_path / "lvmconf")
    vg = _vg()
    with _loops(img, [(0, 64 * MIB)]) as (dev,):
        lvm.devices = [dev]
        lvm("pvcreate", "-q", dev)
        lvm("vgcreate", "-q", vg, dev)
        lvm("lvcreate", "-q", "-n", "a", "-L", "8M", vg)
        lvm("lvcreate", "-q", "-n", "b", "-L", "12M", vg)
        lvm("lvextend", "-q", "-L", "+4M", f"{vg}/a")
        yield img, vg, lvm


def test_lvm_whole_disk_pv_matches_lvs(whole_disk_pv: tuple[Path, str, Lvm]) -> None:
    img, vg, lvm = whole_disk_pv
    layout = read_layout(img)
    assert layout.table is TableType.NONE and layout.warnings == ()
    (vgo,) = layout.volume_groups
    assert vgo.name == vg and vgo.extent_size == EXTENT
    (pv_row,) = lvm.report("pvs", "pv_uuid,pe_start,pv_pe_count", "pv")
    (pv,) = vgo.pvs
    assert pv.uuid == pv_row["pv_uuid"] and pv.disk_byte == 0 and pv.partition is None
    assert pv.pe_start_byte == int(pv_row["pe_start"].rstrip("B"))
    assert pv.pe_count == int(pv_row["pv_pe_count"])
    segs = lvm.report("lvs", "lv_name,seg_start_pe,seg_size_pe,seg_pe_ranges,segtype", "seg")
    ours = [
        (lv.name, s.start_extent, s.extent_count, s.stripes[0].start_extent, s.is_linear)
        for lv in vgo.lvs
        for s in lv.segments
    ]
    theirs = [
        (
            r["lv_name"],
            int(r["seg_start_pe"]),
            int(r["seg_size_pe"]),
            int(r["seg_pe_ranges"].split(":")[1].split("-")[0]),
            r["segtype"] == "linear",
        )
        for r in segs
    ]
    assert sorted(ours) == sorted(theirs)
    b = resolve_slice(layout, f"lv={vg}/b")
    b_seg = next(lv for lv in vgo.lvs if lv.name == "b").segments[0]
    assert b.start_byte == pv.pe_start_byte + b_seg.stripes[0].start_extent * EXTENT
    assert b.size_bytes == 12 * MIB
    with pytest.raises(InputError, match="not contiguous"):
        resolve_slice(layout, f"lv={vg}/a")  # 8M, then 4M after b
    a_parts = resolve_extents(layout, f"lv={vg}/a")
    assert [(s.start_byte, s.size_bytes) for s in a_parts] == [
        (pv.pe_start_byte, 8 * MIB),
        (pv.pe_start_byte + 5 * EXTENT, 4 * MIB),
    ]
    assert resolve_extents(layout, f"lv={vg}/b") == (b,)
    # The LV as one backend: a write across its segment boundary lands in both places.
    with FileBackend(img) as disk:
        lv_a = slice_backend(disk, [(s.start_byte, s.size_bytes) for s in a_parts])
        assert lv_a.num_blocks * 512 == 12 * MIB
        lv_a.write(8 * MIB // 512 - 1, b"\x11" * 512 + b"\x22" * 512)
    data = img.read_bytes()
    assert data[pv.pe_start_byte + 8 * MIB - 512 : pv.pe_start_byte + 8 * MIB] == b"\x11" * 512
    far = pv.pe_start_byte + 5 * EXTENT
    assert data[far : far + 512] == b"\x22" * 512
    assert data[pv.pe_start_byte + 8 * MIB : pv.pe_start_byte + 8 * MIB + 512] == bytes(512)
    with pytest.raises(InputError, match="no LV 'zz'"):
        resolve_slice(layout, f"lv={vg}/zz")
    with pytest.raises(InputError, match="no volume group"):
        resolve_slice(layout, "lv=nope/b")


def test_lvm_pvs_on_partitions_striped_and_linear(tmp_path: Path) -> None:
    img = _blank(tmp_path, 48 * MIB)
    run(
        "sfdisk", "-q", str(img),
        stdin="label: dos\nstart=2048, size=20M, type=8e\nsize=20M, type=8e\n",
    )  # fmt: skip
    parts = read_layout(img).partitions
    lvm = Lvm(tmp_path / "lvmconf")
    vg = _vg()
    with _loops(img, [(p.start_byte, p.size_bytes) for p in parts]) as devs:
        lvm.devices = devs
        for d in devs:
            lvm("pvcreate", "-q", d)
        lvm("vgcreate", "-q", vg, *devs)
        lvm("lvcreate", "-q", "-n", "lin", "-L", "4M", vg, devs[1])
        lvm("lvcreate", "-q", "-n", "str", "-i", "2", "-I", "64k", "-L", "8M", vg)
        segs = lvm.report("lvs", "lv_name,seg_pe_ranges,segtype,stripes", "seg")
        pvs = lvm.report("pvs", "pv_name,pv_uuid,pe_start", "pv")
    layout = read_layout(img)
    assert layout.table is TableType.MBR and layout.warnings == ()
    (vgo,) = layout.volume_groups
    dev_part = dict(zip(devs, (p.number for p in parts), strict=True))
    uuid_part = {r["pv_uuid"]: dev_part[r["pv_name"]] for r in pvs}
    for pv in vgo.pvs:
        assert pv.partition == uuid_part[pv.uuid]
        assert pv.disk_byte == layout.partition(uuid_part[pv.uuid]).start_byte  # type: ignore[union-attr]
    pv_by_name = {pv.name: pv for pv in vgo.pvs}
    for row in segs:
        lv = next(x for x in vgo.lvs if x.name == row["lv_name"])
        (seg,) = lv.segments
        ranges = row["seg_pe_ranges"].split()
        assert len(seg.stripes) == len(ranges) == int(row["stripes"])
        for stripe, rng in zip(seg.stripes, ranges, strict=True):
            dev, pe = rng.split(":")
            pv = pv_by_name[stripe.pv]
            assert pv.partition == dev_part[dev]
            assert stripe.start_extent == int(pe.split("-")[0])
            assert (
                stripe.disk_byte == pv.disk_byte + pv.pe_start_byte + stripe.start_extent * EXTENT
            )  # type: ignore[operator]
    lin = resolve_slice(layout, f"lv={vg}/lin")
    assert lin.start_byte >= parts[1].start_byte and lin.end_byte <= parts[1].end_byte
    assert lin.size_bytes == 4 * MIB
    striped = next(x for x in vgo.lvs if x.name == "str")
    assert striped.segments[0].stripe_size_bytes == 64 * 1024
    with pytest.raises(InputError, match="striped with 2 stripes"):
        resolve_slice(layout, f"lv={vg}/str")


def test_lvm_corrupt_label_is_reported(whole_disk_pv: tuple[Path, str, Lvm]) -> None:
    img, vg, _lvm = whole_disk_pv
    with open(img, "r+b") as f:
        f.seek(512 + 100)  # inside the PV header, covered by the label CRC
        byte = f.read(1)
        f.seek(512 + 100)
        f.write(bytes([byte[0] ^ 0xFF]))
    layout = read_layout(img)
    assert layout.volume_groups == ()
    assert any("label CRC" in w for w in layout.warnings)
    with pytest.raises(InputError, match="label CRC"):
        resolve_slice(layout, f"lv={vg}/b")


def test_lvm_corrupt_metadata_text_is_reported(whole_disk_pv: tuple[Path, str, Lvm]) -> None:
    img, _vg_name, _lvm = whole_disk_pv
    with open(img, "r+b") as f:
        f.seek(4096)
        hdr = f.read(MDA_HEADER_SIZE)
        offset = struct.unpack_from("<Q", hdr, 40)[0]
        f.seek(4096 + offset + 10)
        f.write(b"#")
    layout = read_layout(img)
    assert any("metadata text CRC" in w for w in layout.warnings)


def test_lvm_wrapped_metadata_is_read(whole_disk_pv: tuple[Path, str, Lvm]) -> None:
    """Move the current metadata text so it wraps around the end of the circular
    buffer (what LVM2 does after many updates), with the header re-sealed."""
    img, _vg_name, _lvm = whole_disk_pv
    before = read_layout(img)
    with open(img, "r+b") as f:
        f.seek(4096)
        hdr = bytearray(f.read(MDA_HEADER_SIZE))
        start, size = struct.unpack_from("<QQ", hdr, 24)
        offset, length, crc, _flags = struct.unpack_from("<QQII", hdr, 40)
        f.seek(start + offset)
        text = f.read(length)
        assert lvm_crc(text) == crc
        new_off = size - length // 2
        f.seek(start + new_off)
        f.write(text[: length // 2])
        f.seek(start + MDA_HEADER_SIZE)
        f.write(text[length // 2 :])
        struct.pack_into("<Q", hdr, 40, new_off)
        struct.pack_into("<I", hdr, 0, lvm_crc(bytes(hdr[4:])))
        f.seek(4096)
        f.write(hdr)
    after = read_layout(img)
    assert after.warnings == ()
    assert after.volume_groups == before.volume_groups


def test_lvm_vgcfgbackup_file_parses(whole_disk_pv: tuple[Path, str, Lvm], tmp_path: Path) -> None:
    img, vg, lvm = whole_disk_pv
    with _loops(img, [(0, 64 * MIB)]) as (dev,):
        lvm.devices = [dev]
        lvm("vgcfgbackup", "-f", str(tmp_path / "backup"), vg)
    cfg = parse_config((tmp_path / "backup").read_text())
    assert cfg["contents"] == "Text Format Volume Group" and cfg["version"] == 1
    section = cfg[vg]
    assert isinstance(section, dict)
    assert section["extent_size"] == EXTENT // 512
    lvs = section["logical_volumes"]
    assert isinstance(lvs, dict) and set(lvs) == {"a", "b"}
    a = lvs["a"]
    assert isinstance(a, dict) and a["segment_count"] == 2
    seg = a["segment2"]
    assert isinstance(seg, dict) and seg["stripes"] == ["pv0", 5]


def test_lvmconfig_syntax() -> None:
    cfg = parse_config(
        'a = 1\nb = -2.5 # comment\nc = "x\\"y\\\\z"\nd = []\ne = ["p", 1, 2]\n'
        "s {\n t {\n  u = 0\n }\n}\n"
    )
    assert cfg == {
        "a": 1,
        "b": -2.5,
        "c": 'x"y\\z',
        "d": [],
        "e": ["p", 1, 2],
        "s": {"t": {"u": 0}},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = ", "line 1: expected a string or a number, found 'end of text'"),
        ("a = [1, 2", "expected ',' or ']'"),
        ("s {\n a = 1\n", "line 2: expected '}'"),
        ("a 1", "expected '=' or '{' after 'a'"),
        ("a = 1\na = 2", "line 2: 'a' is defined twice"),
        ("a = @", "line 1: unexpected character '@'"),
        ("= 1", "expected a name"),
        ("a = [[1]]", "expected a string or a number"),
        ("s {" * 40, "nested sections"),
    ],
)
def test_lvmconfig_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab1-=.[]{},"#\\ \n', max_size=80))
def test_lvmconfig_garbage_in_gives_input_error(text: str) -> None:
    with contextlib.suppress(InputError):
        parse_config(text)


def test_lvm_second_metadata_copy_is_used(tmp_path: Path) -> None:
    img = _blank(tmp_path, 32 * MIB)
    lvm = Lvm(tmp_path / "lvmconf")
    vg = _vg()
    with _loops(img, [(0, 32 * MIB)]) as (dev,):
        lvm.devices = [dev]
        lvm("pvcreate", "-q", "--pvmetadatacopies", "2", dev)
        lvm("vgcreate", "-q", vg, dev)
        lvm("lvcreate", "-q", "-n", "one", "-L", "4M", vg)
    good = read_layout(img)
    assert good.warnings == ()
    with open(img, "r+b") as f:  # break the first metadata area's header
        f.seek(4096 + 4)
        f.write(b"XXXX")
    layout = read_layout(img)
    assert layout.volume_groups == good.volume_groups
    assert resolve_slice(layout, f"lv={vg}/one").size_bytes == 4 * MIB


@pytest.fixture(scope="module")
def pv_head(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The first 1 MiB of a real PV (label, PV header, metadata area) made by lvm2."""
    tmp = tmp_path_factory.mktemp("pvhead")
    img = _blank(tmp, 16 * MIB)
    lvm = Lvm(tmp / "lvmconf")
    vg = _vg()
    with _loops(img, [(0, 16 * MIB)]) as (dev,):
        lvm.devices = [dev]
        lvm("pvcreate", "-q", dev)
        lvm("vgcreate", "-q", vg, dev)
        lvm("lvcreate", "-q", "-n", "x", "-L", "4M", vg)
    return img.read_bytes()[: 1 * MIB]


@settings(max_examples=300, deadline=None)
@given(
    hits=st.lists(
        st.tuples(st.integers(0, 12 * 1024), st.binary(min_size=1, max_size=16)), max_size=6
    )
)
def test_lvm_garbage_in_gives_warnings_not_crashes(
    pv_head: bytes, hits: list[tuple[int, bytes]]
) -> None:
    from sgguard.topology import parse_layout
    from tests.topology.disks import SparseDisk

    disk = SparseDisk(16 * MIB, [(0, pv_head)])
    for off, data in hits:
        disk.write(off, data)
    with contextlib.suppress(InputError):
        layout = parse_layout(disk.read_at, disk.size)
        for vg in layout.volume_groups:
            for lv in vg.lvs:
                for seg in lv.segments:
                    for s in seg.stripes:
                        assert s.disk_byte is None or 0 <= s.disk_byte < disk.size
