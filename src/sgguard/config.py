"""The configuration of `sgguard serve`: backing devices, slices, targets, LUNs, policies.

Owns the TOML schema (read with tomllib), its validation into typed frozen
dataclasses with errors that name the key path (`target[2].lun[0].slice: ...`),
the embedded default configuration (one sparse 1 GiB image with a GPT of two
partitions in the data folder, each partition LUN 0 of its own target), and
`build_portal_group`, the I/O shell that opens the backing files, resolves each
slice from the image's own partition table or LVM2 metadata
(`sgguard.topology`), and builds one `sgguard.target.lu.LogicalUnit` per LUN.

Schema (every table and key optional unless marked):

    [server]
    portals = ["127.0.0.1:3260"]      # listen addresses (host:port)
    data_dir = "/var/lib/sgguard"      # APTPL reservation state (and the default image)
    max_connections = 64
    queue_depth = 64                   # CmdSN window per session
    login_timeout = 15                 # seconds
    nop_interval = 30                  # idle seconds before a NOP-In ping
    nop_timeout = 15
    workers = 8                        # threads running logical unit I/O
    inline_writes = true               # small non-FUA writes on the event loop while fast
    metrics = "127.0.0.1:9100"         # Prometheus endpoint

    [discovery]                        # who may run SendTargets discovery
    allowed_initiators = ["iqn..."]
    chap = { user = "u", secret = "at-least-12-bytes" }

    [[backing]]
    name = "disk0"                     # required
    path = "disk0.img"                 # a file or block device (relative to the config file)
    memory = "64MiB"                   # or: a memory disk (tests); exactly one of path/memory
    read_only = false
    block_size = 512

    [[slice]]
    name = "part1"                     # required
    backing = "disk0"                  # required
    select = "1"                       # N, pN, name=NAME, guid=GUID, lv=VG/LV, range=START:SIZE, all

    [[target]]
    name = "iqn.2026-11.io.sgguard:disk0.part1"   # required
    alias = "..."
    portal_group_tag = 1
    allowed_initiators = ["iqn..."]    # absent: every initiator
    chap = { user = "u", secret = "..." }
    mutual_chap = { user = "target", secret = "..." }
      [[target.lun]]
      lun = 0                          # required
      slice = "part1"                  # required
      read_only = false
      removable = false
      policy = { deny = ["0x35"], allow_effects = ["ERASES"], default = "allow" }
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgguard.errors import InputError

__all__ = [
    "BackingConfig",
    "Config",
    "LunConfig",
    "ServerConfig",
    "SliceConfig",
    "TargetConfig",
    "build_portal_group",
    "default_config",
    "default_data_dir",
    "ensure_default_image",
    "load_config",
    "parse_config",
    "parse_size_text",
]

DEFAULT_PORTAL = "127.0.0.1:3260"
DEFAULT_IMAGE_SIZE = 1 << 30
DEFAULT_TARGET_PREFIX = "iqn.2026-11.io.sgguard:disk0"
_IQN = re.compile(
    r"(iqn\.\d{4}-\d{2}\.[a-z0-9.\-]+(:.+)?|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})\Z"
)
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}\Z")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChapConfig:
    user: str
    secret: str


@dataclass(frozen=True, slots=True)
class ServerConfig:
    portals: tuple[str, ...] = (DEFAULT_PORTAL,)
    data_dir: str | None = None
    max_connections: int = 64
    queue_depth: int = 64
    login_timeout: float = 15.0
    nop_interval: float = 30.0
    nop_timeout: float = 15.0
    workers: int = 8
    metrics: str | None = None
    inline_writes: bool = True


@dataclass(frozen=True, slots=True)
class BackingConfig:
    name: str
    path: str | None = None
    memory_bytes: int | None = None
    read_only: bool = False
    block_size: int = 512


@dataclass(frozen=True, slots=True)
class SliceConfig:
    name: str
    backing: str
    select: str = "all"


@dataclass(frozen=True, slots=True)
class LunConfig:
    lun: int
    slice: str
    read_only: bool = False
    removable: bool = False
    policy: Mapping[str, Any] = field(default_factory=dict)
    where: str = ""


@dataclass(frozen=True, slots=True)
class TargetConfig:
    name: str
    luns: tuple[LunConfig, ...]
    alias: str = ""
    portal_group_tag: int = 1
    allowed_initiators: frozenset[str] | None = None
    chap: ChapConfig | None = None
    mutual_chap: ChapConfig | None = None


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig
    backings: tuple[BackingConfig, ...]
    slices: tuple[SliceConfig, ...]
    targets: tuple[TargetConfig, ...]
    discovery_initiators: frozenset[str] | None = None
    discovery_chap: ChapConfig | None = None
    source: str = "<config>"


# --- parsing ---------------------------------------------------------------------------------


def parse_size_text(value: object, where: str) -> int:
    """`1073741824`, `"64MiB"`, `"1G"` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).lower() not in _UNITS:
            raise InputError(f"{value!r} is not a size (like 1073741824, 64MiB, 1G)", where=where)
        n = int(m.group(1)) * _UNITS[m.group(2).lower()]
    else:
        raise InputError(f"{value!r} is not a size", where=where)
    if n <= 0:
        raise InputError("size must be positive", where=where)
    return n


