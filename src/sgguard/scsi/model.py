"""The vocabulary of the SCSI command table: device types, directions, effects, LBA sources.

Owns the typed shape of a command table row (`CommandDef`) and its variants per
device type. The rows themselves live in `sgguard.scsi.table`; every other part
of sgguard (kernel model, target dispatch, policy, REPORT SUPPORTED OPERATION
CODES, the decoder) reads these facts from there and nowhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "CommandDef",
    "DeviceType",
    "Direction",
    "Effect",
    "LbaRange",
    "LbaSource",
    "Variant",
]


class DeviceType(enum.IntEnum):
    """Peripheral device types (SPC-5 table 'Peripheral device type')."""

    SBC = 0x00  # direct-access block device (SBC-4)
    SSC = 0x01  # sequential-access (tape, SSC)
    MMC = 0x05  # CD/DVD (MMC-6)
    SMC = 0x08  # medium changer (SMC)


class Direction(enum.Enum):
    """Data transfer direction of a command, as SG_IO's dxfer_direction sees it."""

    NONE = "none"
    IN = "in"  # device to initiator (data-in)
    OUT = "out"  # initiator to device (data-out)
    BIDI = "bidi"


class Effect(enum.Flag):
    """What a command can do. The empty flag means no effect on data or device."""

    NONE = 0
    READS_MEDIA = enum.auto()
    WRITES_MEDIA = enum.auto()
    ERASES = enum.auto()  # erases, unmaps, sanitizes, formats
    DEVICE_STATE = enum.auto()  # changes device state or configuration (mode, start/stop, eject)
    FIRMWARE = enum.auto()  # downloads microcode or writes device buffers
    RESERVATIONS = enum.auto()
    SECURITY = enum.auto()  # security protocols, keys, passwords
    ATA_PASSTHROUGH = enum.auto()  # carries an ATA command whose own effect decides
    UNKNOWN = enum.auto()  # vendor specific or reserved opcode: nothing limits what it does

    @property
    def dangerous(self) -> bool:
        """True when the command can change or disclose more than device metadata."""
        return bool(self & ~Effect.NONE)


class LbaSource(enum.Enum):
    """Where the logical block addresses a command touches are found."""

    NONE = "none"  # touches no LBA range
    CDB = "cdb"  # LBA and transfer length fields of the CDB
    CDB_WRITE_SAME = "cdb-write-same"  # CDB fields; zero blocks means to the end of the medium
    CDB_WHOLE_MEDIUM = "whole-medium"  # the whole medium (FORMAT UNIT, SANITIZE, ...)
    UNMAP_PARAMETERS = "unmap-parameters"  # UNMAP block descriptors in the parameter list
    GET_LBA_STATUS = "get-lba-status"  # starting LBA in the CDB, ranges in the returned data
    COMPARE_AND_WRITE = "compare-and-write"  # CDB fields, data-out is compare + write halves
    XCOPY_SEGMENTS = "xcopy-segments"  # EXTENDED COPY segment descriptors
    ATA_TASKFILE = "ata-taskfile"  # the ATA command's LBA28/LBA48 taskfile
    CDB_ZERO_TO_END = "cdb-zero-to-end"  # CDB fields; zero blocks means to the end (SYNC CACHE)
    ROD_TOKEN_RANGES = "rod-token-ranges"  # POPULATE TOKEN / WRITE USING TOKEN range descriptors
    SCATTERED_RANGES = "scattered-ranges"  # WRITE SCATTERED LBA range descriptors
    DEFECT_LIST = "defect-list"  # REASSIGN BLOCKS defect LBA list in the parameter list


@dataclass(frozen=True, slots=True)
class Variant:
    """How one (opcode, service action) behaves on a set of device types."""

    device_types: frozenset[DeviceType]
    name: str  # T10 name as printed, e.g. "READ (10)", "UNMAP"
    direction: Direction
    effects: Effect
    lba: LbaSource = LbaSource.NONE
    layout: str | None = None  # key of the CDB layout in sgguard.scsi.cdb; None: no field layout


@dataclass(frozen=True, slots=True)
class CommandDef:
    """One row of the command table: one (opcode, service action) pair.

    `variants` lists the command's meaning per device type; an opcode whose
    meaning differs between device types (0x42 READ SUB-CHANNEL on MMC, UNMAP on
    SBC) has one variant per meaning. `cdb_length` follows the group rule of the
    opcode unless `length_note` says why not; variable-length CDBs (0x7f) give
    the length of their fixed layout.
    """

    opcode: int
    service_action: int | None
    cdb_length: int
    variants: tuple[Variant, ...]
    length_note: str = ""
    spc: bool = False  # defined by SPC for all device types
    standards: tuple[str, ...] = field(default=())  # e.g. ("SBC-4",)

    @property
    def name(self) -> str:
        """The primary name: SPC's or SBC's if present, else the first variant's."""
        for v in self.variants:
            if DeviceType.SBC in v.device_types:
                return v.name
        return self.variants[0].name

    @property
    def names(self) -> dict[DeviceType, str]:
        return {dt: v.name for v in self.variants for dt in v.device_types}

    @property
    def effects(self) -> Effect:
        """Union of the effects over every device type: the worst case."""
        out = Effect.NONE
        for v in self.variants:
            out |= v.effects
        return out

    def variant(self, device_type: DeviceType = DeviceType.SBC) -> Variant | None:
        for v in self.variants:
            if device_type in v.device_types:
                return v
        return None


@dataclass(frozen=True, slots=True)
class LbaRange:
    """A run of logical blocks a command touches. `to_end`: from `lba` to the last LBA."""

    lba: int
    blocks: int
    to_end: bool = False
