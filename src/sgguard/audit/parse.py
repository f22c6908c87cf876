"""Sans-IO parsers for the files `sgguard audit` reads: text or bytes in, facts out.

Owns the formats: `/proc/sys/kernel/osrelease`, `/proc/PID/status` (Uid, CapEff),
QEMU command lines (QemuOpts `key=value,,` lists, `-blockdev` JSON and dotted keys,
`-device`, `-drive`, `-name`), libvirt domain XML (`<domain>` and the live
`<domstatus>` wrapper, https://libvirt.org/formatdomain.html), `dmsetup table` output,
the `system.posix_acl_access` extended attribute (acl(5), little-endian
`posix_acl_xattr_header` + entries), /etc/passwd, /etc/group, /proc/mounts (fstab(5)
octal escapes) and cgroup v1 `devices.list`. Every parser raises `ValueError` with a
message naming what was wrong; the reader turns that into a skipped source.
"""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

from sgguard.audit.facts import (
    AclEntry,
    AclTag,
    DeviceRule,
    DmTable,
    DmTarget,
    Group,
    LibvirtDisk,
    LibvirtDomain,
    Mount,
    QemuDisk,
    QemuProcess,
    User,
)

__all__ = [
    "kernel_version",
    "parse_acl_xattr",
    "parse_dev",
    "parse_devices_list",
    "parse_dmsetup_table",
    "parse_group",
    "parse_libvirt_xml",
    "parse_mounts",
    "parse_passwd",
    "parse_qemu_cmdline",
    "parse_qemu_opts",
    "parse_status",
]

ACL_XATTR_VERSION = 2
ACL_UNDEFINED_ID = 0xFFFFFFFF
CAP_SYS_RAWIO = 17

# QEMU device models that hand guest CDBs to the host through SG_IO.
PASSTHROUGH_DRIVERS = frozenset({"scsi-block", "scsi-generic"})
# Device models that take a drive= property and present a disk to the guest.
DISK_DRIVERS = frozenset(
    {
        "scsi-block",
        "scsi-generic",
        "scsi-hd",
        "scsi-cd",
        "scsi-disk",
        "virtio-blk",
        "virtio-blk-pci",
        "virtio-blk-ccw",
        "virtio-blk-device",
        "ide-hd",
        "ide-cd",
        "usb-storage",
        "nvme",
    }
)


def parse_dev(text: str) -> tuple[int, int]:
    """A sysfs `dev` file: `MAJOR:MINOR`."""
    m = re.fullmatch(r"\s*(\d+):(\d+)\s*", text)
    if not m:
        raise ValueError(f"not MAJOR:MINOR: {text.strip()[:40]!r}")
    return int(m.group(1)), int(m.group(2))