class _Table:
    """A TOML table being read: typed getters that name the key path in errors."""

    def __init__(self, data: object, where: str, known: set[str]) -> None:
        if not isinstance(data, dict):
            raise InputError("must be a table", where=where)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(
                f"unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})", where=where
            )
        self.data: dict[str, Any] = data
        self.where = where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def str_(self, key: str, default: str | None = None, *, required: bool = False) -> str:
        if key not in self.data:
            if required or default is None:
                raise InputError("missing (required)", where=self.path(key))
            return default
        v = self.data[key]
        if not isinstance(v, str) or not v:
            raise InputError(f"must be a non-empty string, not {v!r}", where=self.path(key))
        return v

    def opt_str(self, key: str) -> str | None:
        return self.str_(key) if key in self.data else None

    def int_(self, key: str, default: int, lo: int, hi: int) -> int:
        v = self.data.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise InputError(f"must be an integer in {lo}..{hi}, not {v!r}", where=self.path(key))
        return v

    def num(self, key: str, default: float, lo: float, hi: float) -> float:
        v = self.data.get(key, default)
        if not isinstance(v, int | float) or isinstance(v, bool) or not lo <= v <= hi:
            raise InputError(f"must be a number in {lo}..{hi}, not {v!r}", where=self.path(key))
        return float(v)

    def bool_(self, key: str, default: bool = False) -> bool:
        v = self.data.get(key, default)
        if not isinstance(v, bool):
            raise InputError(f"must be true or false, not {v!r}", where=self.path(key))
        return v

    def list_(self, key: str) -> list[Any]:
        v = self.data.get(key, [])
        if not isinstance(v, list):
            raise InputError("must be an array", where=self.path(key))
        return v

    def names(self, key: str) -> frozenset[str] | None:
        if key not in self.data:
            return None
        out = set()
        for i, v in enumerate(self.list_(key)):
            if not isinstance(v, str) or not _IQN.match(v):
                raise InputError(
                    f"{v!r} is not an iSCSI name (iqn./eui./naa.)", where=f"{self.path(key)}[{i}]"
                )
            out.add(v)
        return frozenset(out)

    def chap(self, key: str) -> ChapConfig | None:
        if key not in self.data:
            return None
        t = _Table(self.data[key], self.path(key), {"user", "secret"})
        user = t.str_("user", required=True)
        secret = t.str_("secret", required=True)
        if len(secret.encode()) < 12:
            # RFC 7143 12.1.3: CHAP secrets of at least 96 bits
            raise InputError(
                "CHAP secrets must be at least 12 bytes (RFC 7143 12.1.3)", where=t.path("secret")
            )
        return ChapConfig(user, secret)


def _portal(text: str, where: str) -> str:
    from sgguard.iscsi.server import parse_address

    try:
        host, port = parse_address(text)
    except ValueError as exc:
        raise InputError(str(exc), where=where) from None
    return f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"


