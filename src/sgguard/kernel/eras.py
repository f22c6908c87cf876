"""Kernel facts per era: the SG_IO opcode filter lists and the boundaries between eras.

Owns the kernel's own tables as data: the read-safe (R) and write-safe (W) opcode
lists of `blk_verify_command` / `scsi_cmd_allowed` with the release each entry
joined, the partition whitelist of `scsi_verify_blk_ioctl`, and the dated
boundaries (`Boundary`) that switch the model from one behaviour to the next,
with the window in which a boundary is only estimated. `flags_for(version)`
resolves a release to the set of behaviours it has and the uncertain ones.

Sources (torvalds/linux, read for facts; nothing copied): block/scsi_ioctl.c
(`blk_set_cmd_filter_defaults`, `blk_verify_command`, `scsi_verify_blk_ioctl`,
`sg_io`), drivers/scsi/scsi_ioctl.c (`scsi_cmd_allowed`, `scsi_ioctl`, 5.15+),
drivers/scsi/sd.c (`sd_ioctl`), drivers/scsi/sg.c (`sg_ioctl`,
`sg_allow_access`, `sg_new_write`), drivers/md/dm.c (`dm_blk_ioctl`,
`dm_prepare_ioctl`), drivers/md/dm-linear.c (`linear_ioctl`,
`linear_prepare_ioctl`), fs/ioctl.c (`vfs_ioctl`); and the measured facts of
shared/design/kernel-eras.md (Debian 6.1.0-56 and 6.12.117 in QEMU).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from sgguard.kernel.version import KernelVersion

__all__ = [
    "BOUNDARIES",
    "FILTER_ENTRIES",
    "PARTITION_WHITELIST",
    "Boundary",
    "Feature",
    "FilterEntry",
    "Flags",
    "era_name",
    "filter_lists",
    "flags_for",
]


class Feature(enum.Enum):
    """A behaviour that a kernel release has or lacks (True = the newer behaviour)."""

    PARTITION_FIX = "partition_fix"  # 0bfc96cb7722 / ec8013beddd7 / 577ebb374c78 (CVE-2011-4127)
    VFS_ENOTTY = "vfs_enotty"  # 07d106d0a33d: ENOIOCTLCMD reaches user space as ENOTTY
    FILTER_2012 = "filter_2012"  # REPORT LUNS, SERVICE ACTION IN(16), ... join the R list
    FILTER_WRITE_SAME = "filter_write_same"  # WRITE SAME (10)/(16)/"32" join the W list
    FILTER_ZBC = "filter_zbc"  # ZBC IN (R), ZBC OUT (W): 5.7
    PARTITION_ALL_ENOTTY = "partition_all_enotty"  # 0478fe68685a: whitelist dropped
    DM_REFACTOR = "dm_refactor"  # e980f62353c6: dm_blk_ioctl + prepare_ioctl
    SG_IO_EPERM = "sg_io_eperm"  # block-layer sg_io returns the filter's EPERM, not EFAULT
    SCSI_IOCTL_MERGED = "scsi_ioctl_merged"  # 5.15: block/scsi_ioctl.c moved into scsi_ioctl()


@dataclass(frozen=True, slots=True)
class Boundary:
    """When a `Feature` appears, and the releases where that date is only estimated."""

    feature: Feature
    commit: str
    has: Callable[[KernelVersion], bool]
    uncertain: Callable[[KernelVersion], bool]
    what: str
    outcome_relevant: bool = True  # False: changes only the errno or the rule's name


def _never(_v: KernelVersion) -> bool:
    return False


def _partition_fix(v: KernelVersion) -> bool:
    # Mainline 3.3-rc1; stable 3.0.18 and 3.2.2. 3.1.x never got it; 3.2.0/3.2.1 and
    # 3.0.0-3.0.17 are vulnerable. RHEL backported it to its 2.6.32 and later kernels.
    if v.distro == "rhel":
        return True
    if v.series == (3, 0):
        return v.at_least(3, 0, 18)
    if v.series == (3, 2):
        return v.at_least(3, 2, 2)
    return v.at_least(3, 3)


def _partition_fix_uncertain(v: KernelVersion) -> bool:
    # A distribution ABI name (3.2.0-4-amd64) hides the stable patch level.
    return v.patch is None and v.series in ((3, 0), (3, 2))


def _between(lo: tuple[int, ...], hi: tuple[int, ...]) -> Callable[[KernelVersion], bool]:
    """Uncertain for releases lo <= v < hi (version tuples, zero padded)."""
    low = (*lo, 0, 0, 0, 0)[:4]
    high = (*hi, 0, 0, 0, 0)[:4]

    def inside(v: KernelVersion) -> bool:
        return low <= v.key < high

    return inside


BOUNDARIES: tuple[Boundary, ...] = (
    Boundary(
        Feature.PARTITION_FIX,
        "0bfc96cb7722 ec8013beddd7 577ebb374c78",
        _partition_fix,
        _partition_fix_uncertain,
        "SCSI ioctls on partitions and partial dm maps refused without CAP_SYS_RAWIO "
        "(3.3, stable 3.0.18 and 3.2.2)",
    ),
    Boundary(
        Feature.VFS_ENOTTY,
        "07d106d0a33d",
        lambda v: v.at_least(3, 3),
        # Whether the 3.0.18/3.2.2 stable backports took it along is not confirmed.
        lambda v: v.series in ((3, 0), (3, 2)) and _partition_fix(v),
        "vfs_ioctl turns ENOIOCTLCMD into ENOTTY (EINVAL before)",
        outcome_relevant=False,
    ),
    Boundary(
        Feature.FILTER_2012,
        "(not found; between 2.6.26 and 3.6)",
        lambda v: v.at_least(3, 6),
        _between((2, 6, 27), (3, 6)),
        "REPORT LUNS a0, SERVICE ACTION IN(16) 9e, RECEIVE DIAGNOSTIC 1c, MAINTENANCE IN a3 "
        "join the R list, SET READ AHEAD a7 the W list (estimated: 3.6)",
    ),
    Boundary(
        Feature.FILTER_WRITE_SAME,
        "(block: allow WRITE_SAME commands with the SG_IO ioctl; after 3.10, by 4.14)",
        lambda v: v.at_least(4, 9),
        _between((3, 11), (4, 14)),
        "WRITE SAME(10) 41, WRITE SAME(16) 93 and WRITE_SAME_32's value 0d join the W list "
        "(estimated: 4.9)",
    ),
    Boundary(
        Feature.FILTER_ZBC,
        "(5.7)",
        lambda v: v.at_least(5, 7),
        _never,
        "ZBC IN 95 joins the R list, ZBC OUT 94 the W list",
    ),
    Boundary(
        Feature.PARTITION_ALL_ENOTTY,
        "0478fe68685a",
        lambda v: v.at_least(4, 16),
        _between((4, 16), (4, 19)),
        "scsi_verify_blk_ioctl drops its whitelist: every SCSI ioctl on a partition "
        "without CAP_SYS_RAWIO gets ENOTTY (estimated: 4.16; between 4.15 and 4.19)",
    ),
    Boundary(
        Feature.DM_REFACTOR,
        "e980f62353c6",
        lambda v: v.at_least(4, 5),
        _between((4, 4), (4, 14)),
        "dm_blk_ioctl/prepare_ioctl: a partial linear map needs CAP_SYS_RAWIO (no whitelist), "
        "and the caller's open mode reaches the filter (estimated: 4.5; before 4.14)",
    ),
    Boundary(
        Feature.SG_IO_EPERM,
        "(block/scsi_ioctl.c sg_io returns blk_fill_sghdr_rq's error; estimated 4.11)",
        lambda v: v.at_least(4, 11),
        _between((3, 17), (4, 11)),
        "SG_IO on a block device refused by the filter returns EPERM (EFAULT before)",
        outcome_relevant=False,
    ),
    Boundary(
        Feature.SCSI_IOCTL_MERGED,
        "7353dc06c9a8 4f07bfc56157 (5.15)",
        lambda v: v.at_least(5, 15),
        _never,
        "block/scsi_ioctl.c moves into drivers/scsi/scsi_ioctl.c: scsi_cmd_allowed, the "
        "partition check open-coded in sd_ioctl, sg's CDROM ioctls handled by scsi_ioctl",
        outcome_relevant=False,
    ),
)


class Flags(frozenset[Feature]):
    """The features one release has (a frozenset, so `feature in flags` is fast)."""

    __slots__ = ()

    def flipped(self, feature: Feature) -> Flags:
        return Flags(self ^ {feature})


def flags_for(version: KernelVersion) -> tuple[Flags, tuple[Feature, ...]]:
    """The release's features (best estimate) and those whose presence is uncertain."""
    present = Flags(b.feature for b in BOUNDARIES if b.has(version))
    uncertain = tuple(b.feature for b in BOUNDARIES if b.uncertain(version))
    return present, uncertain


