"""The sans-IO analysis core of `sgguard audit`: facts + kernel model -> findings.

Owns the finding classes (`Rule`), their severities and remedies, and the
reasoning: who (VM, process, container, user, group, everyone) can open which
node and how, what the running kernel lets that opener send through the node
(asked of the kernel policy model through `Policy`), and what the opener then
reaches: its own slice, or the whole disk with the other consumers' slices and
the host filesystems on it. Nothing here reads files or clocks.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sgguard.audit.facts import DevNode, HostFacts, LibvirtDisk, QemuProcess, Skipped
from sgguard.audit.hostview import HostView, NodeKind, Place
from sgguard.audit.parse import PASSTHROUGH_DRIVERS

__all__ = [
    "DiskUse",
    "Finding",
    "PassThrough",
    "Policy",
    "Principal",
    "PrincipalKind",
    "Report",
    "Rule",
    "Severity",
    "analyze",
]


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {text!r}: expected one of {', '.join(s.label for s in cls)}"
            ) from None


class Rule(enum.Enum):
    """Finding classes: (id, short name, default severity, help text)."""

    CROSS_TENANT_SLICE = (
        "SGG001",
        "cross-tenant-slice",
        Severity.CRITICAL,
        "The running kernel forwards SCSI pass-through (SG_IO) from a partition or a "
        "partial device-mapper map to the whole disk (CVE-2011-4127, fixed in 3.0.18, "
        "3.2.2 and 3.3). The CDB's LBAs are whole-disk LBAs, so whoever can open the slice "
        "can read and write every other slice of the disk. Upgrade the kernel; meanwhile "
        "give the tenant a confined LUN with `sgguard serve` instead of the raw slice.",
    )
    RAWIO_ON_SLICE = (
        "SGG002",
        "rawio-on-slice",
        Severity.CRITICAL,
        "A holder of CAP_SYS_RAWIO bypasses the kernel's partition rule on every kernel "
        "era: SG_IO on /dev/sdX1 reaches the whole disk. libvirt's rawio='yes' gives QEMU "
        "this capability. Drop rawio (and device='lun') for slices; use `sgguard serve` "
        "to give the VM a confined slice with SCSI semantics.",
    )
    WHOLE_DISK_WRITER = (
        "SGG003",
        "whole-disk-writer",
        Severity.CRITICAL,
        "A non-root principal can open a whole SCSI disk for writing. The opcode filter "
        "lets writers send every write command and, through the MMC alias BLANK (A1h), "
        "ATA PASS-THROUGH (12). When the disk also holds other tenants' slices or host "
        "filesystems this is a cross-tenant escape. Tighten the node's mode, group or ACL, "
        "or give each tenant a confined LUN with `sgguard serve`.",
    )
    PASSTHROUGH_BLOCKED = (
        "SGG004",
        "passthrough-on-slice-blocked",
        Severity.INFO,
        "SCSI pass-through (libvirt device='lun', QEMU scsi-block or scsi-generic) was "
        "configured on a partition or partial map. The running kernel refuses SG_IO there "
        "(ENOTTY), so QEMU fails ('cannot get SG_IO version number') or the guest gets no "
        "pass-through. Not an exposure; the configuration does not work. Export the slice "
        "with `sgguard serve` and attach it as an iSCSI LUN to keep SCSI semantics.",
    )
    READ_ONLY_ALIAS = (
        "SGG005",
        "read-only-alias-hazard",
        Severity.HIGH,
        "The kernel's opcode filter was written for CD burners and checks only the first "
        "CDB byte: MMC names hide SBC commands, so a read-only opener of a whole disk may "
        "send UNMAP (as READ SUB-CHANNEL, 42h), SANITIZE (as PLAY AUDIO TRACK INDEX, 48h) "
        "and START STOP UNIT (1Bh): read access destroys data. Remove the principal's read "
        "access to the whole-disk node (mode, group, ACL).",
    )
    SGIO_UNFILTERED = (
        "SGG006",
        "sgio-unfiltered",
        Severity.MEDIUM,
        "libvirt sgio='unfiltered' writes the RHEL-only queue/unpriv_sgio attribute. On a "
        "mainline kernel the attribute does not exist and the domain fails to start; on "
        "kernels that have it, every opener of the disk bypasses the opcode filter. Use "
        "sgio='filtered' (the default).",
    )
    WORLD_ACCESSIBLE = (
        "SGG007",
        "world-accessible-node",
        Severity.CRITICAL,
        "Every local user can open this SCSI-backed node. World-writable: any user can "
        "write the disk; world-readable: any user can read it and, through the opcode "
        "filter's aliases, UNMAP or SANITIZE it. Set the mode to 0660 root:disk or tighter.",
    )
    SG_WRITABLE = (
        "SGG008",
        "sg-writable-by-non-root",
        Severity.CRITICAL,
        "A /dev/sgN (or bsg) node opened O_RDWR passes SG_IO without any opcode filter: "
        "the opener can send every command to the whole logical unit (WRITE BUFFER "
        "firmware download, FORMAT UNIT, SANITIZE, ATA PASS-THROUGH (16)). Restrict the "
        "node to root.",
    )
    KERNEL_UNKNOWN = (
        "SGG009",
        "kernel-unknown",
        Severity.INFO,
        "The kernel release could not be read, so the kernel model cannot say whether "
        "SG_IO on this slice reaches the whole disk. Supply /proc/sys/kernel/osrelease.",
    )

    @property
    def id(self) -> str:
        return self.value[0]

    @property
    def slug(self) -> str:
        return self.value[1]

    @property
    def default_severity(self) -> Severity:
        return self.value[2]

    @property
    def help(self) -> str:
        return self.value[3]


class PrincipalKind(enum.Enum):
    VM = "vm"
    PROCESS = "process"
    CONTAINER = "container"
    USER = "user"
    GROUP = "group"
    WORLD = "world"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    name: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.kind.value} {self.name}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True, slots=True)
class PassThrough:
    """What the kernel model says about SG_IO from one opener on one node kind."""

    kernel: str
    kind: NodeKind
    open: str  # "ro" / "rw"
    cap_sys_rawio: bool
    allowed: frozenset[int]  # opcodes SG_IO lets through
    escapes: frozenset[int]  # allowed opcodes forwarded past the slice to the whole disk
    rule: str  # the kernel rule that decided a media command (READ (10))
    sg_version: bool  # SG_GET_VERSION_NUM allowed: QEMU scsi-block's probe
    sends: tuple[str, ...]  # command classes, e.g. "write (31 opcodes)"
    aliases: tuple[str, ...]  # dangerous commands, named as the filter and the disk know them
    notes: tuple[str, ...] = ()


class Policy(Protocol):
    def pass_through(
        self, kernel: str, kind: NodeKind, open_mode: str, cap_sys_rawio: bool, unpriv_sgio: bool
    ) -> PassThrough: ...


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    severity: Severity
    principal: Principal
    node: str
    access: str  # "ro" / "rw"
    capabilities: tuple[str, ...]
    sends: tuple[str, ...]
    aliases: tuple[str, ...]
    reach: str
    reaches: tuple[str, ...]
    why: str
    remedy: str
    message: str


@dataclass(frozen=True, slots=True)
class DiskUse:
    """One SCSI device: its slices and everyone who uses it (the context of findings)."""

    disk: str  # block name (sda), or the sg name of a device without a block node
    hctl: str
    device_type: int | None
    ident: str  # vendor and model
    sectors: int | None
    removable: bool | None
    sg: str | None
    slices: tuple[str, ...]  # partitions and dm maps with their ranges
    users: tuple[str, ...]  # consumers and host filesystems


@dataclass(frozen=True, slots=True)
class Report:
    facts: HostFacts
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]  # plain statements: "no SCSI devices found", ...
    skipped: tuple[Skipped, ...] = field(default=())
    disks: tuple[DiskUse, ...] = field(default=())

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)


@dataclass(frozen=True, slots=True)
class Grant:
    """A consumer's handle on a node: a VM's disk, a process's drive, a container rule."""

    principal: Principal
    path: str
    place: Place
    access: str
    cap_sys_rawio: bool
    cap_known: bool
    passthrough: bool
    driver: str
    libvirt: LibvirtDisk | None
    uid: int | None = None