def kernel_version(release: str) -> str:
    """The numeric version at the start of a kernel release: `6.1.0-56-amd64` -> `6.1.0`."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release.strip())
    if not m:
        raise ValueError(f"kernel release does not start with a version: {release.strip()[:60]!r}")
    return ".".join(g for g in m.groups() if g is not None)


def parse_status(text: str) -> tuple[str | None, int | None, int | None]:
    """`/proc/PID/status` -> (Name, real Uid, CapEff mask)."""
    name: str | None = None
    uid: int | None = None
    cap: int | None = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "Name":
            name = value
        elif key == "Uid":
            fields = value.split()
            if not fields or not fields[0].isdigit():
                raise ValueError(f"status Uid line malformed: {line[:60]!r}")
            uid = int(fields[0])
        elif key == "CapEff":
            try:
                cap = int(value, 16)
            except ValueError:
                raise ValueError(f"status CapEff is not hex: {value[:40]!r}") from None
    return name, uid, cap


def parse_qemu_opts(text: str, implied: str | None = None) -> dict[str, str]:
    """A QemuOpts list: `key=value,key2=value2`, `,,` is a literal comma.

    A first item without `=` is the value of `implied` (`-device scsi-block,...`
    has driver=scsi-block); a later item without `=` is a boolean flag set to "on".
    """
    items: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ",":
            if i + 1 < len(text) and text[i + 1] == ",":
                cur.append(",")
                i += 2
                continue
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    items.append("".join(cur))
    out: dict[str, str] = {}
    for n, item in enumerate(items):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            if n == 0 and implied is not None:
                out[implied] = item
            else:
                out[item] = "on"
        else:
            out[key] = value
    return out


def _flatten(obj: object, prefix: str = "") -> dict[str, str]:
    """JSON `-blockdev` objects flattened to dotted keys like the keyval syntax."""
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, bool):
        out[prefix[:-1]] = "on" if obj else "off"
    elif obj is not None:
        out[prefix[:-1]] = str(obj)
    return out


def _opts(text: str, implied: str | None) -> dict[str, str]:
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"option JSON malformed: {exc.msg} at char {exc.pos}") from None
        return _flatten(obj)
    return parse_qemu_opts(text, implied)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in {"on", "yes", "true", "1"}


def parse_qemu_cmdline(
    pid: int, argv: Sequence[str], comm: str, uid: int | None, cap_eff: int | None
) -> QemuProcess:
    """A QEMU process: its guest name and every guest disk with its host source.

    Follows `-device X,drive=ID` to `-drive id=ID,file=...` or to a `-blockdev`
    chain (`node-name` -> `file` -> `filename`); `-drive if=virtio|scsi` without a
    device gets the implied virtio-blk / scsi-hd model.
    """
    guest: str | None = None
    drives: dict[str, dict[str, str]] = {}
    blockdevs: dict[str, dict[str, str]] = {}
    devices: list[dict[str, str]] = []
    anonymous: list[dict[str, str]] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        opt = arg[1:] if arg.startswith("--") else arg
        value = argv[i + 1] if i + 1 < len(argv) else None
        if opt in {"-name", "-drive", "-blockdev", "-device"} and value is not None:
            i += 2
            if opt == "-name":
                guest = _opts(value, "guest").get("guest")
            elif opt == "-drive":
                d = _opts(value, None)
                if "id" in d:
                    drives[d["id"]] = d
                else:
                    anonymous.append(d)
                if d.get("if") in {"virtio", "scsi"} and "file" in d:
                    devices.append(
                        {
                            "driver": "virtio-blk" if d["if"] == "virtio" else "scsi-hd",
                            "drive": d.get("id", ""),
                            "_inline_file": d["file"],
                            "_inline_ro": d.get("readonly", "off"),
                        }
                    )
            elif opt == "-blockdev":
                b = _opts(value, None)
                if "node-name" in b:
                    blockdevs[b["node-name"]] = b
            else:
                devices.append(_opts(value, "driver"))
            continue
        i += 1

    def resolve(node: str, depth: int = 0) -> tuple[str | None, bool]:
        if depth > 8:
            return None, False
        if node in drives:
            d = drives[node]
            return d.get("file"), _truthy(d.get("readonly"))
        b = blockdevs.get(node)
        if b is None:
            return None, False
        ro = _truthy(b.get("read-only")) or _truthy(b.get("readonly"))
        if "filename" in b:
            return b["filename"], ro
        if "file.filename" in b:
            return b["file.filename"], ro
        child = b.get("file")
        if child is not None:
            src, child_ro = resolve(child, depth + 1)
            return src, ro or child_ro
        return None, ro

    disks: list[QemuDisk] = []
    for dev in devices:
        driver = dev.get("driver", "")
        if driver not in DISK_DRIVERS:
            continue
        if "_inline_file" in dev:
            disks.append(
                QemuDisk(
                    driver, dev["_inline_file"], _truthy(dev["_inline_ro"]), dev["drive"] or None
                )
            )
            continue
        drive = dev.get("drive")
        if drive is None:
            continue
        source, ro = resolve(drive)
        disks.append(QemuDisk(driver, source, ro, drive))
    argv0 = argv[0] if argv else ""
    return QemuProcess(pid, comm, argv0, guest, uid, cap_eff, tuple(disks))


def _bool_attr(el: ET.Element, name: str) -> bool:
    return (el.get(name) or "").lower() == "yes"


def parse_libvirt_xml(text: str, origin: str) -> LibvirtDomain:
    """A libvirt domain (`<domain>`) or live status file (`<domstatus><domain>`)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise ValueError(f"XML not well-formed at line {line} column {col}") from None
    running = False
    if root.tag == "domstatus":
        running = root.get("state") in {"running", "paused"}
        inner = root.find("domain")
        if inner is None:
            raise ValueError("<domstatus> without <domain>")
        root = inner
    if root.tag != "domain":
        raise ValueError(f"root element is <{root.tag}>, not <domain>")
    name = (root.findtext("name") or "").strip()
    if not name:
        raise ValueError("<domain> has no <name>")
    disks: list[LibvirtDisk] = []
    devices = root.find("devices")
    for disk in devices.findall("disk") if devices is not None else ():
        src_el = disk.find("source")
        source = None
        if src_el is not None:
            source = src_el.get("dev") or src_el.get("file") or src_el.get("name")
        tgt = disk.find("target")
        disks.append(
            LibvirtDisk(
                disk_type=disk.get("type", "file"),
                device=disk.get("device", "disk"),
                source=source,
                target=tgt.get("dev") if tgt is not None else None,
                bus=tgt.get("bus") if tgt is not None else None,
                sgio=disk.get("sgio"),
                rawio=_bool_attr(disk, "rawio"),
                shareable=disk.find("shareable") is not None,
                readonly=disk.find("readonly") is not None,
            )
        )
    return LibvirtDomain(name, origin, tuple(disks), running)