# --- The opcode filter ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterEntry:
    """One line of the kernel's filter table: its constant's name, value, list, arrival."""

    constant: str  # the kernel's name for the value (often an MMC name)
    opcode: int
    write: bool  # False: read-safe (R list); True: write-safe (W list)
    since: Feature | None = None  # None: in the oldest table (2.6.x)
    until: Feature | None = None  # the feature that removed it from this list


_R = False
_W = True
# blk_set_cmd_filter_defaults (block/scsi_ioctl.c) and its successor
# scsi_cmd_allowed (drivers/scsi/scsi_ioctl.c, 5.15+), in the kernel's order.
FILTER_ENTRIES: tuple[FilterEntry, ...] = (
    # Basic read-only commands
    FilterEntry("TEST_UNIT_READY", 0x00, _R),
    FilterEntry("REQUEST_SENSE", 0x03, _R),
    FilterEntry("READ_6", 0x08, _R),
    FilterEntry("READ_10", 0x28, _R),
    FilterEntry("READ_12", 0xA8, _R),
    FilterEntry("READ_16", 0x88, _R),
    FilterEntry("READ_BUFFER", 0x3C, _R),
    FilterEntry("READ_DEFECT_DATA", 0x37, _R),
    FilterEntry("READ_CAPACITY", 0x25, _R),  # also GPCMD_READ_CDVD_CAPACITY
    FilterEntry("READ_LONG", 0x3E, _R),
    FilterEntry("INQUIRY", 0x12, _R),
    FilterEntry("MODE_SENSE", 0x1A, _R),
    FilterEntry("MODE_SENSE_10", 0x5A, _R),
    FilterEntry("LOG_SENSE", 0x4D, _R),
    FilterEntry("START_STOP", 0x1B, _R),
    FilterEntry("GPCMD_VERIFY_10", 0x2F, _R),
    FilterEntry("VERIFY_16", 0x8F, _R),
    FilterEntry("REPORT_LUNS", 0xA0, _R, Feature.FILTER_2012),
    FilterEntry("SERVICE_ACTION_IN_16", 0x9E, _R, Feature.FILTER_2012),
    FilterEntry("RECEIVE_DIAGNOSTIC", 0x1C, _R, Feature.FILTER_2012),
    FilterEntry("MAINTENANCE_IN", 0xA3, _R, Feature.FILTER_2012),  # also GPCMD_SEND_KEY
    FilterEntry("GPCMD_READ_BUFFER_CAPACITY", 0x5C, _R),
    # Audio CD commands
    FilterEntry("GPCMD_PLAY_CD", 0xBC, _R),
    FilterEntry("GPCMD_PLAY_AUDIO_10", 0x45, _R),
    FilterEntry("GPCMD_PLAY_AUDIO_MSF", 0x47, _R),
    FilterEntry("GPCMD_PLAY_AUDIO_TI", 0x48, _R),  # = SANITIZE on SBC
    FilterEntry("GPCMD_PAUSE_RESUME", 0x4B, _R),
    # CD/DVD data reading
    FilterEntry("GPCMD_READ_CD", 0xBE, _R),
    FilterEntry("GPCMD_READ_CD_MSF", 0xB9, _R),
    FilterEntry("GPCMD_READ_DISC_INFO", 0x51, _R),  # = XPWRITE(10) on SBC
    FilterEntry("GPCMD_READ_DVD_STRUCTURE", 0xAD, _R),
    FilterEntry("GPCMD_READ_HEADER", 0x44, _R),
    FilterEntry("GPCMD_READ_TRACK_RZONE_INFO", 0x52, _R),
    FilterEntry("GPCMD_READ_SUBCHANNEL", 0x42, _R),  # = UNMAP on SBC
    FilterEntry("GPCMD_READ_TOC_PMA_ATIP", 0x43, _R),
    FilterEntry("GPCMD_REPORT_KEY", 0xA4, _R),  # = MAINTENANCE OUT
    FilterEntry("GPCMD_SCAN", 0xBA, _R),
    FilterEntry("GPCMD_GET_CONFIGURATION", 0x46, _R),
    FilterEntry("GPCMD_READ_FORMAT_CAPACITIES", 0x23, _R),
    FilterEntry("GPCMD_GET_EVENT_STATUS_NOTIFICATION", 0x4A, _R),
    FilterEntry("GPCMD_GET_PERFORMANCE", 0xAC, _R),
    FilterEntry("GPCMD_SEEK", 0x2B, _R),
    FilterEntry("GPCMD_STOP_PLAY_SCAN", 0x4E, _R),
    FilterEntry("ZBC_IN", 0x95, _R, Feature.FILTER_ZBC),
    # Basic writing commands
    FilterEntry("WRITE_6", 0x0A, _W),
    FilterEntry("WRITE_10", 0x2A, _W),
    FilterEntry("WRITE_VERIFY", 0x2E, _W),
    FilterEntry("WRITE_12", 0xAA, _W),
    FilterEntry("WRITE_VERIFY_12", 0xAE, _W),
    FilterEntry("WRITE_16", 0x8A, _W),
    FilterEntry("WRITE_LONG", 0x3F, _W),
    FilterEntry("WRITE_LONG_2", 0xEA, _W),
    FilterEntry("WRITE_SAME", 0x41, _W, Feature.FILTER_WRITE_SAME),
    FilterEntry("WRITE_SAME_16", 0x93, _W, Feature.FILTER_WRITE_SAME),
    # The kernel's WRITE_SAME_32 is the service action 0x0d of opcode 0x7f, but the
    # filter compares it with byte 0: opcode 0x0d becomes write-safe, 0x7f never is.
    FilterEntry("WRITE_SAME_32", 0x0D, _W, Feature.FILTER_WRITE_SAME),
    FilterEntry("ERASE", 0x19, _W),
    FilterEntry("GPCMD_MODE_SELECT_10", 0x55, _W),
    FilterEntry("MODE_SELECT", 0x15, _W),
    FilterEntry("LOG_SELECT", 0x4C, _W),
    FilterEntry("GPCMD_BLANK", 0xA1, _W),  # = ATA PASS-THROUGH(12)
    FilterEntry("GPCMD_CLOSE_TRACK", 0x5B, _W),
    FilterEntry("GPCMD_FLUSH_CACHE", 0x35, _W),
    FilterEntry("GPCMD_FORMAT_UNIT", 0x04, _W),
    FilterEntry("GPCMD_REPAIR_RZONE_TRACK", 0x58, _W),
    FilterEntry("GPCMD_RESERVE_RZONE_TRACK", 0x53, _W),
    FilterEntry("GPCMD_SEND_DVD_STRUCTURE", 0xBF, _W),
    FilterEntry("GPCMD_SEND_EVENT", 0xA2, _W),  # = SECURITY PROTOCOL IN
    # GPCMD_SEND_KEY (0xa3) stays in the W list after MAINTENANCE_IN joins the R list;
    # the R list wins, so it only matters before.
    FilterEntry("GPCMD_SEND_KEY", 0xA3, _W),
    FilterEntry("GPCMD_SEND_OPC", 0x54, _W),
    FilterEntry("GPCMD_SEND_CUE_SHEET", 0x5D, _W),
    FilterEntry("GPCMD_SET_SPEED", 0xBB, _W),
    FilterEntry("GPCMD_PREVENT_ALLOW_MEDIUM_REMOVAL", 0x1E, _W),
    FilterEntry("GPCMD_LOAD_UNLOAD", 0xA6, _W),
    FilterEntry("GPCMD_SET_STREAMING", 0xB6, _W),
    FilterEntry("GPCMD_SET_READ_AHEAD", 0xA7, _W, Feature.FILTER_2012),
    FilterEntry("ZBC_OUT", 0x94, _W, Feature.FILTER_ZBC),
)


