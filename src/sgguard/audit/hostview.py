"""Sans-IO view of a host's storage: which node reaches which blocks of which disk.

Owns the joins over `HostFacts`: /dev node -> device number -> sysfs block device
or SCSI generic / bsg node -> the whole SCSI disk behind it and the slice the node
covers (partition start and size from sysfs; device-mapper linear offsets from the
dm table, or sysfs sizes when no table was read). Node kinds follow the kernel
cases spec: `disk`, `partition`, `sg`, `dm-partial`, `dm-whole`; bsg nodes are
treated as `sg` (same whole-LU reach, same opcode filter).
"""

from __future__ import annotations

import enum
import posixpath
from dataclasses import dataclass

from sgguard.audit.facts import BlockDevice, DevNode, DmTable, HostFacts, ScsiDevice

__all__ = ["HostView", "NodeKind", "Place"]


class NodeKind(enum.Enum):
    DISK = "disk"
    PARTITION = "partition"
    SG = "sg"
    DM_PARTIAL = "dm-partial"
    DM_WHOLE = "dm-whole"

    @property
    def is_slice(self) -> bool:
        return self in (NodeKind.PARTITION, NodeKind.DM_PARTIAL)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a node lands: the whole SCSI disk and the sector range of the node."""

    kind: NodeKind
    disk: str  # block name of the whole SCSI disk (sdb), or the sg name without one
    scsi: ScsiDevice
    start: int | None  # first 512-byte sector on the disk; None: unknown
    size: int | None
    block: str | None  # block name of the node itself (sdb1, dm-0)
    note: str = ""

    def contains(self, other: Place) -> bool:
        if self.disk != other.disk:
            return False
        if not self.kind.is_slice:
            return True
        if None in (self.start, self.size, other.start, other.size):
            return False
        assert self.start is not None and self.size is not None
        assert other.start is not None and other.size is not None
        return self.start <= other.start and other.start + other.size <= self.start + self.size

    def describe(self) -> str:
        if not self.kind.is_slice:
            return f"whole disk {self.disk}"
        rng = (
            f"sectors {self.start}-{self.start + self.size - 1}"
            if self.start is not None and self.size is not None
            else "sectors unknown"
        )
        return f"{self.block} on {self.disk} ({rng})"


class HostView:
    """Lookups over the facts of one host."""

    def __init__(self, facts: HostFacts) -> None:
        self.facts = facts
        self.blocks = {b.name: b for b in facts.blocks}
        self.by_dev = {b.dev: b for b in facts.blocks if b.dev is not None}
        self.tables: dict[str, DmTable] = {t.name: t for t in facts.dm_tables or ()}
        self.scsi_by_block: dict[str, ScsiDevice] = {}
        self.scsi_by_char: dict[tuple[int, int], ScsiDevice] = {}
        for s in facts.scsi:
            for b in s.block:
                self.scsi_by_block[b] = s
            for d in (s.sg_dev, s.bsg_dev):
                if d is not None:
                    self.scsi_by_char[d] = s
        self.nodes = {n.path: n for n in facts.nodes}
        self.users = {u.uid: u for u in facts.users}
        self.user_names = {u.name: u for u in facts.users}
        self.groups = {g.gid: g for g in facts.groups}

    # --- /dev paths --------------------------------------------------------------
    def node(self, path: str) -> DevNode | None:
        """The node a path names, following /dev symlinks recorded in the facts."""
        seen = 0
        p = posixpath.normpath(path)
        while seen < 16:
            n = self.nodes.get(p)
            if n is None or n.kind != "symlink" or n.target is None:
                return n
            p = posixpath.normpath(posixpath.join(posixpath.dirname(p), n.target))
            seen += 1
        return None

    def block_of_path(self, path: str) -> BlockDevice | None:
        """The block device a path names: through the node's number, else its name."""
        n = self.node(path)
        if n is not None and n.kind == "block" and n.dev in self.by_dev:
            return self.by_dev[n.dev]
        base = posixpath.basename(posixpath.normpath(path))
        if path.startswith("/dev/mapper/"):
            for b in self.facts.blocks:
                if b.dm_name == base:
                    return b
        return self.blocks.get(base) if path.startswith("/dev/") else None

    def place_of_path(self, path: str) -> Place | None:
        n = self.node(path)
        if n is not None and n.kind == "char" and n.dev in self.scsi_by_char:
            return self._place_sg(self.scsi_by_char[n.dev])
        if n is None:
            base = posixpath.basename(path)
            for s in self.facts.scsi:
                if s.sg == base or (path.startswith("/dev/bsg/") and s.bsg == base):
                    return self._place_sg(s)
        b = self.block_of_path(path)
        return self.place(b) if b is not None else None

    def place_of_node(self, node: DevNode) -> Place | None:
        if node.kind == "char":
            s = self.scsi_by_char.get(node.dev) if node.dev else None
            return self._place_sg(s) if s is not None else None
        if node.kind == "block" and node.dev in self.by_dev:
            return self.place(self.by_dev[node.dev])
        return None

    def _place_sg(self, s: ScsiDevice) -> Place:
        disk = next((b for b in s.block if b in self.blocks), None)
        size = self.blocks[disk].size if disk else None
        return Place(NodeKind.SG, disk or (s.sg or s.hctl), s, 0, size, None)

    # --- block devices -----------------------------------------------------------
    def place(self, b: BlockDevice, depth: int = 0) -> Place | None:
        """The whole SCSI disk under a block device and the range the device covers."""
        if depth > 8:
            return None
        if b.is_partition:
            parent = self.blocks.get(b.parent or "")
            scsi = self.scsi_by_block.get(b.parent or "")
            if parent is None or scsi is None:
                return None
            return Place(NodeKind.PARTITION, parent.name, scsi, b.start, b.size, b.name)
        if not b.is_dm:
            scsi = self.scsi_by_block.get(b.name)
            if scsi is None:
                return None
            return Place(NodeKind.DISK, b.name, scsi, 0, b.size, b.name)
        table = self.tables.get(b.dm_name or "")
        if table is not None and table.targets:
            under = [self.by_dev.get(t.device) for t in table.targets if t.device is not None]
            places = [self.place(u, depth + 1) for u in under if u is not None]
            places_ok = [p for p in places if p is not None]
            if not places_ok:
                return None
            if len(table.targets) == 1:
                t = table.targets[0]
                p = places_ok[0]
                if t.target == "linear" and t.offset is not None:
                    start = None if p.start is None else p.start + t.offset
                    whole = (
                        not p.kind.is_slice
                        and t.offset == 0
                        and t.start == 0
                        and p.size is not None
                        and t.length == p.size
                    )
                    kind = NodeKind.DM_WHOLE if whole else NodeKind.DM_PARTIAL
                    return Place(kind, p.disk, p.scsi, start, t.length, b.name, f"dm {t.target}")
                if t.target == "multipath" and not p.kind.is_slice:
                    return Place(
                        NodeKind.DM_WHOLE, p.disk, p.scsi, 0, p.size, b.name, "dm multipath"
                    )
            p = places_ok[0]
            return Place(
                NodeKind.DM_PARTIAL,
                p.disk,
                p.scsi,
                None,
                b.size,
                b.name,
                f"dm table of {len(table.targets)} targets ({table.targets[0].target})",
            )
        if len(b.slaves) == 1 and b.slaves[0] in self.blocks:
            slave = self.blocks[b.slaves[0]]
            sp = self.place(slave, depth + 1)
            if sp is None:
                return None
            note = "no dm table: placed by sysfs sizes"
            if not sp.kind.is_slice and slave.size is not None and b.size == slave.size:
                return Place(NodeKind.DM_WHOLE, sp.disk, sp.scsi, 0, b.size, b.name, note)
            start = sp.start if sp.kind.is_slice and b.size == sp.size else None
            return Place(NodeKind.DM_PARTIAL, sp.disk, sp.scsi, start, b.size, b.name, note)
        if b.slaves:
            for s in b.slaves:
                if s in self.blocks:
                    mp = self.place(self.blocks[s], depth + 1)
                    if mp is not None:
                        return Place(
                            NodeKind.DM_PARTIAL,
                            mp.disk,
                            mp.scsi,
                            None,
                            b.size,
                            b.name,
                            "no dm table; several underlying devices",
                        )
        return None

    def display(self, b: BlockDevice) -> str:
        """A name an administrator knows: /dev/mapper/NAME for dm maps, else /dev/NAME."""
        return f"/dev/mapper/{b.dm_name}" if b.dm_name else f"/dev/{b.name}"