def _access_of(bits: int) -> str | None:
    if bits & 2:
        return "rw"
    if bits & 4:
        return "ro"
    return None


class _Analyzer:
    def __init__(self, facts: HostFacts, policy: Policy) -> None:
        self.facts = facts
        self.view = HostView(facts)
        self.policy = policy
        self.kernel = facts.kernel.release if facts.kernel else None
        self.findings: list[Finding] = []
        self.seen: set[tuple[str, str, str, str]] = set()
        self.grants = self._grants()
        self.mount_places = self._mounts()

    # --- consumers --------------------------------------------------------------
    def _grants(self) -> list[Grant]:
        out: list[Grant] = []
        domains = {d.name: d for d in self.facts.domains}
        running: set[str] = set()
        for proc in self.facts.processes:
            dom = domains.get(proc.guest or "")
            if proc.guest:
                running.add(proc.guest)
                principal = Principal(PrincipalKind.VM, proc.guest, f"pid {proc.pid}, {proc.comm}")
            else:
                principal = Principal(PrincipalKind.PROCESS, f"{proc.comm}[{proc.pid}]", proc.argv0)
            out.extend(self._process_grants(proc, principal, dom.disks if dom else ()))
        for dom in self.facts.domains:
            if dom.name in running:
                continue
            principal = Principal(PrincipalKind.VM, dom.name, f"libvirt {dom.origin}")
            rawio = any(d.rawio for d in dom.disks)
            for d in dom.disks:
                if d.source is None or not d.source.startswith("/dev/"):
                    continue
                place = self.view.place_of_path(d.source)
                if place is None:
                    continue
                out.append(
                    Grant(
                        principal,
                        d.source,
                        place,
                        "ro" if d.readonly else "rw",
                        rawio,
                        True,
                        d.device == "lun",
                        "device='lun'" if d.device == "lun" else f"device='{d.device}'",
                        d,
                    )
                )
        by_cgroup: dict[str, list[Grant]] = {}
        for rule in self.facts.device_rules:
            access = "rw" if "w" in rule.access else "ro" if "r" in rule.access else None
            if access is None or rule.kind not in {"b", "c"}:
                continue
            principal = Principal(PrincipalKind.CONTAINER, rule.cgroup, "cgroup v1 devices.list")
            for n in self.facts.nodes:
                if n.dev is None or n.kind != ("block" if rule.kind == "b" else "char"):
                    continue
                if rule.major not in (None, n.dev[0]) or rule.minor not in (None, n.dev[1]):
                    continue
                place = self.view.place_of_node(n)
                if place is None:
                    continue
                by_cgroup.setdefault(rule.cgroup, []).append(
                    Grant(principal, n.path, place, access, False, False, True, "device node", None)
                )
        for grants in by_cgroup.values():
            out.extend(grants)
        return out

    def _process_grants(
        self, proc: QemuProcess, principal: Principal, ldisks: Sequence[LibvirtDisk]
    ) -> Iterable[Grant]:
        for disk in proc.disks:
            if disk.source is None or not disk.source.startswith("/dev/"):
                continue
            place = self.view.place_of_path(disk.source)
            if place is None:
                continue
            ld = next((d for d in ldisks if d.source == disk.source), None)
            yield Grant(
                principal,
                disk.source,
                place,
                "ro" if disk.readonly else "rw",
                bool(proc.cap_sys_rawio),
                proc.cap_sys_rawio is not None,
                disk.driver in PASSTHROUGH_DRIVERS or (ld is not None and ld.device == "lun"),
                disk.driver,
                ld,
                proc.uid,
            )

    def _mounts(self) -> list[tuple[str, Place]]:
        out: list[tuple[str, Place]] = []
        for m in self.facts.mounts:
            if not m.source.startswith("/dev/"):
                continue
            place = self.view.place_of_path(m.source)
            if place is not None:
                out.append((f"host filesystem {m.target} ({m.fstype} on {m.source})", place))
        return out

    def occupants(self, place: Place, principal: Principal | None) -> tuple[str, ...]:
        """Others' data on the disk of `place` that `place` itself does not cover."""
        out: list[str] = []
        for g in self.grants:
            if principal is not None and g.principal == principal:
                continue
            if g.place.disk == place.disk and not (place.kind.is_slice and place.contains(g.place)):
                out.append(f"{g.principal}: {g.path} ({g.place.describe()})")
        for text, mp in self.mount_places:
            if mp.disk == place.disk and not (place.kind.is_slice and place.contains(mp)):
                out.append(text)
        return tuple(dict.fromkeys(out))

    # --- helpers -----------------------------------------------------------------
    def unpriv(self, place: Place) -> bool:
        b = self.view.blocks.get(place.disk)
        return bool(b and b.unpriv_sgio)

    def pt(self, place: Place, access: str, cap: bool) -> PassThrough | None:
        if self.kernel is None:
            return None
        return self.policy.pass_through(self.kernel, place.kind, access, cap, self.unpriv(place))

    def whole_reach(self, place: Place) -> str:
        s = place.scsi
        ident = " ".join(x for x in (s.vendor, s.model) if x)
        return f"whole disk {place.disk} ({ident + ', ' if ident else ''}SCSI {s.hctl})"

    def add(
        self,
        rule: Rule,
        principal: Principal,
        node: str,
        access: str,
        *,
        severity: Severity | None = None,
        caps: tuple[str, ...] = (),
        pt: PassThrough | None = None,
        reach: str,
        reaches: tuple[str, ...] = (),
        why: str,
        remedy: str,
        message: str,
        key_node: str | None = None,
    ) -> None:
        key = (rule.id, str(principal), key_node or node, access)
        if key in self.seen:
            return
        self.seen.add(key)
        self.findings.append(
            Finding(
                rule,
                severity if severity is not None else rule.default_severity,
                principal,
                node,
                access,
                caps,
                pt.sends if pt else (),
                pt.aliases if pt else (),
                reach,
                reaches,
                why + (f" ({'; '.join(pt.notes)})" if pt and pt.notes else ""),
                remedy,
                message,
            )
        )

    # --- consumers on nodes ------------------------------------------------------
    def consumer(self, g: Grant) -> None:
        place = g.place
        caps = ("CAP_SYS_RAWIO",) if g.cap_sys_rawio else ()
        ld = g.libvirt
        if ld is not None and ld.sgio == "unfiltered":
            self.sgio_unfiltered(g)
        if place.kind.is_slice:
            if self.kernel is None:
                self.add(
                    Rule.KERNEL_UNKNOWN,
                    g.principal,
                    g.path,
                    g.access,
                    caps=caps,
                    reach=f"unknown: {place.describe()} or the whole disk {place.disk}",
                    why="no kernel release: the model cannot decide",
                    remedy="read the audit on the host itself or include /proc/sys/kernel/osrelease in the capture",
                    message=f"{g.principal} holds slice {g.path}; kernel unknown",
                )
                return
            if g.cap_sys_rawio:
                pt = self.pt(place, g.access, True)
                if pt is not None and pt.escapes:
                    self.add(
                        Rule.RAWIO_ON_SLICE,
                        g.principal,
                        g.path,
                        g.access,
                        caps=caps,
                        pt=pt,
                        reach=self.whole_reach(place),
                        reaches=self.occupants(place, g.principal),
                        why=f"CAP_SYS_RAWIO bypasses the partition rule; kernel {pt.kernel}: {pt.rule}",
                        remedy=(
                            "drop rawio='yes' from the domain (QEMU then runs without CAP_SYS_RAWIO) "
                            "and stop using device='lun' on a slice; give the VM a confined LUN "
                            "with `sgguard serve`"
                        ),
                        message=f"{g.principal} holds CAP_SYS_RAWIO and slice {g.path}: SG_IO reaches the whole disk {place.disk}",
                    )
                    return
            pt = self.pt(place, g.access, False)
            assert pt is not None
            if pt.escapes:
                self.cross_tenant(g.principal, g.path, g.access, place, pt, caps=caps)
            elif g.passthrough and g.principal.kind is not PrincipalKind.CONTAINER:
                how = (
                    "the guest gets no SCSI pass-through"
                    if not pt.sg_version
                    else "commands are refused"
                )
                self.add(
                    Rule.PASSTHROUGH_BLOCKED,
                    g.principal,
                    g.path,
                    g.access,
                    caps=caps,
                    pt=pt,
                    reach=f"own slice only: {place.describe()}",
                    why=(
                        f"kernel {pt.kernel}: {pt.rule}: SG_IO on a {place.kind.value} is refused; "
                        f"QEMU {g.driver} needs SG_IO ('cannot get SG_IO version number'): {how}"
                    ),
                    remedy=(
                        "export the slice with `sgguard serve` and attach it to the VM as an iSCSI "
                        "LUN (confined pass-through), or use device='disk' / scsi-hd"
                    ),
                    message=f"{g.principal}: pass-through ({g.driver}) on slice {g.path} cannot work on kernel {pt.kernel}",
                )
            return
        # whole disk, dm-whole or sg
        others = self.occupants(place, g.principal)
        if not others:
            return
        if g.access == "rw":
            pt = self.pt(place, "rw", g.cap_sys_rawio)
            self.add(
                Rule.WHOLE_DISK_WRITER,
                g.principal,
                g.path,
                "rw",
                caps=caps,
                pt=pt,
                reach=self.whole_reach(place),
                reaches=others,
                why=f"{place.kind.value} node opened read-write reaches every block of {place.disk}"
                + (f"; kernel {pt.kernel}: {pt.rule}" if pt else ""),
                remedy="give each tenant its own disk, or a confined LUN with `sgguard serve`",
                message=f"{g.principal} writes the whole disk {place.disk}, which other tenants or the host share",
            )
        elif g.passthrough:
            pt = self.pt(place, "ro", g.cap_sys_rawio)
            if pt is not None and pt.aliases:
                self.add(
                    Rule.READ_ONLY_ALIAS,
                    g.principal,
                    g.path,
                    "ro",
                    caps=caps,
                    pt=pt,
                    reach=self.whole_reach(place),
                    reaches=others,
                    why=f"kernel {pt.kernel}: {pt.rule}: the read list admits commands that erase or stop the disk",
                    remedy="do not pass a shared whole disk through to a VM, even read-only; use `sgguard serve`",
                    message=f"{g.principal} has read-only pass-through to the shared disk {place.disk}: UNMAP/SANITIZE reach it",
                )

    def cross_tenant(
        self,
        principal: Principal,
        node: str,
        access: str,
        place: Place,
        pt: PassThrough,
        *,
        caps: tuple[str, ...] = (),
        key_node: str | None = None,
    ) -> None:
        """SGG001: the kernel forwards SG_IO from this slice to the whole disk."""
        self.add(
            Rule.CROSS_TENANT_SLICE,
            principal,
            node,
            access,
            caps=caps,
            pt=pt,
            reach=self.whole_reach(place),
            reaches=self.occupants(place, principal),
            why=f"kernel {pt.kernel}: {pt.rule}: SG_IO on a {place.kind.value} is forwarded to the whole disk",
            remedy=(
                "upgrade the kernel (fixed in 3.0.18, 3.2.2, 3.3 and later); until then "
                "give the tenant a confined LUN with `sgguard serve` instead of the slice"
            ),
            message=f"{principal} can reach the whole disk {place.disk} through {node}",
            key_node=key_node,
        )

    def sgio_unfiltered(self, g: Grant) -> None:
        k = self.facts.kernel
        if k is not None and k.unpriv_sgio:
            self.add(
                Rule.SGIO_UNFILTERED,
                g.principal,
                g.path,
                g.access,
                severity=Severity.HIGH,
                reach=self.whole_reach(g.place),
                reaches=self.occupants(g.place, g.principal),
                why=f"kernel {k.release} has queue/unpriv_sgio: sgio='unfiltered' lifts the opcode filter for every opener of {g.place.disk}",
                remedy="set sgio='filtered' (libvirt's default)",
                message=f"{g.principal}: sgio='unfiltered' lifts the opcode filter on {g.place.disk}",
            )
        else:
            release = k.release if k else "unknown"
            self.add(
                Rule.SGIO_UNFILTERED,
                g.principal,
                g.path,
                g.access,
                reach=f"none: the domain does not start ({g.place.describe()})",
                why=f"kernel {release} has no queue/unpriv_sgio (mainline): libvirt cannot apply sgio='unfiltered'",
                remedy="set sgio='filtered' (libvirt's default) or remove the sgio attribute",
                message=f"{g.principal}: sgio='unfiltered' on {g.path} fails on this kernel",
            )

    # --- who can open nodes ------------------------------------------------------
    def openers(self, node: DevNode) -> list[tuple[Principal, str]]:
        owner_bits = node.mode >> 6 & 7
        group_bits = node.mode >> 3 & 7
        other_bits = node.mode & 7
        named: list[tuple[str, int, int]] = []
        if node.acl:
            mask = 7
            for e in node.acl:
                if e.tag.name == "MASK":
                    mask = e.perm
            for e in node.acl:
                if e.tag.name == "USER_OBJ":
                    owner_bits = e.perm
                elif e.tag.name == "GROUP_OBJ":
                    group_bits = e.perm & mask
                elif e.tag.name == "OTHER":
                    other_bits = e.perm
                elif e.tag.name in {"USER", "GROUP"} and e.qualifier is not None:
                    named.append((e.tag.name, e.qualifier, e.perm & mask))
        out: list[tuple[Principal, str]] = []
        consumer_uids = {g.uid for g in self.grants if g.uid is not None and g.path == node.path}
        acc = _access_of(owner_bits)
        if node.uid != 0 and acc and node.uid not in consumer_uids:
            out.append((self.user_principal(node.uid), acc))
        acc = _access_of(group_bits)
        gp = self.group_principal(node.gid)
        if acc and gp is not None:
            out.append((gp, acc))
        for tag, ident, bits in named:
            acc = _access_of(bits)
            if not acc:
                continue
            if tag == "USER" and ident != 0:
                out.append((self.user_principal(ident), acc))
            elif tag == "GROUP":
                gp = self.group_principal(ident)
                if gp is not None:
                    out.append((gp, acc))
        acc = _access_of(other_bits)
        if acc:
            out.append((Principal(PrincipalKind.WORLD, "everyone", f"mode {node.mode:04o}"), acc))
        return out

    def user_principal(self, uid: int) -> Principal:
        u = self.view.users.get(uid)
        return Principal(PrincipalKind.USER, u.name if u else f"uid {uid}", f"uid {uid}")

    def group_principal(self, gid: int) -> Principal | None:
        g = self.view.groups.get(gid)
        members: list[str] = list(g.members) if g else []
        members += [u.name for u in self.facts.users if u.gid == gid and u.name not in members]
        nonroot = [
            m
            for m in members
            if m != "root"
            and (self.view.user_names.get(m) is None or self.view.user_names[m].uid != 0)
        ]
        if not nonroot:
            return None
        name = g.name if g else f"gid {gid}"
        return Principal(PrincipalKind.GROUP, name, "members " + ", ".join(sorted(nonroot)))

    def node_access(self, node: DevNode) -> None:
        place = self.view.place_of_node(node)
        if place is None or node.dev is None:
            return
        key_node = f"{node.kind}:{node.dev[0]}:{node.dev[1]}"
        # CD/DVD drives (MMC, peripheral type 05h): the opcode filter exists so that their
        # group can burn discs; unless others' data shares the device, that is by design.
        optical = place.scsi.device_type == 0x05 and not self.occupants(place, None)
        mmc_note = "; a CD/DVD drive (MMC): access for its group is what the filter was made for"
        for principal, access in self.openers(node):
            if principal.kind is PrincipalKind.WORLD:
                pt = self.pt(place, access, False)
                reach = (
                    self.whole_reach(place)
                    if not place.kind.is_slice or (pt and pt.escapes)
                    else f"own slice: {place.describe()}"
                )
                self.add(
                    Rule.WORLD_ACCESSIBLE,
                    principal,
                    node.path,
                    access,
                    severity=Severity.CRITICAL
                    if access == "rw" or (pt is not None and pt.escapes)
                    else Severity.HIGH,
                    pt=pt,
                    reach=reach,
                    reaches=self.occupants(place, None),
                    why=f"mode {node.mode:04o}: every user may open {node.path} {'read-write' if access == 'rw' else 'read-only'}"
                    + (f"; kernel {pt.kernel}: {pt.rule}" if pt else ""),
                    remedy=f'chmod o-rw {node.path} (udev rule: MODE="0660")',
                    message=f"{node.path} is world-{'writable' if access == 'rw' else 'readable'}",
                    key_node=key_node,
                )
                continue
            if place.kind.is_slice:
                pt = self.pt(place, access, False)
                if pt is not None and pt.escapes:
                    self.cross_tenant(principal, node.path, access, place, pt, key_node=key_node)
                continue
            if place.kind is NodeKind.SG:
                pt = self.pt(place, access, False)
                if access == "rw":
                    self.add(
                        Rule.SG_WRITABLE,
                        principal,
                        node.path,
                        access,
                        severity=Severity.LOW if optical else None,
                        pt=pt,
                        reach=self.whole_reach(place),
                        reaches=self.occupants(place, principal),
                        why="/dev/sgN opened O_RDWR: sg_io passes every CDB (no opcode filter)"
                        + (mmc_note if optical else ""),
                        remedy=f'restrict {node.path} to root (udev: GROUP="root", MODE="0600")',
                        message=f"{principal} can send any SCSI command to {place.disk} through {node.path}",
                        key_node=key_node,
                    )
                    continue
            pt = self.pt(place, access, False)
            if access == "rw":
                others = self.occupants(place, principal)
                self.add(
                    Rule.WHOLE_DISK_WRITER,
                    principal,
                    node.path,
                    access,
                    severity=Severity.LOW
                    if optical
                    else Severity.CRITICAL
                    if others
                    else Severity.HIGH,
                    pt=pt,
                    reach=self.whole_reach(place),
                    reaches=others,
                    why=f"{node.path} mode {node.mode:04o}: {principal} may open the whole disk read-write"
                    + (f"; kernel {pt.kernel}: {pt.rule}" if pt else "")
                    + (mmc_note if optical else ""),
                    remedy=f"remove the principal's write access to {node.path} (group membership, mode or ACL); give tenants confined LUNs with `sgguard serve`",
                    message=f"{principal} can write the whole disk {place.disk} through {node.path}",
                    key_node=key_node,
                )
            elif pt is None or pt.aliases:
                self.add(
                    Rule.READ_ONLY_ALIAS,
                    principal,
                    node.path,
                    access,
                    severity=Severity.LOW if optical else None,
                    pt=pt,
                    reach=self.whole_reach(place),
                    reaches=self.occupants(place, principal),
                    why=(
                        f"kernel {pt.kernel}: {pt.rule}: the read list admits commands that erase or stop the disk"
                        if pt
                        else "kernel unknown: every mainline era admits UNMAP and SANITIZE on read-only opens"
                    )
                    + (mmc_note if optical else ""),
                    remedy=f"remove the principal's read access to {node.path} (group membership, mode or ACL)",
                    message=f"{principal} can open {node.path} read-only and still UNMAP/SANITIZE the disk {place.disk}",
                    key_node=key_node,
                )

    def run(self) -> list[Finding]:
        for g in self.grants:
            self.consumer(g)
        # /dev/mapper/NAME before /dev/dm-N: a finding names the node an admin knows.
        for node in sorted(
            self.facts.nodes, key=lambda n: (not n.path.startswith("/dev/mapper/"), n.path)
        ):
            if node.kind in {"block", "char"}:
                self.node_access(node)
        return self.findings


