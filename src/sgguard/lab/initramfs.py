"""The lab guest's initramfs: a newc cpio writer and the builder of its three layers.

Owns what goes into the guest: busybox-static as /bin/sh and applets, the real
tools (sg3-utils, eject, smartctl, hdparm, sdparm, strace, capsh, dmsetup) with the
shared libraries `ldd` names for them, a Python interpreter with exactly the
stdlib modules sgguard's guest program imports (byte-compiled, unchecked-hash
.pyc, no tests), sgguard's own source, the kernel's modules in load order, and
the per-run inputs. The initrd is concatenated cpio archives (Linux unpacks them
one after the other, see Documentation/driver-api/early-userspace): `base`
(tools + Python + the guest program, cached by content hash), `modules` (per
kernel, cached), optionally `job` (the sgguard modules a custom guest job such as
`sgguard.lab.guest_passthrough` imports, cached) and `run` (small, per run). The cpio format is SVR4 "newc" (`070701`).
"""

from __future__ import annotations

import hashlib
import json
import os
import py_compile
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgguard.errors import UsageError
from sgguard.lab.kernels import KernelTree, read_module, resolve_module_files

__all__ = [
    "GUEST_TOOLS",
    "JOB_MODULES",
    "CpioWriter",
    "build_base",
    "build_initrd",
    "build_job",
    "build_modules",
    "build_run",
    "guest_package_files",
    "ldd_libraries",
    "python_files",
]

# Tools the guest runs (host paths are found with shutil.which).
GUEST_TOOLS: tuple[str, ...] = (
    "sg_inq",
    "sg_readcap",
    "sg_vpd",
    "sg_raw",
    "sg_turs",
    "sg_start",
    "sg_persist",
    "eject",
    "smartctl",
    "hdparm",
    "sdparm",
    "strace",
    "capsh",
    "dmsetup",
)

GUEST_PYTHON = "/usr/bin/python3"
GUEST_SRC = "/opt/sgguard"
_TRAILER = "TRAILER!!!"


