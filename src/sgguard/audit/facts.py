"""The facts `sgguard audit` gathers from a host: typed, frozen, free of I/O.

Owns the shape of everything the host reader (`sgguard.audit.reader`) produces and
the analysis core (`sgguard.audit.analysis`) consumes: the kernel release, block
topology from sysfs (disks, partitions, device-mapper maps and their tables, SCSI
devices with their sg and bsg nodes), the /dev nodes with owner, group, mode and
POSIX ACL, accounts, mounts, libvirt domains, QEMU processes, container device
rules, and the sources that could not be read (`Skipped`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "AclEntry",
    "AclTag",
    "BlockDevice",
    "DevNode",
    "DeviceRule",
    "DmTable",
    "DmTarget",
    "Group",
    "HostFacts",
    "KernelInfo",
    "LibvirtDisk",
    "LibvirtDomain",
    "Mount",
    "QemuDisk",
    "QemuProcess",
    "ScsiDevice",
    "Skipped",
    "User",
]

DevNum = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A source the reader could not use, and why (shown to the administrator)."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class KernelInfo:
    """The running kernel: `/proc/sys/kernel/osrelease` and distribution hints."""

    release: str  # as the kernel prints it, e.g. "6.1.0-56-amd64"
    version: str  # numeric part the model understands, e.g. "6.1.0"
    unpriv_sgio: bool  # some disk has queue/unpriv_sgio (RHEL kernels, not mainline)


@dataclass(frozen=True, slots=True)
class ScsiDevice:
    """One SCSI logical unit from `/sys/class/scsi_device/H:C:T:L/device`."""

    hctl: str
    device_type: int | None  # SPC-5 peripheral device type (`device/type`)
    vendor: str
    model: str
    block: tuple[str, ...]  # block device names (sda, sr0)
    sg: str | None  # sgN
    sg_dev: DevNum | None
    bsg: str | None  # bsg name (H:C:T:L)
    bsg_dev: DevNum | None


@dataclass(frozen=True, slots=True)
class BlockDevice:
    """One entry of `/sys/class/block`: a disk, a partition or a device-mapper map."""

    name: str
    dev: DevNum | None
    size: int | None  # 512-byte sectors (`size`)
    removable: bool | None
    read_only: bool | None
    partition: int | None  # partition number for partitions
    start: int | None  # first 512-byte sector of a partition on its disk
    parent: str | None  # the disk a partition belongs to
    dm_name: str | None
    dm_uuid: str | None
    slaves: tuple[str, ...]
    holders: tuple[str, ...]
    unpriv_sgio: bool | None  # queue/unpriv_sgio when the kernel has it
    logical_block_size: int | None

    @property
    def is_dm(self) -> bool:
        return self.dm_name is not None or self.name.startswith("dm-")

    @property
    def is_partition(self) -> bool:
        return self.partition is not None


@dataclass(frozen=True, slots=True)
class DmTarget:
    """One line of a device-mapper table (`dmsetup table`): sectors and target."""

    start: int
    length: int
    target: str  # linear, striped, multipath, crypt, ...
    device: DevNum | None  # the first underlying device (major:minor)
    offset: int | None  # linear: first sector on that device
    args: str


@dataclass(frozen=True, slots=True)
class DmTable:
    name: str
    targets: tuple[DmTarget, ...]


class AclTag(enum.Enum):
    """POSIX ACL entry tags (acl(5)); values are the kernel's ACL_* constants."""

    USER_OBJ = 0x01
    USER = 0x02
    GROUP_OBJ = 0x04
    GROUP = 0x08
    MASK = 0x10
    OTHER = 0x20


@dataclass(frozen=True, slots=True)
class AclEntry:
    tag: AclTag
    qualifier: int | None  # uid or gid for USER/GROUP entries
    perm: int  # rwx bits: 4 read, 2 write, 1 execute


@dataclass(frozen=True, slots=True)
class DevNode:
    """A block or character node under /dev (or its record in a capture manifest)."""

    path: str
    kind: str  # "block", "char" or "symlink"
    dev: DevNum | None
    mode: int  # permission bits
    uid: int
    gid: int
    acl: tuple[AclEntry, ...] | None = None
    target: str | None = None  # for symlinks: the link text


@dataclass(frozen=True, slots=True)
class User:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Mount:
    source: str
    target: str
    fstype: str


@dataclass(frozen=True, slots=True)
class LibvirtDisk:
    """A `<disk>` of a libvirt domain (https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms)."""

    disk_type: str  # type= attribute: block, file, network, volume
    device: str  # device= attribute: disk, lun, cdrom, floppy
    source: str | None  # source dev= or file=
    target: str | None  # target dev=
    bus: str | None
    sgio: str | None  # filtered / unfiltered (device='lun' only)
    rawio: bool  # rawio='yes'
    shareable: bool
    readonly: bool


@dataclass(frozen=True, slots=True)
class LibvirtDomain:
    name: str
    origin: str  # the file it came from
    disks: tuple[LibvirtDisk, ...]
    running: bool  # from /run/libvirt/qemu (live status XML)


@dataclass(frozen=True, slots=True)
class QemuDisk:
    """A guest disk on a QEMU command line: the device model and its host source."""

    driver: str  # scsi-block, scsi-generic, scsi-hd, virtio-blk-pci, ...
    source: str | None  # host path (file= / filename=)
    readonly: bool
    drive: str | None  # drive id or node-name it came from


@dataclass(frozen=True, slots=True)
class QemuProcess:
    pid: int
    comm: str
    argv0: str
    guest: str | None  # -name guest=NAME
    uid: int | None
    cap_eff: int | None  # CapEff bit mask from /proc/PID/status
    disks: tuple[QemuDisk, ...]

    @property
    def cap_sys_rawio(self) -> bool | None:
        """CAP_SYS_RAWIO is capability 17 (linux/capability.h)."""
        return None if self.cap_eff is None else bool(self.cap_eff >> 17 & 1)


@dataclass(frozen=True, slots=True)
class DeviceRule:
    """A cgroup v1 device controller rule (`devices.list`): `b 8:* rwm`."""

    cgroup: str
    kind: str  # a (all), b (block), c (char)
    major: int | None  # None: wildcard
    minor: int | None
    access: str  # subset of "rwm"


@dataclass(frozen=True, slots=True)
class HostFacts:
    """Everything read from one host or capture; each part may be empty."""

    root: str
    kernel: KernelInfo | None = None
    blocks: tuple[BlockDevice, ...] = ()
    scsi: tuple[ScsiDevice, ...] = ()
    dm_tables: tuple[DmTable, ...] | None = None  # None: no table source was available
    nodes: tuple[DevNode, ...] = ()
    users: tuple[User, ...] = ()
    groups: tuple[Group, ...] = ()
    mounts: tuple[Mount, ...] = ()
    domains: tuple[LibvirtDomain, ...] = ()
    processes: tuple[QemuProcess, ...] = ()
    device_rules: tuple[DeviceRule, ...] = ()
    skipped: tuple[Skipped, ...] = field(default=())