def _notes(facts: HostFacts, view: HostView) -> list[str]:
    notes: list[str] = []
    if facts.kernel:
        notes.append(
            f"kernel {facts.kernel.release}"
            + (" (has queue/unpriv_sgio)" if facts.kernel.unpriv_sgio else "")
        )
    disks = [s for s in facts.scsi if s.device_type is not None]
    if not facts.scsi:
        notes.append("no SCSI devices found")
    else:
        notes.append(
            f"{len(facts.scsi)} SCSI device(s): "
            + ", ".join(
                f"{s.hctl} {'/'.join(s.block) or s.sg or ''} type {s.device_type}"
                for s in disks or facts.scsi
            )
        )
    if not any(b.is_dm for b in facts.blocks):
        notes.append("no device-mapper devices found")
    non_scsi = [
        b.name
        for b in facts.blocks
        if not b.is_dm and not b.is_partition and b.name not in view.scsi_by_block
    ]
    if non_scsi:
        notes.append("block devices without a SCSI layer (no SG_IO path): " + ", ".join(non_scsi))
    if facts.device_rules:
        notes.append(
            "container capabilities are not read: a container holding CAP_SYS_RAWIO "
            "(privileged) that was given a partition reaches the whole disk on every kernel"
        )
    if not facts.domains:
        notes.append("no libvirt domains found")
    if not facts.processes:
        notes.append("no QEMU processes found")
    return notes