class CpioWriter:
    """Builds an SVR4 newc cpio archive in memory (no root needed for nodes)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._ino = 1000
        self._dirs: set[str] = set()
        self._names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes, rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.lstrip("/")
        if name in self._names:
            return
        self._names.add(name)
        self._ino += 1
        encoded = name.encode() + b"\0"
        fields = (
            self._ino,
            mode,
            0,  # uid
            0,  # gid
            1,  # nlink
            0,  # mtime (reproducible archives)
            len(data),
            0,
            0,  # dev major/minor
            rdev[0],
            rdev[1],
            len(encoded),
            0,  # check
        )
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._parts.append(header + encoded + b"\0" * ((4 - (110 + len(encoded)) % 4) % 4))
        self._parts.append(data + b"\0" * ((4 - len(data) % 4) % 4))

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        path = path.strip("/")
        if not path or path in self._dirs:
            return
        parent = os.path.dirname(path)
        if parent:
            self.mkdir(parent)
        self._dirs.add(path)
        self._entry(path, stat.S_IFDIR | mode, b"")

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFREG | mode, data)

    def add_symlink(self, path: str, target: str) -> None:
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def add_chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFCHR | mode, b"", (major, minor))

    def add_host_file(self, host: Path, path: str | None = None) -> None:
        """Copy a host file (symlinks resolved) to the same or the given path."""
        real = host.resolve()
        data = real.read_bytes()
        mode = stat.S_IMODE(real.stat().st_mode)
        self.add_file(path or str(host), data, mode)
        if path is None and real != host and str(real) not in self._names:
            self.add_file(str(real), data, mode)

    def finish(self) -> bytes:
        self._entry(_TRAILER, 0, b"")
        archive = b"".join(self._parts)
        return archive + b"\0" * ((512 - len(archive) % 512) % 512)


def read_cpio(archive: bytes) -> dict[str, tuple[int, bytes]]:
    """Name -> (mode, data) of every entry of a newc archive (for tests)."""
    out: dict[str, tuple[int, bytes]] = {}
    pos = 0
    while pos + 110 <= len(archive):
        if archive[pos : pos + 6] != b"070701":
            if archive[pos:].strip(b"\0"):
                raise ValueError(f"bad cpio magic at {pos}")
            break
        fields = [int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = archive[name_start : name_start + namesize - 1].decode()
        data_start = name_start + namesize
        data_start += (4 - data_start % 4) % 4
        data = archive[data_start : data_start + size]
        pos = data_start + size
        pos += (4 - pos % 4) % 4
        if name == _TRAILER:
            # another archive may follow (concatenated initrds)
            while pos < len(archive) and archive[pos] == 0:
                pos += 1
            continue
        out[name] = (mode, data)
    return out


_LDD_RE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def ldd_libraries(binaries: Iterable[Path]) -> set[Path]:
    """Shared libraries (and the dynamic loader) the binaries need, per `ldd`."""
    libs: set[Path] = set()
    for binary in binaries:
        proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            continue  # static binary ("not a dynamic executable")
        for line in proc.stdout.splitlines():
            m = _LDD_RE.search(line)
            if m:
                libs.add(Path(m.group(1)))
    return libs


# The guest program's own imports (the base layer) and the job modules a caller may
# run in the guest (`sgguard.lab.guest` config "job"; their sgguard files go in the
# job layer, the stdlib they need in the base layer).
GUEST_MODULES: tuple[str, ...] = ("sgguard.lab.guest", "sgguard.sgio")
JOB_MODULES: tuple[str, ...] = ("sgguard.lab.guest_vm", "sgguard.lab.guest_passthrough")

_GUEST_IMPORTS = (
    "import sys, json, importlib\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import runpy\n"
    "for name in sys.argv[2:]:\n"
    "    importlib.import_module(name)\n"
    "import encodings.utf_8, encodings.latin_1, encodings.ascii\n"
    "files = sorted({m.__file__ for m in list(sys.modules.values())\n"
    "    if getattr(m, '__file__', None)})\n"
    "print(json.dumps({'files': files, 'prefix': sys.base_prefix,\n"
    "    'stdlib': __import__('sysconfig').get_paths()['stdlib'],\n"
    "    'platstdlib': __import__('sysconfig').get_paths()['platstdlib']}))\n"
)


def _imports(src_root: Path, modules: Iterable[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [
            str(Path(os.path.realpath(sys.executable))),
            "-S",
            "-c",
            _GUEST_IMPORTS,
            str(src_root),
            *list(modules),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise UsageError(
            "cannot import the guest program: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
        )
    info: dict[str, Any] = json.loads(proc.stdout)
    return info


def python_files(
    src_root: Path, modules: Iterable[str] = GUEST_MODULES + JOB_MODULES
) -> tuple[Path, list[Path], Path]:
    """(interpreter, stdlib files the guest program and job modules import, stdlib dir).

    Found by importing `modules` in a fresh `-S` interpreter and listing
    `sys.modules`: exactly what they need, nothing from site-packages.
    """
    exe = Path(os.path.realpath(sys.executable))
    info = _imports(src_root, modules)
    stdlib = Path(info["stdlib"])
    files = [Path(f) for f in info["files"] if Path(f).is_relative_to(stdlib)]
    return exe, files, stdlib


def guest_package_files(src_root: Path, modules: Iterable[str] = GUEST_MODULES) -> list[Path]:
    """sgguard's own source files that `modules` import (under `src_root`)."""
    root = src_root.resolve()
    files = [Path(f).resolve() for f in _imports(src_root, modules)["files"]]
    return sorted(f for f in files if f.is_relative_to(root) and f.suffix == ".py")