def filter_lists(flags: Flags) -> tuple[frozenset[int], frozenset[int]]:
    """(R, W) opcode sets of the filter for these features; W excludes R."""
    read: set[int] = set()
    write: set[int] = set()
    for e in FILTER_ENTRIES:
        if e.since is not None and e.since not in flags:
            continue
        if e.until is not None and e.until in flags:
            continue
        (write if e.write else read).add(e.opcode)
    return frozenset(read), frozenset(write - read)


# scsi_verify_blk_ioctl's list of ioctls that pass on a partition (3.0.18/3.2.2/3.3
# until 0478fe68685a): "Actually none of these is particularly useful on a partition,
# but they are safe."
PARTITION_WHITELIST: frozenset[str] = frozenset(
    {
        "SCSI_IOCTL_GET_IDLUN",
        "SCSI_IOCTL_GET_BUS_NUMBER",
        "SCSI_IOCTL_GET_PCI",
        "SCSI_IOCTL_PROBE_HOST",
        "SG_GET_VERSION_NUM",
        "SG_SET_TIMEOUT",
        "SG_GET_TIMEOUT",
        "SG_GET_RESERVED_SIZE",
        "SG_SET_RESERVED_SIZE",
        "SG_EMULATED_HOST",
    }
)


def era_name(flags: Flags) -> str:
    """A short name for the era: partition rule / filter table."""
    if Feature.PARTITION_FIX not in flags:
        part = "vulnerable"
    elif Feature.PARTITION_ALL_ENOTTY not in flags:
        part = "partition-whitelist"
    elif Feature.SCSI_IOCTL_MERGED not in flags:
        part = "partition-enotty"
    else:
        part = "scsi_cmd_allowed"
    if Feature.FILTER_ZBC in flags:
        filt = "filter-5.7"
    elif Feature.FILTER_WRITE_SAME in flags:
        filt = "filter-write-same"
    elif Feature.FILTER_2012 in flags:
        filt = "filter-report-luns"
    else:
        filt = "filter-2.6"
    return f"{part}/{filt}"
