"""sgguard.lab.disks: layouts, fill, images read back by sfdisk/sgdisk, change detection."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sgguard.lab.disks import (
    BLOCK,
    changed_blocks,
    expected_block,
    lab_disks,
    make_image,
    region_hashes,
)


@pytest.mark.parametrize("layout", lab_disks(), ids=lambda d: d.role)
def test_regions_cover_every_block_once(layout) -> None:  # type: ignore[no-untyped-def]
    regions = layout.regions()
    assert regions[0].start == 0
    for a, b in itertools.pairwise(regions):
        assert a.end == b.start
    assert regions[-1].end == layout.blocks
    names = [r.name for r in regions]
    assert len(set(names)) == len(names)
    for p in layout.partitions:
        assert f"p{p.number}" in names


def test_expected_block_names_disk_region_lba() -> None:
    block = expected_block("atk", "p3", 35000)
    assert len(block) == BLOCK
    assert block.startswith(b"SGGFILL disk=atk region=p3 lba=00035000|")


@pytest.mark.skipif(shutil.which("sfdisk") is None, reason="fdisk not installed")
@pytest.mark.parametrize("role", ["matrix", "atk", "tools"])
def test_make_image_partitions_read_back_by_sfdisk(tmp_path: Path, role: str) -> None:
    layout = next(d for d in lab_disks() if d.role == role)
    img = tmp_path / f"{role}.img"
    make_image(layout, img)
    assert img.stat().st_size == layout.blocks * BLOCK
    out = subprocess.run(
        ["sfdisk", "--json", str(img)], capture_output=True, text=True, check=True
    ).stdout
    table = json.loads(out)["partitiontable"]
    assert table["label"] == layout.label
    got = sorted((p["start"], p["size"]) for p in table["partitions"])
    assert got == sorted((p.start, p.blocks) for p in layout.partitions)
    data = img.read_bytes()
    # every partition block still carries its fill
    for p in layout.partitions:
        for lba in (p.start, p.end - 1):
            assert data[lba * BLOCK : (lba + 1) * BLOCK] == expected_block(
                role, f"p{p.number}", lba
            )


def test_changed_blocks_and_region_hashes() -> None:
    layout = lab_disks()[0]
    before = b"".join(
        expected_block(layout.role, layout.region_of(lba).name, lba) for lba in range(layout.blocks)
    )
    after = bytearray(before)
    after[5000 * BLOCK + 7] ^= 1
    after[(layout.blocks - 1) * BLOCK] ^= 0xFF
    assert changed_blocks(before, bytes(after)) == [5000, layout.blocks - 1]
    h1, h2 = region_hashes(layout, before), region_hashes(layout, bytes(after))
    changed = {k for k in h1 if h1[k] != h2[k]}
    assert changed == {layout.region_of(5000).name, layout.region_of(layout.blocks - 1).name}
