"""Confinement of the slice logical unit under random commands.

A slice sits in the middle of a memory image whose outside is filled with a
marker pattern. Random CDBs (every opcode and service action of the command
table, weighted to media commands with LBAs and lengths at the slice's edges,
and SANITIZE with parameter lists, which overwrites or erases the whole slice)
and random data-out run against it; the bytes outside the slice are hashed
before and after and must never change, and no response may carry the marker.
Hypothesis drives a shrinking property test; a seeded run of 1,000,000
commands is the slow CI test.
"""

from __future__ import annotations

import hashlib
import random
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgguard.policy import Policy
from sgguard.scsi import table
from sgguard.target.api import Nexus, Status
from sgguard.target.backend import Backend, LbaExtent, LbaState, MemoryBackend, SliceBackend
from sgguard.target.copymanager import CopyManager
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit

BS = 512
BASE_BLOCKS = 96
FIRST = 32
BLOCKS = 32
MARK = bytes((0xA5, 0x5A))
MARK_RUN = MARK * 3

NEXUSES = tuple(Nexus(f"iqn.fuzz:i{i},i,0x{i}", "iqn.fuzz:t,t,0x1", 0) for i in range(3))

# Media commands: opcode, service action (None), CDB length, layout kind.
MEDIA = (
    (0x08, None, "6"),  # READ (6)
    (0x0A, None, "6"),  # WRITE (6)
    (0x28, None, "10"),
    (0x2A, None, "10"),
    (0x2E, None, "10"),  # WRITE AND VERIFY (10)
    (0x2F, None, "10"),  # VERIFY (10)
    (0x34, None, "10"),  # PRE-FETCH (10)
    (0x35, None, "10"),  # SYNCHRONIZE CACHE (10)
    (0x41, None, "10"),  # WRITE SAME (10)
    (0xA8, None, "12"),
    (0xAA, None, "12"),
    (0xAE, None, "12"),
    (0xAF, None, "12"),
    (0x88, None, "16"),
    (0x8A, None, "16"),
    (0x8B, None, "16"),  # ORWRITE (16)
    (0x8E, None, "16"),
    (0x8F, None, "16"),
    (0x90, None, "16"),
    (0x91, None, "16"),
    (0x93, None, "16"),  # WRITE SAME (16)
    (0x89, None, "caw"),  # COMPARE AND WRITE
    (0x9E, 0x12, "gls"),  # GET LBA STATUS
    (0x42, None, "unmap"),
    (0x7F, 0x0009, "32"),
    (0x7F, 0x000A, "32"),
    (0x7F, 0x000B, "32"),
    (0x7F, 0x000C, "32"),
    (0x7F, 0x000D, "32"),
    (0x7F, 0x000E, "32"),
    (0x83, 0x00, "xcopy"),  # EXTENDED COPY within the slice, or to a slice nobody may use
    (0x48, None, "sanitize"),  # SANITIZE: OVERWRITE / BLOCK ERASE of the whole slice, ...
)
OWN_NAA = Identity.for_slice("iqn.fuzz:t", "slice").naa
FOREIGN_NAA = Identity.for_slice("iqn.fuzz:t", "outside").naa

EDGE_LBAS = (
    0,
    1,
    BLOCKS - 2,
    BLOCKS - 1,
    BLOCKS,
    BLOCKS + 1,
    FIRST,
    FIRST + BLOCKS,
    BASE_BLOCKS,
    2**21 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**63,
    2**64 - BLOCKS,
    2**64 - 1,
)
EDGE_LENGTHS = (0, 1, 2, 3, BLOCKS - 1, BLOCKS, BLOCKS + 1, 255, 256, 0xFFFF, 2**32 - 1)
ALL_ROWS = tuple(table.COMMANDS)
PI32 = Policy(allow_opcodes=frozenset({0x7F}))