def _compile(source: Path, dfile: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.pyc"
        py_compile.compile(
            str(source),
            cfile=str(out),
            dfile=dfile,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        return out.read_bytes()


def _strip(data: bytes, name: str) -> bytes:
    strip = shutil.which("strip")
    if strip is None:
        return data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / os.path.basename(name)
        path.write_bytes(data)
        proc = subprocess.run([strip, "--strip-unneeded", str(path)], capture_output=True)
        return path.read_bytes() if proc.returncode == 0 else data


INIT_SCRIPT = """#!/bin/sh
# sgguard lab guest init (PID 1): mount, load modules, run the guest program.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mount -t tmpfs tmpfs /dev
mkdir -p /dev/pts /tmp /run
mount -t tmpfs tmpfs /tmp
echo "@@SGG boot $(cat /proc/uptime)"
while read m; do
  insmod "/lib/modules/lab/$m" || echo "@@SGG error insmod $m failed"
done < /lib/modules/lab/order
echo "@@SGG modules $(cat /proc/uptime)"
export PYTHONHOME=%(pyhome)s PYTHONPATH=%(src)s PYTHONDONTWRITEBYTECODE=1 DM_DISABLE_UDEV=1
%(python)s -S -m sgguard.lab.guest /run/lab/config.json
echo "@@SGG exit $?"
sync
poweroff -f
"""


@dataclass(frozen=True, slots=True)
class Layer:
    """One cached cpio layer: its file and the content hash that names it."""

    path: Path
    digest: str


def _src_root() -> Path:
    import sgguard

    return Path(sgguard.__file__).resolve().parent.parent


def _tool_paths() -> list[Path]:
    paths: list[Path] = []
    missing: list[str] = []
    for tool in GUEST_TOOLS:
        found = shutil.which(
            tool, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )
        if found is None:
            missing.append(tool)
        else:
            paths.append(Path(found))
    if missing:
        raise UsageError(
            "tools missing on the host for the guest: "
            + ", ".join(missing)
            + " (install sg3-utils eject smartmontools hdparm sdparm strace libcap2-bin dmsetup)"
        )
    return paths


def _busybox() -> Path:
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(cand):
            proc = subprocess.run(["ldd", cand], capture_output=True, text=True)
            if proc.returncode != 0 or "not a dynamic" in proc.stdout + proc.stderr:
                return Path(cand)
    raise UsageError("busybox-static is not installed (apt-get install busybox-static)")


def _hash_files(h: hashlib._Hash, files: Iterable[Path]) -> None:
    for f in sorted(set(files)):
        st = f.stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def build_base(cache_dir: Path) -> Layer:
    """The base layer: busybox, tools + libraries, Python + stdlib subset, sgguard."""
    src_root = _src_root()
    busybox = _busybox()
    tools = _tool_paths()
    exe, stdlib_files, stdlib = python_files(src_root)
    # Only the sgguard modules the guest program imports (so that edits elsewhere
    # in the package do not invalidate the cached layer).
    pkg_files = guest_package_files(src_root)
    dynload = [f for f in stdlib_files if f.suffix == ".so"]
    libs = ldd_libraries([*tools, exe, *dynload])
    h = hashlib.sha256(b"sgguard-lab-base-3\n")
    h.update(INIT_SCRIPT.encode())
    _hash_files(h, [busybox, *tools, exe, *stdlib_files, *libs])
    for f in pkg_files:
        h.update(str(f.relative_to(src_root)).encode() + b"\0" + f.read_bytes())
    digest = h.hexdigest()[:16]
    out = cache_dir / "initramfs" / f"base-{digest}.cpio"
    if out.exists():
        return Layer(out, digest)
    w = CpioWriter()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "etc"):
        w.mkdir(d)
    w.add_chardev("dev/console", 5, 1)
    w.add_chardev("dev/null", 1, 3, 0o666)
    w.add_host_file(busybox, "bin/busybox")
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            w.add_symlink(f"bin/{applet}", "busybox")
    for tool in tools:
        w.add_file(f"usr/bin/{tool.name}", _strip(tool.read_bytes(), tool.name), 0o755)
    for lib in sorted(libs):
        real = lib.resolve()
        w.add_file(str(lib), _strip(real.read_bytes(), real.name), 0o755)
    w.add_file(GUEST_PYTHON, exe.read_bytes(), 0o755)
    for f in stdlib_files:
        rel = f.relative_to(stdlib)
        target = f"{stdlib}/{rel}"
        if f.suffix == ".py":
            w.add_file(target, f.read_bytes())
            tag = sys.implementation.cache_tag
            pyc = f"{stdlib}/{rel.parent}/__pycache__/{f.stem}.{tag}.pyc"
            w.add_file(pyc, _compile(f, target))
        else:
            w.add_file(target, _strip(f.read_bytes(), f.name), 0o755)
    # The `os` landmark lets the interpreter find its prefix from PYTHONHOME.
    _add_package_files(w, src_root, pkg_files)
    pyhome = str(stdlib.parent.parent)
    w.add_file(
        "init",
        (INIT_SCRIPT % {"pyhome": pyhome, "src": GUEST_SRC, "python": GUEST_PYTHON}).encode(),
        0o755,
    )
    w.add_file("etc/passwd", b"root:x:0:0:root:/:/bin/sh\nlab:x:1000:1000:lab:/tmp:/bin/sh\n")
    w.add_file("etc/group", b"root:x:0:\ndisk:x:6:lab\nlab:x:1000:\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(w.finish())
    tmp.replace(out)
    return Layer(out, digest)


def _add_package_files(w: CpioWriter, src_root: Path, files: Iterable[Path]) -> None:
    tag = sys.implementation.cache_tag
    for f in files:
        rel = f.relative_to(src_root)
        target = f"{GUEST_SRC}/{rel}"
        w.add_file(target, f.read_bytes())
        w.add_file(f"{GUEST_SRC}/{rel.parent}/__pycache__/{f.stem}.{tag}.pyc", _compile(f, target))


def build_job(cache_dir: Path, modules: Iterable[str] = JOB_MODULES) -> Layer:
    """The job layer: sgguard files the job modules import beyond the base layer's.

    Kept apart from the base layer so that edits to, say, the target core only
    rebuild this small layer (cached by content hash).
    """
    src_root = _src_root()
    base_files = set(guest_package_files(src_root))
    files = [f for f in guest_package_files(src_root, modules) if f not in base_files]
    h = hashlib.sha256(b"sgguard-lab-job-1\n")
    for f in files:
        h.update(str(f.relative_to(src_root)).encode() + b"\0" + f.read_bytes())
    digest = h.hexdigest()[:16]
    out = cache_dir / "initramfs" / f"job-{digest}.cpio"
    if out.exists():
        return Layer(out, digest)
    w = CpioWriter()
    _add_package_files(w, src_root, files)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(w.finish())
    tmp.replace(out)
    return Layer(out, digest)


def build_modules(tree: KernelTree, cache_dir: Path) -> tuple[Layer, list[str]]:
    """The kernel's layer: lab modules (decompressed) under /lib/modules/lab + order."""
    mods = resolve_module_files(tree)
    h = hashlib.sha256(b"sgguard-lab-modules-1\n")
    _hash_files(h, [p for _n, p in mods])
    digest = h.hexdigest()[:16]
    names = [n for n, _p in mods]
    out = cache_dir / "initramfs" / f"modules-{tree.release}-{digest}.cpio"
    if out.exists():
        return Layer(out, digest), names
    w = CpioWriter()
    order = []
    for name, path in mods:
        fname = f"{name}.ko"
        w.add_file(f"lib/modules/lab/{fname}", read_module(path))
        order.append(fname)
    w.add_file("lib/modules/lab/order", "".join(f"{o}\n" for o in order).encode())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(w.finish())
    tmp.replace(out)
    return Layer(out, digest), names


def build_run(files: dict[str, bytes]) -> bytes:
    """The per-run layer: config and inputs under /run/lab."""
    w = CpioWriter()
    for name, data in sorted(files.items()):
        w.add_file(f"run/lab/{name}", data)
    return w.finish()


def build_initrd(out: Path, layers: Iterable[Path], run_layer: bytes) -> Path:
    """Concatenate the cached layers and the run layer into one initrd file."""
    with out.open("wb") as f:
        for layer in layers:
            with layer.open("rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)
        f.write(run_layer)
    return out
