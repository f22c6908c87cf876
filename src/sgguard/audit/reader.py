"""The host reader of `sgguard audit`: the thin I/O shell that gathers `HostFacts`.

Owns which files are read and in what order: `/proc/sys/kernel/osrelease`, sysfs
(`/sys/class/block/*`, `/sys/class/scsi_device/*/device`), the `/dev` nodes (live:
lstat + `system.posix_acl_access`; capture: the manifest `sgguard-capture.json`),
device-mapper tables (`dmsetup table`, or `dmsetup-table.txt` in a capture),
/etc/passwd and /etc/group, /proc/self/mounts, libvirt domain XML, QEMU processes
(`/proc/PID/cmdline`, `status`, `comm`) and cgroup v1 device rules. Every source
is optional: what is absent, unreadable or malformed becomes a `Skipped` record
with its reason, never an exception.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sgguard.audit import parse
from sgguard.audit.facts import (
    AclEntry,
    AclTag,
    BlockDevice,
    DeviceRule,
    DevNode,
    DmTable,
    Group,
    HostFacts,
    KernelInfo,
    LibvirtDomain,
    Mount,
    QemuProcess,
    ScsiDevice,
    Skipped,
    User,
)
from sgguard.audit.hostfs import RootedFS

__all__ = ["DMSETUP_FILE", "MANIFEST", "manifest_nodes", "read_host"]

MANIFEST = "sgguard-capture.json"
MANIFEST_FORMAT = "sgguard-capture"
DMSETUP_FILE = "dmsetup-table.txt"
LIBVIRT_DIRS = ("/etc/libvirt/qemu", "/run/libvirt/qemu")
MAX_CGROUPS = 4096

T = TypeVar("T")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc)
        return text if not exc.filename else f"{text}"
    return str(exc) or type(exc).__name__


class _Reader:
    def __init__(self, fs: RootedFS) -> None:
        self.fs = fs
        self.skipped: list[Skipped] = []

    def attempt(self, source: str, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
            self.skipped.append(Skipped(source, _reason(exc)))
            return None

    def skip(self, source: str, reason: str) -> None:
        self.skipped.append(Skipped(source, reason))

    # --- small sysfs helpers -------------------------------------------------
    def opt_text(self, vpath: str) -> str | None:
        try:
            return self.fs.read_text(vpath).strip()
        except (OSError, ValueError):
            return None

    def opt_int(self, vpath: str) -> int | None:
        text = self.opt_text(vpath)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            self.skip(vpath, f"not an integer: {text[:30]!r}")
            return None

    def opt_list(self, vpath: str) -> tuple[str, ...]:
        try:
            return tuple(self.fs.listdir(vpath))
        except OSError:
            return ()

    # --- sources -----------------------------------------------------------------
    def kernel(self, blocks: Sequence[BlockDevice]) -> KernelInfo | None:
        release = self.attempt(
            "/proc/sys/kernel/osrelease", lambda: self.fs.read_text("/proc/sys/kernel/osrelease")
        )
        if release is None:
            return None
        release = release.strip()
        version = self.attempt("/proc/sys/kernel/osrelease", lambda: parse.kernel_version(release))
        if version is None:
            return None
        unpriv = any(b.unpriv_sgio is not None for b in blocks)
        return KernelInfo(release, version, unpriv)

    def blocks(self) -> tuple[BlockDevice, ...]:
        names = self.attempt("/sys/class/block", lambda: self.fs.listdir("/sys/class/block"))
        if names is None:
            return ()
        out: list[BlockDevice] = []
        for name in names:
            dev = self.attempt(f"/sys/class/block/{name}", self.block, name)
            if dev is not None:
                out.append(dev)
        return tuple(out)

    def block(self, name: str) -> BlockDevice:
        base = f"/sys/class/block/{name}"
        canon = self.fs.canonical(base)
        dev_text = self.fs.read_text(f"{base}/dev")
        dev = parse.parse_dev(dev_text)
        partition = self.opt_int(f"{base}/partition")
        parent = canon.rstrip("/").rsplit("/", 2)[-2] if partition is not None else None
        unpriv: bool | None = None
        if partition is None and self.fs.exists(f"{base}/queue/unpriv_sgio"):
            val = self.opt_int(f"{base}/queue/unpriv_sgio")
            unpriv = bool(val) if val is not None else None
        lbs = self.opt_int(f"{base}/queue/logical_block_size") if partition is None else None
        removable = self.opt_int(f"{base}/removable")
        ro = self.opt_int(f"{base}/ro")
        dm_name = self.opt_text(f"{base}/dm/name") if self.fs.is_dir(f"{base}/dm") else None
        dm_uuid = self.opt_text(f"{base}/dm/uuid") if dm_name is not None else None
        return BlockDevice(
            name=name,
            dev=dev,
            size=self.opt_int(f"{base}/size"),
            removable=None if removable is None else bool(removable),
            read_only=None if ro is None else bool(ro),
            partition=partition,
            start=self.opt_int(f"{base}/start") if partition is not None else None,
            parent=parent,
            dm_name=dm_name,
            dm_uuid=dm_uuid or None,
            slaves=self.opt_list(f"{base}/slaves"),
            holders=self.opt_list(f"{base}/holders"),
            unpriv_sgio=unpriv,
            logical_block_size=lbs,
        )

    def scsi(self) -> tuple[ScsiDevice, ...]:
        if not self.fs.exists("/sys/class/scsi_device"):
            return ()
        names = self.attempt(
            "/sys/class/scsi_device", lambda: self.fs.listdir("/sys/class/scsi_device")
        )
        out: list[ScsiDevice] = []
        for hctl in names or ():
            d = self.attempt(f"/sys/class/scsi_device/{hctl}", self.scsi_device, hctl)
            if d is not None:
                out.append(d)
        return tuple(out)

    def scsi_device(self, hctl: str) -> ScsiDevice:
        base = f"/sys/class/scsi_device/{hctl}/device"
        dtype = self.opt_int(f"{base}/type")
        sg = next(iter(self.opt_list(f"{base}/scsi_generic")), None)
        sg_dev = None
        if sg is not None:
            sg_dev = self.attempt(
                f"{base}/scsi_generic/{sg}/dev",
                lambda: parse.parse_dev(self.fs.read_text(f"{base}/scsi_generic/{sg}/dev")),
            )
        bsg = next(iter(self.opt_list(f"{base}/bsg")), None)
        bsg_dev = None
        if bsg is not None:
            bsg_dev = self.attempt(
                f"{base}/bsg/{bsg}/dev",
                lambda: parse.parse_dev(self.fs.read_text(f"{base}/bsg/{bsg}/dev")),
            )
        return ScsiDevice(
            hctl=hctl,
            device_type=dtype,
            vendor=self.opt_text(f"{base}/vendor") or "",
            model=self.opt_text(f"{base}/model") or "",
            block=self.opt_list(f"{base}/block"),
            sg=sg,
            sg_dev=sg_dev,
            bsg=bsg,
            bsg_dev=bsg_dev,
        )

    def dm_tables(
        self, blocks: Sequence[BlockDevice], run_dmsetup: bool
    ) -> tuple[DmTable, ...] | None:
        if not any(b.is_dm for b in blocks):
            return ()
        vfile = f"/{DMSETUP_FILE}"
        if not self.fs.live:
            text = self.attempt(f"capture {DMSETUP_FILE}", lambda: self.fs.read_text(vfile))
        elif run_dmsetup and shutil.which("dmsetup") and os.geteuid() == 0:
            text = self.attempt("dmsetup table", self._run_dmsetup)
            if text is not None:
                self.fs.record.files[vfile] = text.encode()
        else:
            self.skip(
                "dmsetup table",
                "dmsetup not available or not root; dm offsets from sysfs sizes only",
            )
            return None
        if text is None:
            return None
        tables = self.attempt(f"{DMSETUP_FILE}", lambda: parse.parse_dmsetup_table(text))
        if tables is None:
            return None
        # A single unnamed table (dmsetup omits the name when one device exists).
        named = [b.dm_name for b in blocks if b.dm_name]
        if len(tables) == 1 and tables[0].name == "" and len(named) == 1:
            tables = (DmTable(named[0] or "", tables[0].targets),)
        return tables

    @staticmethod
    def _run_dmsetup() -> str:
        proc = subprocess.run(
            ["dmsetup", "table"], capture_output=True, text=True, timeout=10, check=False
        )
        if proc.returncode != 0:
            raise OSError(f"dmsetup table exited {proc.returncode}: {proc.stderr.strip()[:80]}")
        return proc.stdout

    def nodes(
        self, blocks: Sequence[BlockDevice], scsi: Sequence[ScsiDevice]
    ) -> tuple[DevNode, ...]:
        if not self.fs.live:
            data = self.attempt(
                f"capture manifest {MANIFEST}", lambda: self.fs.read_text(f"/{MANIFEST}")
            )
            if data is None:
                return ()
            got = self.attempt(f"capture manifest {MANIFEST}", lambda: manifest_nodes(data))
            return got or ()
        wanted_char = {d.sg_dev for d in scsi if d.sg_dev} | {d.bsg_dev for d in scsi if d.bsg_dev}
        out: list[DevNode] = []
        for folder in ("/dev", "/dev/mapper", "/dev/bsg"):
            if folder != "/dev" and not self.fs.is_dir(folder):
                continue
            names = self.attempt(folder, self._list_quiet, folder)
            for name in names or ():
                path = f"{folder}/{name}"
                node = self.attempt(path, self.live_node, path, folder, wanted_char)
                if node is not None:
                    out.append(node)
        return tuple(out)

    def live_node(
        self, path: str, folder: str, wanted_char: set[tuple[int, int]]
    ) -> DevNode | None:
        st = self.fs.lstat(path)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            if folder == "/dev":
                return None
            return DevNode(
                path, "symlink", None, mode, st.st_uid, st.st_gid, None, self.fs.readlink(path)
            )
        if not (stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode)):
            return None
        dev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        kind = "block" if stat.S_ISBLK(st.st_mode) else "char"
        if kind == "char" and dev not in wanted_char:
            return None
        raw = self.fs.getxattr(path, "system.posix_acl_access")
        acl = parse.parse_acl_xattr(raw) if raw else None
        return DevNode(path, kind, dev, mode, st.st_uid, st.st_gid, acl)

    def links_to_nodes(self, paths: Sequence[str], known: Sequence[DevNode]) -> tuple[DevNode, ...]:
        """The /dev symlinks consumers name (/dev/disk/by-id/..., /dev/VG/LV) up to a node.

        Recorded as symlink nodes so that a capture's manifest keeps them too.
        """
        seen = {n.path for n in known}
        out: list[DevNode] = []
        for start in paths:
            path = posixpath.normpath(start)
            for _hop in range(16):
                if not path.startswith("/dev/") or path in seen:
                    break
                try:
                    st = self.fs.lstat(path)
                    if not stat.S_ISLNK(st.st_mode):
                        break
                    target = self.fs.readlink(path)
                except FileNotFoundError:
                    break  # e.g. /dev/root in /proc/mounts: names nothing here
                except OSError as exc:
                    self.skip(path, _reason(exc))
                    break
                seen.add(path)
                out.append(
                    DevNode(path, "symlink", None, 0o777, st.st_uid, st.st_gid, None, target)
                )
                path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return tuple(out)

    def accounts(self) -> tuple[tuple[User, ...], tuple[Group, ...]]:
        users = self.attempt(
            "/etc/passwd", lambda: parse.parse_passwd(self.fs.read_text("/etc/passwd"))
        )
        groups = self.attempt(
            "/etc/group", lambda: parse.parse_group(self.fs.read_text("/etc/group"))
        )
        return users or (), groups or ()

    def mounts(self) -> tuple[Mount, ...]:
        for path in ("/proc/self/mounts", "/proc/mounts"):
            if self.fs.exists(path):
                got = self.attempt(
                    path,
                    self._mounts_of,
                    path,
                )
                return got or ()
        self.skip("/proc/mounts", "absent: host filesystems on shared disks cannot be named")
        return ()

    def _list_quiet(self, folder: str) -> list[str]:
        return self.fs.listdir(folder, remember=False)

    def _mounts_of(self, path: str) -> tuple[Mount, ...]:
        return parse.parse_mounts(self.fs.read_text(path, record_as="/proc/mounts"))

    def _libvirt_of(self, path: str) -> LibvirtDomain:
        return parse.parse_libvirt_xml(self.fs.read_text(path), path)

    @staticmethod
    def _libvirt_file(path: str) -> LibvirtDomain:
        return parse.parse_libvirt_xml(Path(path).read_text(encoding="utf-8"), path)

    def _status_of(self, base: str) -> tuple[str | None, int | None, int | None]:
        return parse.parse_status(self.fs.read_text(f"{base}/status"))

    def libvirt(self, extra: Sequence[str]) -> tuple[LibvirtDomain, ...]:
        found: dict[str, LibvirtDomain] = {}
        for folder in LIBVIRT_DIRS:
            if not self.fs.is_dir(folder):
                continue
            names = self.attempt(folder, self.fs.listdir, folder)
            for name in names or ():
                if not name.endswith(".xml"):
                    continue
                path = f"{folder}/{name}"
                dom = self.attempt(
                    f"libvirt XML {path}",
                    self._libvirt_of,
                    path,
                )
                if dom is not None and (dom.name not in found or dom.running):
                    found[dom.name] = dom
        for path in extra:
            dom = self.attempt(
                f"libvirt XML {path}",
                self._libvirt_file,
                path,
            )
            if dom is not None:
                found[dom.name] = dom
        return tuple(found.values())

    def processes(self) -> tuple[QemuProcess, ...]:
        names = self.attempt("/proc", lambda: self.fs.listdir("/proc", remember=False))
        out: list[QemuProcess] = []
        for name in names or ():
            if not name.isdigit():
                continue
            base = f"/proc/{name}"
            try:
                raw = self.fs.read_bytes(f"{base}/cmdline", remember=False)
            except FileNotFoundError:
                if self.fs.is_dir(base):
                    self.skip(f"{base}/cmdline", "absent")
                continue  # the process exited while we looked
            except OSError as exc:
                self.skip(f"{base}/cmdline", _reason(exc))
                continue
            argv = parse.split_cmdline(raw)
            if not parse.is_qemu(argv):
                continue
            status: tuple[str | None, int | None, int | None] | None
            try:
                status = self._status_of(base)
            except FileNotFoundError:
                if not self.fs.is_dir(base):
                    continue  # the process exited while we looked
                self.skip(f"{base}/status", "absent")
                status = None
            except (OSError, ValueError) as exc:
                self.skip(f"{base}/status", _reason(exc))
                status = None
            self.fs.remember_file(f"{base}/cmdline", raw)
            comm_name, uid, cap = status if status is not None else (None, None, None)
            if status is not None and cap is None:
                self.skip(f"{base}/status", "no CapEff line: capabilities unknown")
            comm = self.opt_text(f"{base}/comm") or comm_name or argv[0].rsplit("/", 1)[-1]
            proc = self.attempt(
                f"{base}/cmdline",
                parse.parse_qemu_cmdline,
                int(name),
                argv,
                comm,
                uid,
                cap,
            )
            if proc is not None:
                out.append(proc)
        return tuple(out)

    def device_rules(self) -> tuple[DeviceRule, ...]:
        v1 = "/sys/fs/cgroup/devices"
        if self.fs.is_dir(v1):
            out: list[DeviceRule] = []
            stack = [v1]
            seen = 0
            while stack and seen < MAX_CGROUPS:
                folder = stack.pop()
                seen += 1
                try:
                    names = self.fs.listdir(folder, remember=folder == v1)
                except OSError as exc:
                    self.skip(folder, _reason(exc))
                    continue
                for n in names:
                    if self.fs.is_dir(f"{folder}/{n}"):
                        stack.append(f"{folder}/{n}")
                if folder == v1 or "devices.list" not in names:
                    continue
                cgroup = folder[len(v1) :] or "/"
                try:
                    text = self.fs.read_text(f"{folder}/devices.list", remember=False)
                    rules = parse.parse_devices_list(text, cgroup)
                except (OSError, ValueError) as exc:
                    self.skip(f"{folder}/devices.list", _reason(exc))
                    continue
                if any(r.kind == "a" for r in rules) or not rules:
                    continue  # unconfined (every device) or nothing: not a container grant
                self.fs.remember_file(f"{folder}/devices.list", text.encode())
                out.extend(rules)
            return tuple(out)
        if self.fs.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.opt_text("/sys/fs/cgroup/cgroup.controllers")  # kept in a capture
            self.skip(
                "container device rules",
                "cgroup v2 enforces device access with BPF programs, which cannot be read from files",
            )
        else:
            self.skip("container device rules", "no cgroup filesystem at /sys/fs/cgroup")
        return ()


def manifest_nodes(text: str) -> tuple[DevNode, ...]:
    """The /dev records of a capture manifest (see `sgguard.audit.capture`)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at char {exc.pos}") from None
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"not a {MANIFEST_FORMAT} manifest")
    nodes = obj.get("nodes", [])
    if not isinstance(nodes, list):
        raise ValueError("'nodes' is not a list")
    out: list[DevNode] = []
    for i, n in enumerate(nodes):
        try:
            kind = n["kind"]
            if kind not in {"block", "char", "symlink"}:
                raise ValueError(f"kind {kind!r}")
            dev = (int(n["major"]), int(n["minor"])) if kind != "symlink" else None
            acl = None
            if n.get("acl") is not None:
                acl = tuple(
                    AclEntry(AclTag[e["tag"].upper()], e.get("id"), int(e["perm"]))
                    for e in n["acl"]
                )
            out.append(
                DevNode(
                    path=str(n["path"]),
                    kind=kind,
                    dev=dev,
                    mode=int(str(n.get("mode", "0")), 8),
                    uid=int(n.get("uid", 0)),
                    gid=int(n.get("gid", 0)),
                    acl=acl,
                    target=n.get("target"),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"nodes[{i}] malformed: {exc}") from None
    return tuple(out)


def read_host(
    root: str | os.PathLike[str] = "/",
    *,
    libvirt_files: Sequence[str] = (),
    run_dmsetup: bool = True,
    fs: RootedFS | None = None,
    extra_skipped: Sequence[Skipped] = (),
) -> HostFacts:
    """Gather every source under `root`; `fs.record` then holds what was read."""
    fs = fs if fs is not None else RootedFS(root)
    r = _Reader(fs)
    r.skipped.extend(extra_skipped)
    blocks = r.blocks() if fs.exists("/sys/class/block") else ()
    if not fs.exists("/sys/class/block"):
        r.skip("/sys/class/block", "absent: no block topology")
    scsi = r.scsi()
    kernel = r.kernel(blocks)
    tables = r.dm_tables(blocks, run_dmsetup)
    nodes = r.nodes(blocks, scsi)
    users, groups = r.accounts()
    mounts = r.mounts()
    domains = r.libvirt(libvirt_files)
    procs = r.processes() if fs.is_dir("/proc") else ()
    rules = r.device_rules()
    if fs.live:
        referenced = [d.source for dom in domains for d in dom.disks if d.source]
        referenced += [q.source for p in procs for q in p.disks if q.source]
        referenced += [m.source for m in mounts]
        nodes = nodes + r.links_to_nodes(referenced, nodes)
    return HostFacts(
        root=str(root),
        kernel=kernel,
        blocks=blocks,
        scsi=scsi,
        dm_tables=tables,
        nodes=nodes,
        users=users,
        groups=groups,
        mounts=mounts,
        domains=domains,
        processes=procs,
        device_rules=rules,
        skipped=tuple(r.skipped),
    )