class UncheckedWindow:
    """A window over the image that checks nothing: only the logical unit confines.

    (`SliceBackend` refuses out-of-slice access itself; fuzzing through this
    window instead proves the logical unit's own checks.) GET LBA STATUS reports
    one mapped extent running to the end of the whole image, so the unit's
    clipping is exercised too.
    """

    block_size = BS
    read_only = False
    blocking = False
    unmap_supported = True

    def __init__(self, base: MemoryBackend, first: int, blocks: int) -> None:
        self.view = memoryview(base.buffer)
        self.first = first
        self.num_blocks = blocks

    def _span(self, lba: int, blocks: int) -> slice:
        start = (self.first + lba) * BS
        return slice(start, start + blocks * BS)

    def read(self, lba: int, blocks: int) -> bytes:
        return bytes(self.view[self._span(lba, blocks)])

    def write(self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False) -> None:
        self.view[self._span(lba, len(data) // BS)] = data

    def write_same(
        self, lba: int, blocks: int, block: bytes | bytearray | memoryview, *, fua: bool = False
    ) -> None:
        self.view[self._span(lba, blocks)] = bytes(block) * blocks

    def punch(self, lba: int, blocks: int) -> None:
        self.view[self._span(lba, blocks)] = bytes(blocks * BS)

    def lba_status(self, lba: int, max_descriptors: int) -> list[LbaExtent]:
        return [LbaExtent(lba, BASE_BLOCKS - self.first - lba, LbaState.MAPPED)]

    def flush(self) -> None:
        pass


class Image:
    """The memory image, its slice and a logical unit on the slice."""

    PROBE: LogicalUnit  # a unit of the same geometry, for expected_data_out in strategies

    def __init__(self, *, checked: bool = False) -> None:
        self.base = MemoryBackend(BASE_BLOCKS, BS)
        buf = self.base.buffer
        buf[:] = MARK * (len(buf) // 2)
        lo, hi = FIRST * BS, (FIRST + BLOCKS) * BS
        buf[lo:hi] = bytes(hi - lo)
        self.lo, self.hi = lo, hi
        self.slice: Backend = (
            SliceBackend(self.base, lo, hi - lo)
            if checked
            else UncheckedWindow(self.base, FIRST, BLOCKS)  # type: ignore[assignment]
        )
        self.lu = self.restart()
        self.outside = self.outside_hash()

    def restart(self) -> LogicalUnit:
        """A new logical unit on the same slice (a target restart: fresh reservations)."""
        manager = CopyManager(lambda nexus: [self.lu])
        self.lu = LogicalUnit(
            self.slice,
            Identity.for_slice("iqn.fuzz:t", "slice"),
            PI32,  # the 32-byte media commands too (opt-in: type 2 protection only)
            copy_manager=manager,
            background=lambda fn: fn(),  # SANITIZE with IMMED=1 too runs before status
        )
        return self.lu

    def outside_hash(self) -> str:
        buf = self.base.buffer
        return hashlib.sha256(bytes(buf[: self.lo]) + bytes(buf[self.hi :])).hexdigest()


Image.PROBE = Image().lu


def _fields(kind: str, op: int, sa: int | None, flags: int, lba: int, n: int) -> bytes:
    if kind == "6":
        return bytes((op, (lba >> 16) & 0x1F, (lba >> 8) & 0xFF, lba & 0xFF, n & 0xFF, 0))
    if kind == "10":
        return struct.pack(">BBIBHB", op, flags, lba & 0xFFFFFFFF, 0, n & 0xFFFF, 0)
    if kind == "12":
        return struct.pack(">BBIIBB", op, flags, lba & 0xFFFFFFFF, n & 0xFFFFFFFF, 0, 0)
    if kind == "16":
        return struct.pack(">BBQIBB", op, flags, lba, n & 0xFFFFFFFF, 0, 0)
    if kind == "caw":
        return struct.pack(">BBQxxxBxx", op, flags, lba, n & 0xFF)
    if kind == "gls":
        return struct.pack(">BBQIBB", op, 0x12, lba, n & 0xFFFFFFFF, 0, 0)
    if kind == "unmap":
        return struct.pack(">BBxxxxxHB", op, flags & 1, n & 0xFFFF, 0)
    out = bytearray(32)
    out[0] = 0x7F
    out[7] = 0x18
    struct.pack_into(">H", out, 8, sa or 0)
    out[10] = flags
    struct.pack_into(">Q", out, 12, lba)
    struct.pack_into(">I", out, 28, n & 0xFFFFFFFF)
    return bytes(out)


def _unmap_param(rng: random.Random) -> bytes:
    count = rng.choice((0, 1, 2, 3, 5))
    body = b"".join(
        struct.pack(">QI4x", rng.choice(EDGE_LBAS), rng.choice(EDGE_LENGTHS)) for _ in range(count)
    )
    return struct.pack(">HH4x", 6 + len(body), len(body)) + body


def _cscd(naa: bytes) -> bytes:
    out = bytearray(32)
    out[0] = 0xE4
    out[4:8] = bytes((0x01, 0x03, 0x00, 16))
    out[8:24] = naa
    out[29:32] = BS.to_bytes(3, "big")
    return bytes(out)


def _xcopy_param(rng: random.Random) -> bytes:
    cscds = _cscd(OWN_NAA) + _cscd(rng.choice((OWN_NAA, OWN_NAA, FOREIGN_NAA)))
    segs = b"".join(
        struct.pack(
            ">BBHHHxxHQQ",
            rng.choice((0x02, 0x02, 0x02, 0x0A)),
            0,
            0x18,
            rng.choice((0, 1, 0, 1, 2)),
            rng.choice((0, 1, 0, 1, 2)),
            rng.choice((0, 1, 2, BLOCKS, BLOCKS + 1, 0xFFFF)),
            rng.choice(EDGE_LBAS),
            rng.choice(EDGE_LBAS),
        )
        for _ in range(rng.randrange(1, 4))
    )
    return struct.pack(">BBHxxxxII", rng.randrange(256), 0, len(cscds), len(segs), 0) + cscds + segs


def _sanitize(rng: random.Random) -> tuple[bytes, bytes]:
    """A SANITIZE: mostly well formed (OVERWRITE with a random pattern, BLOCK ERASE, ...)."""
    sa = rng.choice((0x01, 0x01, 0x02, 0x03, 0x1F, rng.getrandbits(5)))
    b1 = sa | (rng.choice((0, 0, 0x80, 0x20, 0x40, 0xE0)))
    param = b""
    if sa == 0x01 or rng.random() < 0.1:
        length = rng.choice((1, 2, 3, 4, BS // 2, BS, BS + 1, 0))
        head = rng.choice((1, 2, 3, 0x81, 0x82, 0, 0x21, rng.getrandbits(8)))
        pattern = bytes(rng.randrange(0, 0xA0) for _ in range(min(length, 8))) * (length // 8 + 1)
        param = bytes((head, 0)) + struct.pack(">H", length) + pattern[:length]
        if rng.random() < 0.1:
            param = param[: rng.randrange(0, len(param) + 1)]
    plen = len(param) if rng.random() < 0.9 else rng.choice((0, 4, 5, BS + 4, BS + 5, 0xFFFF))
    return struct.pack(">BBxxxxxHB", 0x48, b1, plen, 0), param


def random_command(rng: random.Random, lu: LogicalUnit) -> tuple[bytes, bytes]:
    """One random command: 75% media commands at the edges, 25% any table row with random bytes."""
    roll = rng.random()
    if roll < 0.75:
        op, sa, kind = rng.choice(MEDIA)
        r = rng.random()
        if r < 0.5:
            lba = rng.randrange(0, BLOCKS + 2)
        elif r < 0.9:
            lba = rng.choice(EDGE_LBAS)
        else:
            lba = rng.getrandbits(rng.choice((5, 8, 32, 64)))
        n = rng.randrange(0, 5) if rng.random() < 0.6 else rng.choice(EDGE_LENGTHS)
        flags = rng.choice((0, 0, 0, 0x08, 0x02, 0x06, 0x01, 0x10, 0x20, rng.getrandbits(8)))
        cdb = _fields(kind, op, sa, flags, lba, n)
        if kind == "unmap":
            param = _unmap_param(rng)
            cdb = cdb[:7] + struct.pack(">H", len(param)) + cdb[9:]
            return cdb, param
        if kind == "xcopy":
            param = _xcopy_param(rng)
            return struct.pack(">BBxxxxxxxxIxx", 0x83, 0, len(param)), param
        if kind == "sanitize":
            return _sanitize(rng)
        want = lu.expected_data_out(cdb)
        if want > 64 * BS:
            want = rng.choice((0, BS))
        elif rng.random() < 0.1:
            want = max(0, want + rng.choice((-BS, -1, 1, BS)))
        fill = rng.randrange(0, 0xA0)
        return cdb, bytes((fill,)) * want
    row = rng.choice(ALL_ROWS)
    length = row.cdb_length or rng.choice((6, 10, 12, 16))
    cdb = bytearray(rng.getrandbits(8) for _ in range(length))
    cdb[0] = row.opcode
    if row.service_action is not None:
        if row.opcode == 0x7F and length >= 10:
            struct.pack_into(">H", cdb, 8, row.service_action)
            cdb[7] = length - 8
        elif length > 1:
            cdb[1] = (cdb[1] & 0xE0) | (row.service_action & 0x1F)
    if rng.random() < 0.3:  # keep lengths small so the run stays fast
        for i in range(2, min(length, 16)):
            cdb[i] &= 0x03
    want = min(lu.expected_data_out(bytes(cdb)), 8 * BS)
    return bytes(cdb), bytes((rng.randrange(0, 0xA0),)) * want


def check(image: Image, cdb: bytes, data_out: bytes, nexus: Nexus) -> None:
    resp = image.lu.execute(cdb, data_out, nexus)
    assert isinstance(resp.status, Status)
    data = bytes(resp.data_in)
    assert MARK_RUN not in data, f"CDB {cdb.hex()} returned bytes from outside the slice"
    if resp.status == Status.CHECK_CONDITION:
        assert resp.sense and resp.sense[0] & 0x7F in (0x70, 0x71, 0x72, 0x73)


@st.composite
def commands(draw: st.DrawFn) -> list[tuple[bytes, bytes, int]]:
    seed = draw(st.integers(0, 2**32 - 1))
    count = draw(st.integers(1, 40))
    rng = random.Random(seed)
    probe = Image().lu
    out = []
    for _ in range(count):
        cdb, data = random_command(rng, probe)
        if draw(st.booleans()):
            raw = bytearray(cdb)
            pos = draw(st.integers(0, len(raw) - 1))
            raw[pos] = draw(st.integers(0, 255)) if pos else raw[0]
            cdb = bytes(raw)
        out.append((cdb, data, draw(st.integers(0, len(NEXUSES) - 1))))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands())
def test_lu_confinement_property(cmds: list[tuple[bytes, bytes, int]]) -> None:
    image = Image()
    for cdb, data, who in cmds:
        check(image, cdb, data, NEXUSES[who])
        assert image.outside_hash() == image.outside, f"CDB {cdb.hex()} changed bytes outside"
        assert image.lu.internal_errors == 0, f"CDB {cdb.hex()}: {image.lu.refusals[-1]}"


@st.composite
def media_commands(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """One media command built from shrinkable parts: LBA, length, flags and data-out size."""
    op, sa, kind = draw(
        st.sampled_from([m for m in MEDIA if m[2] not in ("unmap", "xcopy", "sanitize")])
    )
    lba = draw(st.sampled_from(EDGE_LBAS) | st.integers(0, BLOCKS + 2) | st.integers(0, 2**64 - 1))
    n = draw(st.sampled_from(EDGE_LENGTHS) | st.integers(0, 4))
    flags = draw(st.sampled_from((0, 0x01, 0x02, 0x04, 0x06, 0x08, 0x10)))
    cdb = _fields(kind, op, sa, flags, lba, n)
    want = min(Image.PROBE.expected_data_out(cdb), 40 * BS)
    want = max(0, want + draw(st.sampled_from((0, 0, 0, -1, 1, BS))))
    return cdb, bytes((draw(st.integers(0, 0x9F)),)) * want


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(media_commands(), min_size=1, max_size=12))
def test_lu_media_confinement_property(cmds: list[tuple[bytes, bytes]]) -> None:
    image = Image()
    for cdb, data in cmds:
        check(image, cdb, data, NEXUSES[0])
        assert image.outside_hash() == image.outside, f"CDB {cdb.hex()} changed bytes outside"
        assert image.lu.internal_errors == 0, f"CDB {cdb.hex()}: {image.lu.refusals[-1]}"


def run_fuzz(seed: int, count: int, *, checked: bool = False) -> dict[str, int]:
    image = Image(checked=checked)
    rng = random.Random(seed)
    stats = {"commands": 0, "good": 0, "check": 0, "other": 0}
    lu = image.lu
    for i in range(count):
        nexus = NEXUSES[i % 3 if rng.random() < 0.1 else 0]
        cdb, data = random_command(rng, lu)
        resp = lu.execute(cdb, data, nexus)
        st_ = resp.status
        if st_ == Status.GOOD:
            stats["good"] += 1
        elif st_ == Status.CHECK_CONDITION:
            stats["check"] += 1
        else:
            stats["other"] += 1
        if resp.data_in and MARK_RUN in bytes(resp.data_in):
            raise AssertionError(f"command {i} CDB {cdb.hex()} returned bytes from outside")
        if i % 1024 == 1023:
            assert lu.internal_errors == 0, list(lu.refusals)[-3:]
            lu = image.restart()  # undo ejects, prevents and reservations now and then
            if image.outside_hash() != image.outside:
                raise AssertionError(f"bytes outside the slice changed by command <= {i}")
    stats["commands"] = count
    assert image.outside_hash() == image.outside
    return stats


@pytest.mark.parametrize("checked", [False, True])
def test_fuzz_short_seeded_run(checked: bool) -> None:
    stats = run_fuzz(seed=1, count=20_000, checked=checked)
    assert stats["good"] > 1000 and stats["check"] > 1000


@pytest.mark.slow
def test_fuzz_one_million_commands() -> None:
    t0 = time.perf_counter()
    stats = run_fuzz(seed=20261128, count=1_000_000)
    elapsed = time.perf_counter() - t0
    assert stats["commands"] == 1_000_000
    assert stats["good"] > 100_000 and stats["check"] > 100_000
    assert elapsed < 300, f"fuzz run took {elapsed:.0f} s"