def parse_config(
    data: Mapping[str, Any], *, base_dir: str = ".", source: str = "<config>"
) -> Config:
    """Validate a parsed TOML document into a `Config` (pure: no files opened)."""
    top = _Table(dict(data), "", {"server", "discovery", "backing", "slice", "target"})
    st = _Table(top.data.get("server", {}), "server", {
        "portals", "data_dir", "max_connections", "queue_depth", "login_timeout",
        "nop_interval", "nop_timeout", "workers", "metrics", "inline_writes",
    })  # fmt: skip
    portals = tuple(
        _portal(p if isinstance(p, str) else repr(p), f"server.portals[{i}]")
        for i, p in enumerate(st.list_("portals") or [DEFAULT_PORTAL])
    )
    data_dir = st.opt_str("data_dir")
    if data_dir is not None:
        data_dir = os.path.join(base_dir, os.path.expanduser(data_dir))
    server = ServerConfig(
        portals=portals,
        data_dir=data_dir,
        max_connections=st.int_("max_connections", 64, 1, 100000),
        queue_depth=st.int_("queue_depth", 64, 1, 4096),
        login_timeout=st.num("login_timeout", 15.0, 0.1, 3600),
        nop_interval=st.num("nop_interval", 30.0, 0.1, 86400),
        nop_timeout=st.num("nop_timeout", 15.0, 0.1, 3600),
        workers=st.int_("workers", 8, 1, 1024),
        metrics=st.opt_str("metrics"),
        inline_writes=st.bool_("inline_writes", True),
    )
    disc = _Table(top.data.get("discovery", {}), "discovery", {"allowed_initiators", "chap"})
    backings: list[BackingConfig] = []
    for i, raw in enumerate(top.list_("backing")):
        t = _Table(raw, f"backing[{i}]", {"name", "path", "memory", "read_only", "block_size"})
        name = t.str_("name", required=True)
        if not _NAME.match(name):
            raise InputError(f"{name!r}: letters, digits, . _ - only", where=t.path("name"))
        if t.has("path") == t.has("memory"):
            raise InputError("needs exactly one of path or memory", where=t.where)
        path = t.opt_str("path")
        if path is not None:
            path = os.path.join(base_dir, os.path.expanduser(path))
        block_size = t.int_("block_size", 512, 512, 65536)
        if block_size & (block_size - 1):
            raise InputError(f"{block_size} is not a power of two", where=t.path("block_size"))
        memory = parse_size_text(t.data["memory"], t.path("memory")) if t.has("memory") else None
        backings.append(BackingConfig(name, path, memory, t.bool_("read_only"), block_size))
    _unique([b.name for b in backings], "backing", "name")
    backing_names = {b.name for b in backings}
    slices: list[SliceConfig] = []
    for i, raw in enumerate(top.list_("slice")):
        t = _Table(raw, f"slice[{i}]", {"name", "backing", "select"})
        name = t.str_("name", required=True)
        backing = t.str_("backing", required=True)
        if backing not in backing_names:
            raise InputError(f"no backing named {backing!r}", where=t.path("backing"))
        slices.append(SliceConfig(name, backing, t.str_("select", "all")))
    _unique([s.name for s in slices], "slice", "name")
    slice_names = {s.name for s in slices}
    targets: list[TargetConfig] = []
    for i, raw in enumerate(top.list_("target")):
        t = _Table(raw, f"target[{i}]", {
            "name", "alias", "portal_group_tag", "allowed_initiators", "chap", "mutual_chap", "lun",
        })  # fmt: skip
        name = t.str_("name", required=True)
        if not _IQN.match(name):
            raise InputError(
                f"{name!r} is not an iSCSI name (iqn.YYYY-MM.domain:...)", where=t.path("name")
            )
        luns: list[LunConfig] = []
        for j, lraw in enumerate(t.list_("lun")):
            lt = _Table(
                lraw, f"{t.where}.lun[{j}]", {"lun", "slice", "read_only", "removable", "policy"}
            )
            lun = lt.int_("lun", -1, 0, 16383) if lt.has("lun") else None
            if lun is None:
                raise InputError("missing (required)", where=lt.path("lun"))
            sname = lt.str_("slice", required=True)
            if sname not in slice_names:
                raise InputError(f"no slice named {sname!r}", where=lt.path("slice"))
            policy = lt.data.get("policy", {})
            if not isinstance(policy, dict):
                raise InputError("must be a table", where=lt.path("policy"))
            from sgguard.policy import Policy

            Policy.from_mapping(
                policy, where=lt.path("policy")
            )  # validate now: errors name the key
            luns.append(
                LunConfig(
                    lun, sname, lt.bool_("read_only"), lt.bool_("removable"), policy, lt.where
                )
            )
        if not luns:
            raise InputError("a target needs at least one [[target.lun]]", where=t.where)
        _unique([str(n.lun) for n in luns], f"{t.where}.lun", "lun")
        mutual = t.chap("mutual_chap")
        chap = t.chap("chap")
        if mutual is not None and chap is None:
            raise InputError("mutual_chap needs chap", where=t.path("mutual_chap"))
        targets.append(
            TargetConfig(
                name=name,
                luns=tuple(luns),
                alias=t.str_("alias") if t.has("alias") else "",
                portal_group_tag=t.int_("portal_group_tag", 1, 1, 65535),
                allowed_initiators=t.names("allowed_initiators"),
                chap=chap,
                mutual_chap=mutual,
            )
        )
    if not targets:
        raise InputError("no [[target]] defined", where=source)
    _unique([t.name for t in targets], "target", "name")
    return Config(
        server=server,
        backings=tuple(backings),
        slices=tuple(slices),
        targets=tuple(targets),
        discovery_initiators=disc.names("allowed_initiators"),
        discovery_chap=disc.chap("chap"),
        source=source,
    )