def parse_dmsetup_table(text: str) -> tuple[DmTable, ...]:
    """`dmsetup table` output: `NAME: START LENGTH TARGET ARGS` per line.

    dmsetup omits `NAME:` when only one device exists; such lines get the name "".
    """
    tables: dict[str, list[DmTarget]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line == "No devices found":
            continue
        name = ""
        m = re.match(r"(\S+):\s+(\d+\s.*)$", line)
        if m:
            name, line = m.group(1), m.group(2)
        fields = line.split()
        if len(fields) < 3 or not fields[0].isdigit() or not fields[1].isdigit():
            raise ValueError(f"line {n}: not 'NAME: START LENGTH TARGET ARGS': {raw[:60]!r}")
        start, length, target = int(fields[0]), int(fields[1]), fields[2]
        args = fields[3:]
        device: tuple[int, int] | None = None
        offset: int | None = None
        for a in args:
            dm = re.fullmatch(r"(\d+):(\d+)", a)
            if dm:
                device = (int(dm.group(1)), int(dm.group(2)))
                break
        if target == "linear" and len(args) >= 2 and args[1].isdigit():
            offset = int(args[1])
        tables.setdefault(name, []).append(
            DmTarget(start, length, target, device, offset, " ".join(args))
        )
    return tuple(DmTable(k, tuple(v)) for k, v in tables.items())


def parse_acl_xattr(data: bytes) -> tuple[AclEntry, ...]:
    """`system.posix_acl_access`: u32 version 2, then (u16 tag, u16 perm, u32 id)."""
    if len(data) < 4 or (len(data) - 4) % 8:
        raise ValueError(f"ACL xattr of {len(data)} bytes is not 4 + 8*n")
    (version,) = struct.unpack_from("<I", data, 0)
    if version != ACL_XATTR_VERSION:
        raise ValueError(f"ACL xattr version {version}, expected {ACL_XATTR_VERSION}")
    out: list[AclEntry] = []
    for off in range(4, len(data), 8):
        tag, perm, ident = struct.unpack_from("<HHI", data, off)
        try:
            t = AclTag(tag)
        except ValueError:
            raise ValueError(f"ACL entry tag {tag:#x} unknown") from None
        out.append(
            AclEntry(
                t,
                None
                if ident == ACL_UNDEFINED_ID or t not in (AclTag.USER, AclTag.GROUP)
                else ident,
                perm & 7,
            )
        )
    return tuple(out)


def parse_passwd(text: str) -> tuple[User, ...]:
    out: list[User] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) < 4 or not f[2].isdigit() or not f[3].isdigit():
            raise ValueError(f"line {n}: not name:x:uid:gid:...")
        out.append(User(f[0], int(f[2]), int(f[3])))
    return tuple(out)


def parse_group(text: str) -> tuple[Group, ...]:
    out: list[Group] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) < 4 or not f[2].isdigit():
            raise ValueError(f"line {n}: not name:x:gid:members")
        members = tuple(m for m in f[3].split(",") if m)
        out.append(Group(f[0], int(f[2]), members))
    return tuple(out)


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> tuple[Mount, ...]:
    out: list[Mount] = []
    for n, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) < 3:
            raise ValueError(f"line {n}: fewer than 3 fields")
        out.append(Mount(_unescape(f[0]), _unescape(f[1]), f[2]))
    return tuple(out)


def parse_devices_list(text: str, cgroup: str) -> tuple[DeviceRule, ...]:
    """cgroup v1 `devices.list`: `TYPE MAJOR:MINOR ACCESS`, `*` for wildcards."""
    out: list[DeviceRule] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"([abc]) (\*|\d+):(\*|\d+) ([rwm]+)", line.strip())
        if not m:
            raise ValueError(f"line {n}: not 'TYPE MAJOR:MINOR ACCESS': {line[:40]!r}")
        major = None if m.group(2) == "*" else int(m.group(2))
        minor = None if m.group(3) == "*" else int(m.group(3))
        out.append(DeviceRule(cgroup, m.group(1), major, minor, m.group(4)))
    return tuple(out)


def split_cmdline(data: bytes) -> list[str]:
    """`/proc/PID/cmdline`: NUL-separated arguments."""
    parts = data.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "surrogateescape") for p in parts]


def is_qemu(argv: Iterable[str]) -> bool:
    first = next(iter(argv), "")
    base = first.rsplit("/", 1)[-1]
    return base.startswith("qemu-system-") or base in {"qemu-kvm", "kvm"}
