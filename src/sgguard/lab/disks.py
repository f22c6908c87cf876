"""The lab's disk images: layouts, recognisable fill patterns, and before/after checks.

Owns the virtio-scsi disks the guest sees: their layouts (MBR written by `sfdisk`,
GPT by `sgdisk`, partitions separated by gaps), the region map of each disk (every
block belongs to exactly one named region: partition, gap, or partition-table
metadata), the fill pattern that names the disk, region and LBA in every block so
that data read back can be attributed, and the comparison of an image before and
after the guest ran (changed blocks per region). Layout and fill are pure
functions; `make_image` and `changed_blocks` are the thin file shells.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sgguard.errors import UsageError

__all__ = [
    "BLOCK",
    "DiskLayout",
    "Partition",
    "Region",
    "changed_blocks",
    "expected_block",
    "lab_disks",
    "make_image",
    "region_hashes",
]

BLOCK = 512
GPT_META = 34  # protective MBR + header + 32 blocks of entries (UEFI 2.10 5.3)


@dataclass(frozen=True, slots=True)
class Partition:
    number: int
    start: int  # in blocks
    blocks: int

    @property
    def end(self) -> int:
        return self.start + self.blocks


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    start: int
    blocks: int

    @property
    def end(self) -> int:
        return self.start + self.blocks

    def contains(self, lba: int) -> bool:
        return self.start <= lba < self.end


@dataclass(frozen=True, slots=True)
class DiskLayout:
    """One lab disk: role (name), SCSI target id, label, size and partitions."""

    role: str
    scsi_id: int
    label: str  # "dos" or "gpt"
    blocks: int
    partitions: tuple[Partition, ...]
    removable: bool = False

    def partition(self, number: int) -> Partition:
        for p in self.partitions:
            if p.number == number:
                return p
        raise KeyError(number)

    def regions(self) -> tuple[Region, ...]:
        """Every block in exactly one region, in LBA order."""
        out: list[Region] = []
        if self.label == "gpt":
            out.append(Region("gpt-primary", 0, GPT_META))
            cursor = GPT_META
            limit = self.blocks - (GPT_META - 1)
        else:
            out.append(Region("mbr", 0, 1))
            cursor = 1
            limit = self.blocks
        gap = 0
        for p in sorted(self.partitions, key=lambda p: p.start):
            if p.start > cursor:
                out.append(Region(f"gap{gap}", cursor, p.start - cursor))
                gap += 1
            out.append(Region(f"p{p.number}", p.start, p.blocks))
            cursor = p.end
        if cursor < limit:
            out.append(Region("tail", cursor, limit - cursor))
        if self.label == "gpt":
            out.append(Region("gpt-backup", limit, self.blocks - limit))
        return tuple(out)

    def region_of(self, lba: int) -> Region:
        for r in self.regions():
            if r.contains(lba):
                return r
        raise ValueError(f"LBA {lba} is outside disk {self.role}")


def lab_disks() -> tuple[DiskLayout, ...]:
    """The three disks of a lab run.

    `matrix` (MBR, two partitions): the policy matrix; the dm maps `sgg-mpart`
    (over partition 1's range) and `sgg-mwhole` (all of it) sit on it.
    `atk` (MBR, three partitions and gaps): attacks from partition 1 and from
    `sgg-apart`, a dm map over partition 2's range.
    `tools` (GPT, three partitions, removable like a USB stick): attacks from
    partition 1, then the real tools (eject really removes the medium).
    """
    mib = 2048
    return (
        DiskLayout(
            "matrix",
            0,
            "dos",
            16 * mib,
            (Partition(1, mib, 4 * mib), Partition(2, 6 * mib, 4 * mib)),
        ),
        DiskLayout(
            "atk",
            1,
            "dos",
            32 * mib,
            (
                Partition(1, mib, 6 * mib),
                Partition(2, 8 * mib, 8 * mib),
                Partition(3, 17 * mib, 14 * mib),
            ),
        ),
        DiskLayout(
            "tools",
            2,
            "gpt",
            32 * mib,
            (
                Partition(1, mib, 6 * mib),
                Partition(2, 8 * mib, 8 * mib),
                Partition(3, 17 * mib, 13 * mib),
            ),
            removable=True,
        ),
    )


def expected_block(role: str, region: str, lba: int) -> bytes:
    """The fill of one block: names disk, region and LBA so reads can be attributed."""
    unit = f"SGGFILL disk={role} region={region} lba={lba:08d}|".encode()
    return (unit * (BLOCK // len(unit) + 1))[:BLOCK]


def _fill(layout: DiskLayout) -> Iterator[bytes]:
    for r in layout.regions():
        for lba in range(r.start, r.end):
            yield expected_block(layout.role, r.name, lba)


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise UsageError(f"{tool} is not installed (apt-get install {package})")
    return path


def make_image(layout: DiskLayout, path: Path) -> None:
    """Write the image: fill every block, then the partition table on top."""
    with path.open("wb") as f:
        chunk: list[bytes] = []
        for block in _fill(layout):
            chunk.append(block)
            if len(chunk) == 2048:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    if layout.label == "dos":
        script = "label: dos\nunit: sectors\n" + "".join(
            f"start={p.start}, size={p.blocks}, type=83\n" for p in layout.partitions
        )
        proc = subprocess.run(
            [_need("sfdisk", "fdisk"), "--no-reread", "--no-tell-kernel", "-q", str(path)],
            input=script,
            capture_output=True,
            text=True,
        )
    else:
        argv = [_need("sgdisk", "gdisk"), "-o"]
        for p in layout.partitions:
            argv += [f"-n{p.number}:{p.start}:{p.end - 1}", f"-c{p.number}:sgg{p.number}"]
        proc = subprocess.run([*argv, str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"partitioning {path.name} failed: {proc.stderr.strip()[:200]}")


def region_hashes(layout: DiskLayout, image: bytes) -> dict[str, str]:
    """SHA-256 of every region of an image."""
    return {
        r.name: hashlib.sha256(image[r.start * BLOCK : r.end * BLOCK]).hexdigest()
        for r in layout.regions()
    }


def changed_blocks(before: bytes, after: bytes) -> list[int]:
    """LBAs whose 512 bytes differ between two images of the same size."""
    changed: list[int] = []
    step = 64 * BLOCK
    for off in range(0, min(len(before), len(after)), step):
        if before[off : off + step] != after[off : off + step]:
            for b in range(off, min(off + step, len(after)), BLOCK):
                if before[b : b + BLOCK] != after[b : b + BLOCK]:
                    changed.append(b // BLOCK)
    return changed
