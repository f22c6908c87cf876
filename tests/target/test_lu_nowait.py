"""`LogicalUnit.execute_nowait` against `execute`: same answers, same medium, same log.

Two units over identical backends run the same random command sequence; one
offers every command to `execute_nowait` first (falling back to `execute` when
it answers None), the other only uses `execute`. The non-blocking read of the
first unit's backend randomly reports "would block", so both the inline read
and the fallback are exercised after every kind of check (unit attention,
reservation conflict, not ready, reserved bits, range and transfer length).
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from sgguard.target.api import Nexus, Response, Status
from sgguard.target.backend import FileBackend, MemoryBackend
from sgguard.target.identity import Identity, Limits
from sgguard.target.lu import LogicalUnit

BS = 512
BLOCKS = 256
MAX_XFER = 64

NEXUS = Nexus("iqn.2026-01.test:a,i,0x1", "iqn.2026-01.test:tgt,t,0x1", 0, "iqn.2026-01.test:a")
OTHER = Nexus("iqn.2026-01.test:b,i,0x2", "iqn.2026-01.test:tgt,t,0x1", 0, "iqn.2026-01.test:b")


class FlakyNowait:
    """A backend whose non-blocking read randomly says it would block (and counts)."""

    def __init__(self, base: Any, rng: random.Random, blocking: bool = True) -> None:
        self._base = base
        self._rng = rng
        self._blocking = blocking
        self.hits = 0
        self.misses = 0

    @property
    def blocking(self) -> bool:
        return self._blocking

    def try_read_nowait(self, lba: int, blocks: int) -> bytes | None:
        if self._rng.random() < 0.4:
            self.misses += 1
            return None
        got: bytes | None = self._base.try_read_nowait(lba, blocks)
        if got is None:
            self.misses += 1
        else:
            self.hits += 1
        return got

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def _unit(backend: Any) -> LogicalUnit:
    return LogicalUnit(
        backend,
        Identity.for_slice("iqn.2026-01.test:tgt", "part1"),
        limits=Limits.for_block_size(BS),
    )


def _read_cdb(rng: random.Random) -> bytes:
    lba = rng.choice((0, rng.randrange(BLOCKS), BLOCKS - 1, BLOCKS, BLOCKS + 7))
    blocks = rng.choice((0, 1, 8, rng.randrange(1, 40), MAX_XFER + 1))
    flags = rng.choice((0, 0, 0, 0x08, 0x20))  # FUA (allowed) or RDPROTECT (refused)
    kind = rng.randrange(6)
    if kind == 0:
        return bytes((0x08, (lba >> 16) & 0x1F, (lba >> 8) & 0xFF, lba & 0xFF, blocks & 0xFF, 0))
    if kind == 1:
        return struct.pack(">BBIBHB", 0x28, flags, lba, 0, blocks, 0)
    if kind == 2:
        return struct.pack(">BBIIBB", 0xA8, flags, lba, blocks, 0, 0)
    if kind == 3:
        return struct.pack(">BBQIBB", 0x88, flags, lba, blocks, 0, 0)
    if kind == 4:
        cdb = bytearray(32)
        cdb[0], cdb[7], cdb[8:10] = 0x7F, 0x18, (0x0009).to_bytes(2, "big")
        cdb[10] = flags
        struct.pack_into(">Q", cdb, 12, lba)
        struct.pack_into(">I", cdb, 28, blocks)
        return bytes(cdb)
    # malformed: reserved bits set, a short CDB, or a READ (32) with a bad ADDITIONAL CDB LENGTH
    cdb = bytearray(struct.pack(">BBIBHB", 0x28, 0, lba % BLOCKS, 0, 1, 0))
    which = rng.randrange(3)
    if which == 0:
        cdb[6] |= 0x20  # reserved bits of byte 6 (GROUP NUMBER is 4:0)
        return bytes(cdb)
    if which == 1:
        return bytes(cdb[: rng.randrange(1, 10)])
    bad = bytearray(32)
    bad[0], bad[7], bad[8:10] = 0x7F, 0x10, (0x0009).to_bytes(2, "big")
    return bytes(bad)


def _command(rng: random.Random) -> tuple[bytes, bytes, Nexus]:
    nexus = NEXUS if rng.random() < 0.8 else OTHER
    r = rng.random()
    if r < 0.55:
        return _read_cdb(rng), b"", nexus
    if r < 0.75:
        lba = rng.randrange(BLOCKS - 4)
        blocks = rng.randrange(1, 5)
        data = rng.randbytes(blocks * BS)
        op = rng.choice((0x2A, 0x8A))
        if op == 0x2A:
            cdb = struct.pack(">BBIBHB", 0x2A, 0, lba, 0, blocks, 0)
        else:
            cdb = struct.pack(">BBQIBB", 0x8A, 0, lba, blocks, 0, 0)
        return cdb, data, nexus
    others = (
        bytes(6),  # TEST UNIT READY
        bytes((0x1B, 0, 0, 0, 0, 0)),  # START STOP UNIT: stop (NOT READY after)
        bytes((0x1B, 0, 0, 0, 1, 0)),  # START STOP UNIT: start
        bytes((0x16, 0, 0, 0, 0, 0)),  # RESERVE (6): conflicts for the other nexus
        bytes((0x17, 0, 0, 0, 0, 0)),  # RELEASE (6)
        bytes((0x12, 0, 0, 0, 96, 0)),  # INQUIRY
        bytes((0x25,)) + bytes(9),  # READ CAPACITY (10)
        bytes((0x35,)) + bytes(9),  # SYNCHRONIZE CACHE (10)
        bytes((0xC7,)) + bytes(9),  # vendor specific: refused and logged
        b"",  # no CDB
    )
    return rng.choice(others), b"", nexus


def _answer(resp: Response) -> tuple[Status, bytes, bytes, int]:
    return resp.status, bytes(resp.data_in), resp.sense, resp.data_length


def _medium(backend: Any) -> bytes:
    return bytes(backend.read(0, BLOCKS))


def _differential(a_base: Any, b_base: Any, seed: int, blocking: bool = True) -> FlakyNowait:
    rng = random.Random(seed)
    flaky = FlakyNowait(a_base, random.Random(seed + 1), blocking=blocking)
    a, b = _unit(flaky), _unit(b_base)
    inline = 0
    for step in range(400):
        cdb, data, nexus = _command(rng)
        got = a.execute_nowait(cdb, data, nexus)
        if got is None:
            got = a.execute(cdb, data, nexus)
        else:
            inline += 1
        want = b.execute(cdb, data, nexus)
        assert _answer(got) == _answer(want), f"step {step}: cdb {cdb.hex()} from {nexus}"
        assert list(a.refusals) == list(b.refusals), f"step {step}: cdb {cdb.hex()}"
        assert a.medium == b.medium
    assert _medium(a_base) == _medium(b_base)
    assert inline > 0
    return flaky


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_execute_nowait_memory_matches_execute(seed: int) -> None:
    """Memory backend presented as blocking: only READs run, others answer None."""
    initial = random.Random(seed).randbytes(BLOCKS * BS)
    a = MemoryBackend(BLOCKS, BS, data=initial)
    b = MemoryBackend(BLOCKS, BS, data=initial)
    flaky = _differential(a, b, seed)
    assert flaky.hits > 0 and flaky.misses > 0


@pytest.mark.parametrize("seed", [5, 6])
def test_execute_nowait_nonblocking_memory_matches_execute(seed: int) -> None:
    """A backend that never blocks: execute_nowait runs every command."""
    initial = random.Random(seed).randbytes(BLOCKS * BS)
    a = MemoryBackend(BLOCKS, BS, data=initial)
    b = MemoryBackend(BLOCKS, BS, data=initial)
    lu = _unit(a)
    for cdb in (bytes(6), struct.pack(">BBIBHB", 0x2A, 0, 0, 0, 1, 0)):
        assert lu.execute_nowait(cdb, bytes(BS), NEXUS) is not None
    _differential(MemoryBackend(BLOCKS, BS, data=initial), b, seed, blocking=False)


@pytest.mark.parametrize("seed", [7, 8])
def test_execute_nowait_file_matches_execute(seed: int, tmp_path: Path) -> None:
    """File backend: the real RWF_NOWAIT read is the read (or None), results identical."""
    initial = random.Random(seed).randbytes(BLOCKS * BS)
    paths = []
    for name in ("a.img", "b.img"):
        p = tmp_path / name
        p.write_bytes(initial)
        paths.append(p)
    a, b = FileBackend(paths[0], block_size=BS), FileBackend(paths[1], block_size=BS)
    try:
        flaky = _differential(a, b, seed)
    finally:
        a.close()
        b.close()
    assert flaky.misses > 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert os.path.getsize(paths[0]) == BLOCKS * BS


def test_execute_nowait_write_on_blocking_backend_does_nothing() -> None:
    """None for a write on a blocking backend: no data written, the unit attention kept."""
    flaky = FlakyNowait(MemoryBackend(BLOCKS, BS), random.Random(0))
    lu = _unit(flaky)
    write = struct.pack(">BBIBHB", 0x2A, 0, 3, 0, 1, 0)
    assert lu.execute_nowait(write, b"\xff" * BS, NEXUS) is None
    assert flaky.read(3, 1) == bytes(BS)
    ua = lu.execute(bytes(6), b"", NEXUS)
    assert ua.status is Status.CHECK_CONDITION and ua.sense[12] == 0x29  # POWER ON still there
