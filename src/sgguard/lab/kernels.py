"""Debian kernel packages for the lab: resolve, download, unpack, order modules.

Owns finding a kernel to boot: the package name behind `linux-image-amd64` (or
any `linux-image-*` name or `.deb` file), `apt-get download` into a cache
folder reused by later runs, `dpkg -x` unpacking, locating `boot/vmlinuz-*` and
`lib/modules/<release>/`, and the load order of the modules the lab needs,
computed from each module's `depends=` modinfo string (the package carries no
`modules.dep`: depmod runs at install time). `.ko`, `.ko.xz` and `.ko.gz` are
read; the pure ordering (`load_order`) takes a dependency map and is I/O-free.
"""

from __future__ import annotations

import fcntl
import gzip
import lzma
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sgguard.errors import InputError, UsageError

__all__ = [
    "DEFAULT_KERNEL_META",
    "LAB_MODULES",
    "KernelTree",
    "default_cache_dir",
    "fetch_kernel",
    "load_order",
    "module_name",
    "parse_modinfo",
    "resolve_module_files",
    "resolve_package",
]

DEFAULT_KERNEL_META = "linux-image-amd64"

# What the lab's guest needs: a virtio-scsi disk with sd and sg, device-mapper,
# and a virtio-blk disk that carries the results back to the host.
LAB_MODULES: tuple[str, ...] = ("sd_mod", "sg", "virtio_scsi", "virtio_pci", "dm_mod", "virtio_blk")

_MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.gz", ".ko.zst")


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/sgguard` or `~/.cache/sgguard`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sgguard"


def module_name(filename: str) -> str:
    """Kernel module name of a file name: `crc-t10dif.ko.xz` -> `crc_t10dif`."""
    base = os.path.basename(filename)
    for suffix in _MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


_MODINFO_RE = re.compile(rb"(?:^|\x00)(depends|name|vermagic)=([^\x00]*)")


def parse_modinfo(image: bytes) -> dict[str, str]:
    """The `name=`, `depends=` and `vermagic=` strings of a module's .modinfo."""
    found: dict[str, str] = {}
    for match in _MODINFO_RE.finditer(image):
        key = match.group(1).decode()
        found.setdefault(key, match.group(2).decode(errors="replace"))
    return found


def read_module(path: Path) -> bytes:
    """A module's ELF image, decompressed (xz or gzip)."""
    data = path.read_bytes()
    name = path.name
    if name.endswith(".xz"):
        return lzma.decompress(data)
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".zst"):
        raise InputError("zstd-compressed modules are not supported", where=str(path))
    return data


def load_order(roots: Iterable[str], depends: Callable[[str], Iterable[str]]) -> list[str]:
    """Modules to load, dependencies first, each once (depth-first post-order).

    `depends(name)` gives the direct dependencies of one module. A cycle is an
    input error (modules cannot depend on each other circularly).
    """
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, chain: tuple[str, ...]) -> None:
        mark = state.get(name)
        if mark == 2:
            return
        if mark == 1:
            raise InputError("module dependency cycle: " + " -> ".join((*chain, name)))
        state[name] = 1
        for dep in depends(name):
            visit(dep, (*chain, name))
        state[name] = 2
        order.append(name)

    for root in roots:
        visit(root, ())
    return order


@dataclass(frozen=True, slots=True)
class KernelTree:
    """An unpacked kernel: its image, module folder, release and package."""

    root: Path
    vmlinuz: Path
    modules_dir: Path
    release: str
    package: str
    version: str

    def module_index(self) -> dict[str, Path]:
        """Module name -> file, over the tree's `kernel/` folder."""
        index: dict[str, Path] = {}
        for dirpath, _dirs, files in os.walk(self.modules_dir):
            for f in files:
                if f.endswith(_MODULE_SUFFIXES):
                    index.setdefault(module_name(f), Path(dirpath) / f)
        return index

    def builtin(self) -> frozenset[str]:
        """Modules built into the image (`modules.builtin`)."""
        path = self.modules_dir / "modules.builtin"
        if not path.exists():
            return frozenset()
        return frozenset(module_name(line.strip()) for line in path.read_text().splitlines())


def resolve_module_files(
    tree: KernelTree, roots: Iterable[str] = LAB_MODULES
) -> list[tuple[str, Path]]:
    """(name, file) of every module to load for `roots`, in load order."""
    index = tree.module_index()
    builtin = tree.builtin()
    infos: dict[str, list[str]] = {}

    def depends(name: str) -> list[str]:
        if name in infos:
            return infos[name]
        path = index.get(name)
        if path is None:
            raise InputError(
                f"kernel module {name} is missing from {tree.modules_dir} "
                "(not a module file and not in modules.builtin)"
            )
        info = parse_modinfo(read_module(path))
        deps = [module_name(d) for d in info.get("depends", "").split(",") if d.strip()]
        infos[name] = [d for d in deps if d not in builtin]
        return infos[name]

    wanted = [module_name(r) for r in roots if module_name(r) not in builtin]
    order = load_order(wanted, depends)
    return [(name, index[name]) for name in order]


def _run(argv: list[str], what: str, cwd: Path | None = None) -> str:
    if shutil.which(argv[0]) is None:
        raise UsageError(f"{argv[0]} is not installed (needed to {what})")
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"{' '.join(argv[:3])} failed: {last}")
    return proc.stdout


def resolve_package(name: str) -> str:
    """A concrete `linux-image-<release>` package for `name`.

    Meta packages (`linux-image-amd64`, `linux-image-6.12-amd64`) are followed
    through `apt-cache depends` to the package they depend on.
    """
    seen: set[str] = set()
    current = name
    while current not in seen:
        seen.add(current)
        try:
            out = _run(["apt-cache", "depends", current], "resolve the kernel package")
        except InputError as exc:
            raise InputError(f"kernel package {current} not found by apt-cache ({exc})") from exc
        deps = [
            line.split(":", 1)[1].strip()
            for line in out.splitlines()
            if line.strip().startswith("Depends:")
        ]
        image_deps = [d for d in deps if d.startswith("linux-image-") and not d.endswith("-dbg")]
        if not image_deps:
            return current
        # A meta package depends on exactly one image package.
        current = image_deps[0]
    raise InputError(f"apt-cache depends loops for {name}")


def _deb_fields(deb: Path) -> dict[str, str]:
    out = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"], "read the .deb")
    fields: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _tree_from(root: Path, package: str, version: str) -> KernelTree:
    boots = sorted((root / "boot").glob("vmlinuz-*"))
    mods = sorted((root / "lib" / "modules").glob("*")) if (root / "lib/modules").exists() else []
    if not boots:
        raise InputError(f"no boot/vmlinuz-* in the package {package}", where=str(root))
    if not mods:
        raise InputError(f"no lib/modules/<release> in the package {package}", where=str(root))
    return KernelTree(
        root=root,
        vmlinuz=boots[0],
        modules_dir=mods[0],
        release=mods[0].name,
        package=package,
        version=version,
    )


def tree_from_files(vmlinuz: Path, modules_dir: Path) -> KernelTree:
    """A kernel given as an image and a `lib/modules/<release>` folder."""
    if not vmlinuz.is_file():
        raise UsageError(f"--vmlinuz {vmlinuz}: no such file")
    if not modules_dir.is_dir():
        raise UsageError(f"--modules {modules_dir}: no such folder")
    if not (modules_dir / "kernel").is_dir():
        subs = [p for p in modules_dir.iterdir() if (p / "kernel").is_dir()]
        if len(subs) != 1:
            raise UsageError(f"--modules {modules_dir}: expected lib/modules/<release>")
        modules_dir = subs[0]
    return KernelTree(
        root=modules_dir.parent,
        vmlinuz=vmlinuz,
        modules_dir=modules_dir,
        release=modules_dir.name,
        package="",
        version="",
    )


def fetch_kernel(spec: str | None, cache_dir: Path | None = None) -> KernelTree:
    """Download (once) and unpack a kernel package; return its tree.

    `spec` is a package name (meta or concrete), a path to a `.deb`, or None for
    Debian's current 6.1 kernel (`linux-image-amd64`).
    """
    cache = (cache_dir or default_cache_dir()) / "kernels"
    cache.mkdir(parents=True, exist_ok=True)
    # One lab run at a time downloads/unpacks into the shared cache.
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch_locked(spec, cache)


def _fetch_locked(spec: str | None, cache: Path) -> KernelTree:
    if spec and (spec.endswith(".deb") or os.path.sep in spec):
        deb = Path(spec)
        if not deb.is_file():
            raise UsageError(f"--kernel-deb {spec}: no such file")
    else:
        package = resolve_package(spec or DEFAULT_KERNEL_META)
        found = sorted(cache.glob(f"{package}_*.deb"))
        if not found:
            _run(["apt-get", "download", package], f"download {package}", cwd=cache)
            found = sorted(cache.glob(f"{package}_*.deb"))
            if not found:
                raise InputError(f"apt-get download {package} produced no .deb in {cache}")
        deb = found[-1]
    fields = _deb_fields(deb)
    package = fields.get("Package", deb.stem)
    version = fields.get("Version", "")
    root = cache / deb.name.removesuffix(".deb")
    if not (root / ".unpacked").exists():
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"unpack {deb.name}")
        (root / ".unpacked").write_text(f"{package} {version}\n")
    return _tree_from(root, package, version)


def modules_order_text(mods: Mapping[str, Path]) -> str:
    """Newline-separated module names (informational; kept for reports)."""
    return "".join(f"{name}\n" for name in mods)
