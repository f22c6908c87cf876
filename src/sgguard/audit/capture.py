"""Audit captures: a tar of exactly the files the audit read, plus a /dev manifest.

Owns the capture format. A capture is a POSIX tar whose members are the files,
directories and symlinks that `sgguard.audit.reader` read (paths relative to the
host's `/`), `dmsetup-table.txt` when device-mapper tables were read, and
`sgguard-capture.json`: {"format": "sgguard-capture", "version": 1, "release",
"nodes": [{"path", "kind" (block/char/symlink), "major", "minor", "mode" (octal
text), "uid", "gid", "acl": [{"tag", "id", "perm"}] or null, "target"}]}, because
device nodes themselves do not travel in a tar portably. Opening a capture
extracts it into a private temporary folder with tarfile's "data" filter (no
absolute paths, no links leaving the tree, no device files); a truncated or
corrupt tar keeps the members read so far and is reported as a skipped source.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import time
from pathlib import Path

from sgguard.audit.facts import DevNode, HostFacts, Skipped
from sgguard.audit.hostfs import Record
from sgguard.audit.reader import MANIFEST, MANIFEST_FORMAT

__all__ = ["manifest_json", "open_capture", "write_capture"]


def _node_json(n: DevNode) -> dict[str, object]:
    return {
        "path": n.path,
        "kind": n.kind,
        "major": n.dev[0] if n.dev else None,
        "minor": n.dev[1] if n.dev else None,
        "mode": f"{n.mode:04o}",
        "uid": n.uid,
        "gid": n.gid,
        "acl": None
        if n.acl is None
        else [{"tag": e.tag.name.lower(), "id": e.qualifier, "perm": e.perm} for e in n.acl],
        "target": n.target,
    }


def manifest_json(facts: HostFacts) -> str:
    obj = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "release": facts.kernel.release if facts.kernel else None,
        "nodes": [_node_json(n) for n in facts.nodes],
    }
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def write_capture(out: Path, facts: HostFacts, record: Record) -> int:
    """Write the capture tar; returns the number of members."""
    now = int(time.time())
    members = 0

    def add_dir(tf: tarfile.TarFile, name: str, done: set[str]) -> None:
        nonlocal members
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in done:
                done.add(d)
                ti = tarfile.TarInfo(d)
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                ti.mtime = now
                tf.addfile(ti)
                members += 1

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        done: set[str] = set()
        link_names = set(record.links)
        for d in sorted(record.dirs):
            add_dir(tf, d, done)
        for name, target in sorted(record.links.items()):
            parent = name.rsplit("/", 1)[0]
            add_dir(tf, parent, done)
            ti = tarfile.TarInfo(name.lstrip("/"))
            ti.type = tarfile.SYMTYPE
            ti.linkname = target
            ti.mtime = now
            tf.addfile(ti)
            members += 1
        for name, data in sorted(record.files.items()):
            if name in link_names:
                continue
            add_dir(tf, name.rsplit("/", 1)[0], done)
            ti = tarfile.TarInfo(name.lstrip("/"))
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = now
            tf.addfile(ti, io.BytesIO(data))
            members += 1
        blob = manifest_json(facts).encode()
        ti = tarfile.TarInfo(MANIFEST)
        ti.size = len(blob)
        ti.mode = 0o644
        ti.mtime = now
        tf.addfile(ti, io.BytesIO(blob))
        members += 1
    return members


def _ends_cleanly(tf: tarfile.TarFile) -> bool:
    """POSIX tar ends with two zero blocks; a cut-off capture does not (POSIX.1-2001 ustar)."""
    try:
        tf.fileobj.seek(tf.offset)
        tail = tf.fileobj.read(2 * tarfile.BLOCKSIZE)
    except (OSError, EOFError):
        return False
    return len(tail) == 2 * tarfile.BLOCKSIZE and not any(tail)


def open_capture(path: Path) -> tuple[tempfile.TemporaryDirectory[str], list[Skipped]]:
    """Extract a capture tar into a temporary folder; damage becomes skipped sources."""
    tmp = tempfile.TemporaryDirectory(prefix="sgguard-capture-")
    skipped: list[Skipped] = []
    count = 0
    try:
        with tarfile.open(path, "r:*") as tf:
            while True:
                try:
                    member = tf.next()
                except (tarfile.TarError, EOFError, OSError) as exc:
                    skipped.append(
                        Skipped(
                            f"capture {path}", f"damaged or truncated after {count} members: {exc}"
                        )
                    )
                    break
                if member is None:
                    if not _ends_cleanly(tf):
                        skipped.append(
                            Skipped(
                                f"capture {path}",
                                f"truncated: no end-of-archive marker after {count} members",
                            )
                        )
                    break
                try:
                    tf.extract(member, tmp.name, filter="data")
                    count += 1
                except (tarfile.TarError, EOFError, OSError) as exc:
                    skipped.append(
                        Skipped(
                            f"capture {path}",
                            f"member {member.name} unreadable ({exc}); truncated after {count} members",
                        )
                    )
                    break
    except (tarfile.TarError, EOFError, OSError) as exc:
        skipped.append(Skipped(f"capture {path}", f"not a readable tar: {exc}"))
    return tmp, skipped