def _unique(names: list[str], where: str, key: str) -> None:
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            raise InputError(f"duplicate {key} {n!r}", where=f"{where}[{i}].{key}")
        seen.add(n)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a TOML configuration file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(p)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML: {exc}", where=str(p)) from None
    return parse_config(data, base_dir=str(p.parent), source=str(p))


# --- the embedded default -----------------------------------------------------------------------


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/sgguard`, else `~/.local/share/sgguard`."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "sgguard"


def ensure_default_image(data_dir: Path) -> tuple[Path, bool]:
    """Create (once) `disk0.img`: sparse, 1 GiB, GPT with partitions part1 and part2."""
    from sgguard.topology import GptPartitionSpec, build_gpt_image

    image = data_dir / "disk0.img"
    if image.exists():
        return image, False
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the data folder: {exc.strerror}", where=str(data_dir)
        ) from None
    half = (DEFAULT_IMAGE_SIZE // 2) - (1 << 20)
    tmp = data_dir / "disk0.img.tmp"
    build_gpt_image(
        tmp,
        DEFAULT_IMAGE_SIZE,
        [GptPartitionSpec(half, name="part1"), GptPartitionSpec(None, name="part2")],
        overwrite=True,
    )
    os.replace(tmp, image)
    return image, True


def default_config(data_dir: Path, portal: str = DEFAULT_PORTAL) -> Config:
    """The embedded default: each partition of disk0.img as LUN 0 of its own target."""
    image = data_dir / "disk0.img"
    return Config(
        server=ServerConfig(portals=(portal,), data_dir=str(data_dir)),
        backings=(BackingConfig("disk0", str(image)),),
        slices=(SliceConfig("part1", "disk0", "1"), SliceConfig("part2", "disk0", "2")),
        targets=tuple(
            TargetConfig(
                f"{DEFAULT_TARGET_PREFIX}.part{n}",
                (LunConfig(0, f"part{n}"),),
                alias=f"disk0 partition {n}",
            )
            for n in (1, 2)
        ),
        source="<embedded default>",
    )


# --- building (the I/O shell) ------------------------------------------------------------------------


@dataclass
class Built:
    """What `build_portal_group` opened: the group, and the backends to close."""

    group: Any
    backends: list[Any]
    descriptions: dict[str, str]

    def close(self) -> None:
        for b in self.backends:
            with contextlib.suppress(Exception):
                b.close()


def build_portal_group(
    config: Config,
    *,
    refusal_log: Callable[[Any], None] | None = None,
    data_dir: str | None = None,
) -> Built:
    """Open every backing, resolve slices, build logical units and the portal group."""
    from sgguard.iscsi.chap import ChapCredentials
    from sgguard.iscsi.connection import PortalGroup
    from sgguard.iscsi.target import Target
    from sgguard.policy import Policy
    from sgguard.target.backend import BackendError, FileBackend, MemoryBackend, SliceBackend
    from sgguard.target.copymanager import CopyManager
    from sgguard.target.identity import Identity
    from sgguard.target.lu import LogicalUnit
    from sgguard.target.reservations import AptplFile, Reservations
    from sgguard.topology import read_layout, resolve_slice

    data_dir = data_dir or config.server.data_dir
    backends: dict[str, Any] = {}
    opened: list[Any] = []
    descriptions: dict[str, str] = {}
    try:
        for i, b in enumerate(config.backings):
            where = f"backing[{i}]"
            if b.memory_bytes is not None:
                if b.memory_bytes % b.block_size:
                    raise InputError(
                        "memory size is not a multiple of block_size", where=f"{where}.memory"
                    )
                be: Any = MemoryBackend(
                    b.memory_bytes // b.block_size, b.block_size, read_only=b.read_only
                )
            else:
                assert b.path is not None
                try:
                    be = FileBackend(b.path, block_size=b.block_size, read_only=b.read_only)
                except (OSError, BackendError) as exc:
                    raise InputError(f"{exc}", where=f"{where}.path") from None
                except ValueError as exc:
                    raise InputError(f"{b.path}: {exc}", where=f"{where}.path") from None
            backends[b.name] = be
            opened.append(be)
        slices: dict[str, Any] = {}
        for i, s in enumerate(config.slices):
            where = f"slice[{i}]"
            base = backends[s.backing]
            size = base.block_size * base.num_blocks
            if s.select == "all":
                start, length, desc = 0, size, "whole device"
            else:
                bcfg = next(b for b in config.backings if b.name == s.backing)
                if bcfg.path is None:
                    m = re.fullmatch(r"range=(\S+):(\S+)", s.select)
                    if not m:
                        raise InputError(
                            "a memory backing supports select = all or range=START:SIZE",
                            where=f"{where}.select",
                        )
                    start = (
                        0 if m.group(1) == "0" else parse_size_text(m.group(1), f"{where}.select")
                    )
                    length = parse_size_text(m.group(2), f"{where}.select")
                    desc = s.select
                else:
                    try:
                        layout = read_layout(bcfg.path)
                        sl = resolve_slice(layout, s.select, alignment=base.block_size)
                    except InputError as exc:
                        raise InputError(str(exc), where=f"{where}.select") from None
                    start, length, desc = sl.start_byte, sl.size_bytes, sl.description
            if (
                start % base.block_size
                or length % base.block_size
                or start + length > size
                or length <= 0
            ):
                raise InputError(
                    f"slice {start}+{length} bytes is not whole blocks inside the {size}-byte backing",
                    where=f"{where}.select",
                )
            slices[s.name] = SliceBackend(base, start, length)
            descriptions[s.name] = f"{s.backing} {desc} (bytes {start}..{start + length})"
        targets: list[Any] = []
        lun_lists: dict[str, list[int]] = {}
        holder: list[Any] = []

        def copy_peers(nexus: Any) -> list[Any]:
            # EXTENDED COPY may move blocks only between units this initiator could
            # use itself: those of the target it is logged in to, and of targets whose
            # ACL admits its name and which ask for no CHAP secret it may not know.
            own = nexus.target.split(",t,")[0]
            return [
                unit
                for tgt in targets
                if tgt.name == own
                or (
                    tgt.chap is None
                    and (
                        tgt.allowed_initiators is None
                        or nexus.initiator_name in tgt.allowed_initiators
                    )
                )
                for unit in tgt.luns.values()
                if unit is not None
            ]

        copy_manager = CopyManager(copy_peers)
        for t in config.targets:
            luns: dict[int, Any] = {}
            lun_lists[t.name] = [n.lun for n in t.luns]
            for ln in t.luns:
                policy = Policy.from_mapping(ln.policy, where=f"{ln.where}.policy")
                aptpl = None
                if data_dir:
                    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", t.name)
                    os.makedirs(os.path.join(data_dir, "aptpl"), exist_ok=True)
                    aptpl = AptplFile(os.path.join(data_dir, "aptpl", f"{safe}-lun{ln.lun}.pr"))
                names: tuple[int, ...] = tuple(lun_lists[t.name])
                lun_number = ln.lun

                def on_abort(nexuses: tuple[Any, ...], lun: int = lun_number) -> None:
                    if holder:
                        holder[0].abort_nexus_tasks(((n[0], n[1]) for n in nexuses), lun)

                def report(_nexus: Any, names: tuple[int, ...] = names) -> tuple[int, ...]:
                    return names

                luns[ln.lun] = LogicalUnit(
                    slices[ln.slice],
                    Identity.for_slice(t.name, ln.slice, removable=ln.removable),
                    policy,
                    read_only=ln.read_only,
                    log=refusal_log,
                    report_luns=report,
                    reservations=Reservations(store=aptpl, on_abort=on_abort),
                    copy_manager=copy_manager,
                )
            targets.append(
                Target(
                    name=t.name,
                    luns=luns,
                    alias=t.alias,
                    portal_group_tag=t.portal_group_tag,
                    allowed_initiators=t.allowed_initiators,
                    chap=ChapCredentials(t.chap.user, t.chap.secret) if t.chap else None,
                    mutual_chap=(
                        ChapCredentials(t.mutual_chap.user, t.mutual_chap.secret)
                        if t.mutual_chap
                        else None
                    ),
                )
            )
        discovery = None
        if config.discovery_chap is not None or config.discovery_initiators is not None:
            dc = config.discovery_chap
            discovery = Target(
                name="discovery",
                luns={},
                allowed_initiators=config.discovery_initiators,
                chap=ChapCredentials(dc.user, dc.secret) if dc else None,
            )
        server = config.server
        group = PortalGroup(
            targets,
            portals=server.portals,
            queue_depth=server.queue_depth,
            discovery_chap=discovery,
            login_timeout=server.login_timeout,
            nop_interval=server.nop_interval,
            nop_timeout=server.nop_timeout,
        )
        holder.append(group)
    except BaseException:
        for be in opened:
            with contextlib.suppress(Exception):
                be.close()
        raise
    return Built(group, opened, descriptions)