def _disks(a: _Analyzer) -> list[DiskUse]:
    out: list[DiskUse] = []
    view = a.view
    for s in sorted(a.facts.scsi, key=lambda d: d.hctl):
        disk = next((b for b in s.block if b in view.blocks), None)
        b = view.blocks.get(disk or "")
        slices: list[str] = []
        for other in a.facts.blocks:
            if other.name == disk:
                continue
            place = view.place(other)
            if place is None or place.disk != disk:
                continue
            label = view.display(other) if other.is_dm else f"/dev/{other.name}"
            slices.append(f"{label}: {place.kind.value} {place.describe()}")
        users = [
            f"{g.principal}: {g.path} ({g.access}, {g.driver})"
            for g in a.grants
            if g.place.disk == (disk or s.sg)
        ]
        users += [text for text, place in a.mount_places if place.disk == disk]
        out.append(
            DiskUse(
                disk=disk or (s.sg or s.hctl),
                hctl=s.hctl,
                device_type=s.device_type,
                ident=" ".join(x for x in (s.vendor, s.model) if x),
                sectors=b.size if b else None,
                removable=b.removable if b else None,
                sg=s.sg,
                slices=tuple(slices),
                users=tuple(dict.fromkeys(users)),
            )
        )
    return out


def analyze(facts: HostFacts, policy: Policy) -> Report:
    """Findings for one host, most severe first, and what shares each SCSI disk."""
    a = _Analyzer(facts, policy)
    findings = sorted(a.run(), key=lambda f: (-f.severity, f.rule.id, str(f.principal), f.node))
    return Report(
        facts, tuple(findings), tuple(_notes(facts, a.view)), facts.skipped, tuple(_disks(a))
    )
