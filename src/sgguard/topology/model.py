"""The typed picture of a disk: partitions, LVM2 volumes, and slices of bytes.

Owns the frozen dataclasses every topology parser returns (`Layout`, `Partition`,
`VolumeGroup`, `PhysicalVolume`, `LogicalVolume`, `Segment`, `Stripe`) and `Slice`,
the byte range a logical unit exports. All positions are absolute byte offsets on
the disk that was read, so a slice never depends on a sector size guess.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Layout",
    "LogicalVolume",
    "Partition",
    "PartitionKind",
    "PhysicalVolume",
    "ReadAt",
    "Segment",
    "Slice",
    "Stripe",
    "TableType",
    "VolumeGroup",
]

# Sans-IO access to a disk: read_at(offset, size) returns at most `size` bytes
# (fewer only at the end of the disk).
ReadAt = Callable[[int, int], bytes]


class TableType(enum.Enum):
    """What describes the disk's partitions."""

    NONE = "none"
    MBR = "mbr"
    GPT = "gpt"


class PartitionKind(enum.Enum):
    """Where a partition's entry lives."""

    PRIMARY = "primary"  # one of the MBR's four entries
    EXTENDED = "extended"  # a primary entry holding the EBR chain
    LOGICAL = "logical"  # from an EBR inside the extended partition
    GPT = "gpt"  # a GPT partition entry


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition. `number` is the kernel's (sda<number>): GPT entry index + 1,
    MBR primaries 1-4, logicals from 5 in chain order.

    `type_code` is the GPT partition type GUID (upper case) or the MBR system
    ID as ``0x83``; `type_name` its common name (empty when unknown).
    """

    number: int
    kind: PartitionKind
    start_byte: int
    size_bytes: int
    type_code: str
    type_name: str
    name: str = ""  # GPT partition name (UTF-16LE on disk)
    guid: str = ""  # GPT unique partition GUID (upper case)
    attributes: int = 0  # GPT attribute bits
    bootable: bool = False  # MBR boot indicator 0x80

    @property
    def end_byte(self) -> int:
        """One past the last byte."""
        return self.start_byte + self.size_bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "kind": self.kind.value,
            "start_byte": self.start_byte,
            "size_bytes": self.size_bytes,
            "type": self.type_code,
            "type_name": self.type_name,
            "name": self.name,
            "guid": self.guid,
            "attributes": self.attributes,
            "bootable": self.bootable,
        }


@dataclass(frozen=True, slots=True)
class Stripe:
    """Where one stripe of a segment starts: a PV (by its metadata name) and an extent."""

    pv: str
    start_extent: int
    disk_byte: int | None  # absolute byte on this disk, None when the PV is elsewhere


@dataclass(frozen=True, slots=True)
class Segment:
    """One LV segment (LVM2 metadata `segmentN { ... }`).

    Linear segments are type "striped" with one stripe (LVM2 writes them that
    way); `is_linear` says so.
    """

    start_extent: int
    extent_count: int
    type: str
    stripes: tuple[Stripe, ...] = ()
    stripe_size_bytes: int = 0

    @property
    def is_linear(self) -> bool:
        return self.type in ("striped", "linear") and len(self.stripes) == 1

    def to_json(self, extent_size: int) -> dict[str, Any]:
        return {
            "start_extent": self.start_extent,
            "extent_count": self.extent_count,
            "type": self.type,
            "linear": self.is_linear,
            "size_bytes": self.extent_count * extent_size,
            "stripe_size_bytes": self.stripe_size_bytes,
            "stripes": [
                {"pv": s.pv, "start_extent": s.start_extent, "disk_byte": s.disk_byte}
                for s in self.stripes
            ],
        }


@dataclass(frozen=True, slots=True)
class LogicalVolume:
    vg: str
    name: str
    uuid: str
    extent_size: int  # bytes
    segments: tuple[Segment, ...]
    status: tuple[str, ...] = ()

    @property
    def size_bytes(self) -> int:
        return sum(s.extent_count for s in self.segments) * self.extent_size

    def to_json(self) -> dict[str, Any]:
        return {
            "vg": self.vg,
            "name": self.name,
            "uuid": self.uuid,
            "size_bytes": self.size_bytes,
            "status": list(self.status),
            "segments": [s.to_json(self.extent_size) for s in self.segments],
        }


@dataclass(frozen=True, slots=True)
class PhysicalVolume:
    """A PV named in the VG metadata; `disk_byte` is its start on this disk if found here."""

    name: str  # "pv0" in the metadata
    uuid: str
    device: str  # device hint recorded by the tools
    pe_start_byte: int  # first extent, relative to the PV start
    pe_count: int
    disk_byte: int | None = None
    partition: int | None = None  # partition number holding it, None for the whole disk
    size_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uuid": self.uuid,
            "device": self.device,
            "pe_start_byte": self.pe_start_byte,
            "pe_count": self.pe_count,
            "disk_byte": self.disk_byte,
            "partition": self.partition,
            "size_bytes": self.size_bytes,
        }


@dataclass(frozen=True, slots=True)
class VolumeGroup:
    name: str
    uuid: str
    seqno: int
    extent_size: int  # bytes
    pvs: tuple[PhysicalVolume, ...]
    lvs: tuple[LogicalVolume, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uuid": self.uuid,
            "seqno": self.seqno,
            "extent_size": self.extent_size,
            "pvs": [p.to_json() for p in self.pvs],
            "lvs": [lv.to_json() for lv in self.lvs],
        }


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything found on one disk."""

    source: str
    size_bytes: int
    sector_size: int
    table: TableType
    partitions: tuple[Partition, ...] = ()
    disk_guid: str = ""  # GPT disk GUID
    mbr_signature: int | None = None  # MBR disk signature (bytes 440-443)
    first_usable_byte: int = 0  # GPT first usable LBA, in bytes
    last_usable_byte: int = 0  # GPT last usable LBA (inclusive), in bytes
    volume_groups: tuple[VolumeGroup, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def partition(self, number: int) -> Partition | None:
        for p in self.partitions:
            if p.number == number:
                return p
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "size_bytes": self.size_bytes,
            "sector_size": self.sector_size,
            "table": self.table.value,
            "disk_guid": self.disk_guid,
            "mbr_signature": (
                None if self.mbr_signature is None else f"0x{self.mbr_signature:08x}"
            ),
            "first_usable_byte": self.first_usable_byte,
            "last_usable_byte": self.last_usable_byte,
            "partitions": [p.to_json() for p in self.partitions],
            "volume_groups": [vg.to_json() for vg in self.volume_groups],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class Slice:
    """A byte range of a disk that a logical unit exports as its whole medium."""

    start_byte: int
    size_bytes: int
    description: str

    @property
    def end_byte(self) -> int:
        return self.start_byte + self.size_bytes
