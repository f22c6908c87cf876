"""`sgguard topology`: text and JSON output, slices, errors as one line with exit 2;
layouts read from a block device (loop) as well as from files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sgguard.errors import InputError
from sgguard.topology import (
    GptPartitionSpec,
    TableType,
    build_gpt_image,
    read_layout,
    resolve_slice,
)
from tests.topology.tools import loop_attached

MIB = 1 << 20


def sgguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgguard", "topology", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def gpt_image(tmp_path: Path) -> Path:
    img = tmp_path / "disk.img"
    build_gpt_image(
        img,
        64 * MIB,
        [GptPartitionSpec(16 * MIB, "alpha"), GptPartitionSpec(None, "beta")],
        disk_guid="0A0B0C0D-0000-4000-8000-000000000001",
    )
    return img


def test_topology_prints_partitions(gpt_image: Path) -> None:
    res = sgguard(str(gpt_image))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "table gpt" in out and "0A0B0C0D-0000-4000-8000-000000000001" in out
    lines = [ln.split() for ln in out.splitlines()]
    rows = [ln for ln in lines if ln and ln[0] in ("1", "2") and ln[1] == "gpt"]
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("1", str(MIB), str(16 * MIB)),
        ("2", str(17 * MIB), str(46 * MIB)),
    ]
    assert "alpha" in out and "beta" in out and "Linux filesystem" in out


def test_topology_json_and_slices(gpt_image: Path) -> None:
    res = sgguard(str(gpt_image), "--json", "--slice", "name=beta", "--slice", "range=2M:1M")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["table"] == "gpt" and doc["size_bytes"] == 64 * MIB
    assert [p["name"] for p in doc["partitions"]] == ["alpha", "beta"]
    assert [(s["start_byte"], s["size_bytes"]) for s in doc["slices"]] == [
        (17 * MIB, 46 * MIB),
        (2 * MIB, MIB),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slice", "p7"], "has no partition 7"),
        (["--slice", "name=gamma"], "no partition named 'gamma'"),
        (["--slice", "range=1000:4096"], "multiples of 512"),
        (["--slice", "range=60M:8M"], "ends beyond the disk"),
        (["--slice", "range=1M:4Q"], "expected a number with an optional unit"),
        (["--slice", "lv=vg/lv"], "no volume group 'vg'"),
        (["--slice", "bogus"], "expected N, pN"),
        (["--slice", "what=1"], "unknown kind 'what'"),
    ],
)
def test_topology_bad_selectors_fail_with_one_line(
    gpt_image: Path, args: list[str], message: str
) -> None:
    res = sgguard(str(gpt_image), *args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_topology_bad_images_fail_with_one_line(tmp_path: Path, gpt_image: Path) -> None:
    res = sgguard(str(tmp_path / "missing.img"))
    assert res.returncode == 2 and "No such file" in res.stderr
    with open(gpt_image, "r+b") as f:  # both GPT headers' CRCs destroyed
        f.seek(512 + 16)
        f.write(b"\0\0\0\0")
        f.seek(64 * MIB - 512 + 16)
        f.write(b"\0\0\0\0")
    res = sgguard(str(gpt_image))
    assert res.returncode == 2 and "no usable GPT" in res.stderr
    assert "Traceback" not in res.stderr


def test_topology_units_in_ranges(gpt_image: Path) -> None:
    layout = read_layout(gpt_image)
    assert resolve_slice(layout, "range=2048s:1MiB").start_byte == MIB
    assert resolve_slice(layout, "range=0x100000:8K").size_bytes == 8192
    with pytest.raises(InputError, match="multiples"):
        resolve_slice(layout, "range=0:1000KB")
    with pytest.raises(InputError, match="multiples of 4096"):
        resolve_slice(layout, "range=512:4096", alignment=4096)
    with pytest.raises(InputError, match="empty"):
        resolve_slice(layout, "range=0:0")


def test_read_layout_from_block_device(gpt_image: Path) -> None:
    with loop_attached(gpt_image) as dev:
        layout = read_layout(dev)
        assert layout.table is TableType.GPT and layout.size_bytes == 64 * MIB
        assert layout.sector_size == 512
        assert [p.name for p in layout.partitions] == ["alpha", "beta"]
        res = sgguard(dev, "--json")
        assert res.returncode == 0 and json.loads(res.stdout)["partitions"][1]["name"] == "beta"


def test_topology_rich_tables_on_a_terminal(
    gpt_image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sgguard.cli import topology_cmd

    layout = read_layout(gpt_image)
    topology_cmd._print_rich(layout, [resolve_slice(layout, "p1")])
    out = capsys.readouterr().out
    assert "partitions" in out and "alpha" in out and "beta" in out
    assert "slices" in out and str(MIB) in out
