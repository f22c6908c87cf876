"""A read-only view of a host's files under a root, which records what it read.

Owns path resolution inside a root (symlinks are followed but never leave the
root: absolute link targets are re-rooted, so a captured sysfs with its relative
links replays like the live one) and the record of every file read, directory
listed and symlink followed, which `sgguard audit capture` writes out as the
capture: the capture holds exactly what the audit read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Record", "RootedFS"]

MAX_READ = 1 << 20
MAX_LINKS = 40


@dataclass(slots=True)
class Record:
    """What was read: file contents, directory names and link texts, by virtual path."""

    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)


class RootedFS:
    """Files of a host under `root` ("/" for the live host)."""

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root)
        self.live = self.root.resolve() == Path("/")
        self.record = Record()

    def real(self, vpath: str, *, follow_last: bool = True, remember: bool = True) -> Path:
        """The real path of `vpath` with every symlink resolved inside the root."""
        return self.root / self._resolve(vpath, follow_last, remember).lstrip("/")

    def _resolve(self, vpath: str, follow_last: bool, remember: bool) -> str:
        pending = [c for c in vpath.split("/") if c]
        done: list[str] = []
        hops = 0
        while pending:
            comp = pending.pop(0)
            if comp == ".":
                continue
            if comp == "..":
                if done:
                    done.pop()
                continue
            cand = "/" + "/".join([*done, comp])
            real = self.root / cand.lstrip("/")
            if (pending or follow_last) and os.path.islink(real):
                hops += 1
                if hops > MAX_LINKS:
                    raise OSError(f"{cand}: too many levels of symbolic links")
                target = os.readlink(real)
                if remember:
                    self.record.links[cand] = target
                if target.startswith("/"):
                    done = []
                pending = [c for c in target.split("/") if c] + pending
                continue
            done.append(comp)
        return "/" + "/".join(done)

    def canonical(self, vpath: str) -> str:
        """The virtual path after resolving symlinks (e.g. a sysfs device directory)."""
        return self._resolve(vpath, True, True)

    def read_bytes(
        self, vpath: str, *, remember: bool = True, record_as: str | None = None
    ) -> bytes:
        canon = self._resolve(vpath, True, remember and record_as is None)
        real = self.root / canon.lstrip("/")
        with open(real, "rb") as f:
            data = f.read(MAX_READ + 1)
        if len(data) > MAX_READ:
            raise OSError(f"{vpath}: larger than {MAX_READ} bytes")
        if remember:
            self.record.files[record_as or canon] = data
        return data

    def read_text(self, vpath: str, *, remember: bool = True, record_as: str | None = None) -> str:
        data = self.read_bytes(vpath, remember=remember, record_as=record_as)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{vpath}: not UTF-8 at byte {exc.start}") from None

    def remember_file(self, vpath: str, data: bytes) -> None:
        self.record.files[self._resolve(vpath, True, True)] = data

    def listdir(self, vpath: str, *, remember: bool = True) -> list[str]:
        canon = self._resolve(vpath, True, remember)
        real = self.root / canon.lstrip("/")
        names = sorted(os.listdir(real))
        if remember:
            self.record.dirs.add(canon)
            for name in names:  # what a listing shows: link texts and subfolders
                entry = real / name
                if entry.is_symlink():
                    self.record.links[f"{canon.rstrip('/')}/{name}"] = os.readlink(entry)
                elif entry.is_dir():
                    self.record.dirs.add(f"{canon.rstrip('/')}/{name}")
        return names

    def exists(self, vpath: str) -> bool:
        try:
            return (self.root / self._resolve(vpath, True, False).lstrip("/")).exists()
        except OSError:
            return False

    def is_dir(self, vpath: str) -> bool:
        try:
            return (self.root / self._resolve(vpath, True, False).lstrip("/")).is_dir()
        except OSError:
            return False

    def lstat(self, vpath: str) -> os.stat_result:
        return os.lstat(self.real(vpath, follow_last=False, remember=False))

    def readlink(self, vpath: str) -> str:
        return os.readlink(self.real(vpath, follow_last=False, remember=False))

    def getxattr(self, vpath: str, name: str) -> bytes | None:
        """An extended attribute of a file (not following a final symlink); None if unset."""
        try:
            return os.getxattr(
                self.real(vpath, follow_last=False, remember=False), name, follow_symlinks=False
            )
        except OSError as exc:
            if exc.errno in {61, 95}:  # ENODATA, EOPNOTSUPP
                return None
            raise
