"""The server's inline policy: which commands run on the event loop, and how."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from sgguard.iscsi.server import _InlinePolicy
from sgguard.target.api import Nexus, Response
from sgguard.target.backend import FileBackend, MemoryBackend
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit

NEXUS = Nexus("iqn.2026-01.test:a,i,0x1", "iqn.2026-01.test:tgt,t,0x1", 0, "iqn.2026-01.test:a")


def _read10(lba: int, blocks: int) -> bytes:
    return struct.pack(">BBIBHB", 0x28, 0, lba, 0, blocks, 0)


def _write10(lba: int, blocks: int, flags: int = 0) -> bytes:
    return struct.pack(">BBIBHB", 0x2A, flags, lba, 0, blocks, 0)


class _NoNowait:
    """A unit without `execute_nowait` (the attribute is optional for transports)."""

    def __init__(self, lu: LogicalUnit, backend: Any) -> None:
        self._lu = lu
        self.backend = backend

    def execute(self, cdb: bytes, data_out: bytes | memoryview, nexus: Nexus) -> Response:
        return self._lu.execute(cdb, data_out, nexus)


class _Cold:
    """A file backend whose blocks are never in the page cache."""

    def __init__(self, base: FileBackend) -> None:
        self._base = base

    def try_read_nowait(self, lba: int, blocks: int) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def test_inline_reads_go_to_execute_nowait_once(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(range(256)) * 2 * 2048)  # 2048 blocks of 512
    backend = FileBackend(path, block_size=512)
    try:
        lu = LogicalUnit(backend, Identity.for_slice("iqn.2026-01.test:tgt", "p"))
        policy = _InlinePolicy()
        run = policy.inline(lu, _read10(8, 8), 0, 0.0)
        assert run == lu.execute_nowait
        assert policy.inline(lu, _read10(8, 0), 0, 0.0) is None  # nothing to read
        assert policy.inline(lu, _read10(0, 513), 0, 0.0) is None  # beyond 256 KiB: a thread
        assert policy.inline(lu, _write10(0, 8), 4096, 0.0) == lu.execute  # small write
        assert policy.inline(lu, _write10(0, 8, 0x08), 4096, 0.0) is None  # FUA
        lu.execute(bytes(6), b"", NEXUS)  # clear POWER ON
        got = run(_read10(8, 8), b"", NEXUS)
        assert got is not None and bytes(got.data_in) == backend.read(8, 8)
    finally:
        backend.close()


def test_inline_without_execute_nowait_probes_the_backend(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(512 * 64))
    backend = FileBackend(path, block_size=512)
    try:
        lu = LogicalUnit(backend, Identity.for_slice("iqn.2026-01.test:tgt", "p"))
        warm = _NoNowait(lu, backend)
        assert _InlinePolicy().inline(warm, _read10(0, 8), 0, 0.0) == warm.execute
        cold = _NoNowait(lu, _Cold(backend))
        assert _InlinePolicy().inline(cold, _read10(0, 8), 0, 0.0) is None
    finally:
        backend.close()


def test_inline_memory_backend_runs_everything() -> None:
    lu = LogicalUnit(MemoryBackend(64, 512), Identity.for_slice("iqn.2026-01.test:tgt", "m"))
    policy = _InlinePolicy()
    assert policy.inline(lu, bytes((0x35,)) + bytes(9), 0, 0.0) == lu.execute
    assert policy.inline(lu, _read10(0, 64), 0, 0.0) == lu.execute
