"""Disk topology: who owns which blocks of a shared disk.

Owns parsing of MBR (with EBR chains) and GPT partition tables and of LVM2
physical volumes and their VG metadata, read from image files or block devices
with positional reads only; the choice of a `Slice` (byte range) by selector;
and a GPT image writer. See `model` for the types, `reader` for the I/O shell,
`mbr`, `gpt`, `lvm`, `lvmconfig`, `dm` (device-mapper tables) for the sans-IO formats.
"""

from __future__ import annotations

from sgguard.topology.gpt import (
    GPT_TYPE_NAMES,
    LINUX_FILESYSTEM,
    GptPartitionSpec,
    build_gpt,
    build_gpt_image,
)
from sgguard.topology.mbr import MBR_TYPE_NAMES, MbrEntry, build_mbr
from sgguard.topology.model import (
    Layout,
    LogicalVolume,
    Partition,
    PartitionKind,
    PhysicalVolume,
    Segment,
    Slice,
    Stripe,
    TableType,
    VolumeGroup,
)
from sgguard.topology.reader import (
    parse_layout,
    parse_size,
    read_layout,
    resolve_extents,
    resolve_slice,
)

__all__ = [
    "GPT_TYPE_NAMES",
    "LINUX_FILESYSTEM",
    "MBR_TYPE_NAMES",
    "GptPartitionSpec",
    "Layout",
    "LogicalVolume",
    "MbrEntry",
    "Partition",
    "PartitionKind",
    "PhysicalVolume",
    "Segment",
    "Slice",
    "Stripe",
    "TableType",
    "VolumeGroup",
    "build_gpt",
    "build_gpt_image",
    "build_mbr",
    "parse_layout",
    "parse_size",
    "read_layout",
    "resolve_extents",
    "resolve_slice",
]
