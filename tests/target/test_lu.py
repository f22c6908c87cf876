"""The slice logical unit, command family by command family (libiscsi test-tool style).

Each test drives `LogicalUnit.execute` with raw CDBs on a slice in the middle of
a memory image whose outside is filled with a marker pattern, and checks status,
sense (named expectation sets) and data; tests that write also check that no
byte outside the slice changed.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from dataclasses import dataclass

import pytest

from sgguard.policy import Policy
from sgguard.scsi.model import Effect
from sgguard.target.api import Nexus, Response, Status, TaskManagement
from sgguard.target.backend import LbaExtent, LbaState, MemoryBackend, SliceBackend
from sgguard.target.identity import NAA_LOCAL_CID, Identity, Limits, derive_naa
from sgguard.target.lu import LogicalUnit, build_sense, encode_report_luns, no_unit_response

BS = 512
BASE_BLOCKS = 1024
SLICE_FIRST = 256
SLICE_BLOCKS = 512
MARK = b"\xa5\x5a"  # marker pattern outside the slice

NEXUS = Nexus(
    "iqn.2026-01.test:init,i,0x1", "iqn.2026-01.test:tgt,t,0x1", 0, "iqn.2026-01.test:init"
)
OTHER = Nexus(
    "iqn.2026-01.test:other,i,0x2", "iqn.2026-01.test:tgt,t,0x1", 0, "iqn.2026-01.test:other"
)


@dataclass(frozen=True)
class Expect:
    """A named expectation: status and, for CHECK CONDITION, sense key/ASC/ASCQ."""

    name: str
    status: Status
    key: int = 0
    asc: int = 0
    ascq: int = 0


EXPECT_GOOD = Expect("GOOD", Status.GOOD)
EXPECT_CONDITION_MET = Expect("CONDITION MET", Status.CONDITION_MET)
EXPECT_RESERVATION_CONFLICT = Expect("RESERVATION CONFLICT", Status.RESERVATION_CONFLICT)
EXPECT_LBA_OUT_OF_RANGE = Expect("LBA OUT OF RANGE", Status.CHECK_CONDITION, 0x5, 0x21, 0x00)
EXPECT_INVALID_FIELD_IN_CDB = Expect(
    "INVALID FIELD IN CDB", Status.CHECK_CONDITION, 0x5, 0x24, 0x00
)
EXPECT_INVALID_FIELD_IN_PARAM = Expect(
    "INVALID FIELD IN PARAMETER LIST", Status.CHECK_CONDITION, 0x5, 0x26, 0x00
)
EXPECT_PARAM_LIST_LENGTH = Expect(
    "PARAMETER LIST LENGTH ERROR", Status.CHECK_CONDITION, 0x5, 0x1A, 0x00
)
EXPECT_INVALID_OPCODE = Expect(
    "INVALID COMMAND OPERATION CODE", Status.CHECK_CONDITION, 0x5, 0x20, 0x00
)
EXPECT_IU_MISMATCH = Expect("INVALID FIELD IN COMMAND IU", Status.CHECK_CONDITION, 0x5, 0x0E, 0x03)
EXPECT_MISCOMPARE = Expect("MISCOMPARE", Status.CHECK_CONDITION, 0xE, 0x1D, 0x00)
EXPECT_WRITE_PROTECTED = Expect("WRITE PROTECTED", Status.CHECK_CONDITION, 0x7, 0x27, 0x00)
EXPECT_POWER_ON = Expect("POWER ON RESET", Status.CHECK_CONDITION, 0x6, 0x29, 0x00)
EXPECT_CAPACITY_CHANGED = Expect(
    "CAPACITY DATA HAS CHANGED", Status.CHECK_CONDITION, 0x6, 0x2A, 0x09
)
EXPECT_MEDIUM_CHANGED = Expect("MEDIUM MAY HAVE CHANGED", Status.CHECK_CONDITION, 0x6, 0x28, 0x00)
EXPECT_NOT_READY_INIT = Expect("NOT READY, INIT REQUIRED", Status.CHECK_CONDITION, 0x2, 0x04, 0x02)
EXPECT_NO_MEDIUM = Expect("MEDIUM NOT PRESENT", Status.CHECK_CONDITION, 0x2, 0x3A, 0x00)
EXPECT_REMOVAL_PREVENTED = Expect(
    "MEDIUM REMOVAL PREVENTED", Status.CHECK_CONDITION, 0x5, 0x53, 0x02
)


def sense_triple(sense: bytes) -> tuple[int, int, int]:
    if sense[0] & 0x7F in (0x72, 0x73):
        return sense[1] & 0xF, sense[2], sense[3]
    return sense[2] & 0xF, sense[12], sense[13]


def sense_information(sense: bytes) -> int | None:
    if sense[0] & 0x7F in (0x70, 0x71):
        return struct.unpack_from(">I", sense, 3)[0] if sense[0] & 0x80 else None
    pos = 8
    while pos < 8 + sense[7]:
        if sense[pos] == 0x00:
            return int.from_bytes(sense[pos + 4 : pos + 12], "big")
        pos += 2 + sense[pos + 1]
    return None


def expect(resp: Response, want: Expect) -> None:
    got = resp.status
    assert got == want.status, f"expected {want.name}, got {got.name} {resp.sense.hex()}"
    if want.status == Status.CHECK_CONDITION:
        assert sense_triple(resp.sense) == (want.key, want.asc, want.ascq), (
            f"expected {want.name}, got sense {resp.sense.hex()}"
        )


class Disk:
    """A memory image with a marked outside and a logical unit on its middle slice."""

    def __init__(
        self, *, policy: Policy | None = None, read_only: bool = False, **kw: object
    ) -> None:
        self.base = MemoryBackend(BASE_BLOCKS, BS)
        buf = self.base.buffer
        buf[:] = MARK * (len(buf) // 2)
        lo, hi = SLICE_FIRST * BS, (SLICE_FIRST + SLICE_BLOCKS) * BS
        buf[lo:hi] = bytes(hi - lo)
        self.slice = SliceBackend(self.base, lo, hi - lo)
        self.refusals: list[object] = []
        self.lu = LogicalUnit(
            self.slice,
            Identity.for_slice("iqn.2026-01.test:tgt", "part1"),
            policy,
            read_only=read_only,
            log=self.refusals.append,
            **kw,  # type: ignore[arg-type]
        )
        self.outside = self.outside_hash()
        self.lu.execute(bytes(6), b"", NEXUS)  # consume the power-on unit attention

    def outside_hash(self) -> str:
        buf = self.base.buffer
        lo, hi = SLICE_FIRST * BS, (SLICE_FIRST + SLICE_BLOCKS) * BS
        return hashlib.sha256(bytes(buf[:lo]) + bytes(buf[hi:])).hexdigest()

    def inside(self, lba: int = 0, blocks: int = SLICE_BLOCKS) -> bytes:
        off = (SLICE_FIRST + lba) * BS
        return bytes(self.base.buffer[off : off + blocks * BS])

    def run(self, cdb: bytes, data_out: bytes = b"", nexus: Nexus = NEXUS) -> Response:
        resp = self.lu.execute(cdb, data_out, nexus)
        assert self.outside_hash() == self.outside, "a byte outside the slice changed"
        assert MARK * 4 not in bytes(resp.data_in), "data from outside the slice was returned"
        return resp


@pytest.fixture
def disk() -> Disk:
    return Disk()


# READ/VERIFY/WRITE/WRITE AND VERIFY/WRITE SAME/ORWRITE (32) run only when a policy names them
PI32 = Policy(allow_opcodes=frozenset({0x7F}))


@pytest.fixture
def disk32() -> Disk:
    return Disk(policy=PI32)


# -- CDB builders --------------------------------------------------------------------------


def read6(lba: int, blocks: int) -> bytes:
    return bytes((0x08, (lba >> 16) & 0x1F, (lba >> 8) & 0xFF, lba & 0xFF, blocks, 0))


def write6(lba: int, blocks: int) -> bytes:
    return bytes((0x0A,)) + read6(lba, blocks)[1:]


def cdb10(op: int, lba: int, blocks: int, flags: int = 0) -> bytes:
    return struct.pack(">BBIBHB", op, flags, lba, 0, blocks, 0)


def cdb12(op: int, lba: int, blocks: int, flags: int = 0) -> bytes:
    return struct.pack(">BBIIBB", op, flags, lba, blocks, 0, 0)


def cdb16(op: int, lba: int, blocks: int, flags: int = 0) -> bytes:
    return struct.pack(">BBQIBB", op, flags, lba, blocks, 0, 0)


def cdb32(sa: int, lba: int, blocks: int, flags: int = 0) -> bytes:
    out = bytearray(32)
    out[0] = 0x7F
    out[7] = 0x18
    struct.pack_into(">H", out, 8, sa)
    out[10] = flags
    struct.pack_into(">Q", out, 12, lba)
    struct.pack_into(">I", out, 28, blocks)
    return bytes(out)


def inquiry(evpd: bool = False, page: int = 0, alloc: int = 255) -> bytes:
    return struct.pack(">BBBHB", 0x12, 1 if evpd else 0, page, alloc, 0)


def read_capacity16(alloc: int = 32) -> bytes:
    return struct.pack(">BBQIBB", 0x9E, 0x10, 0, alloc, 0, 0)


def get_lba_status(lba: int, alloc: int = 1024) -> bytes:
    return struct.pack(">BBQIBB", 0x9E, 0x12, lba, alloc, 0, 0)


def unmap(descriptors: list[tuple[int, int]]) -> tuple[bytes, bytes]:
    body = b"".join(struct.pack(">QI4x", lba, n) for lba, n in descriptors)
    param = struct.pack(">HH4x", 6 + len(body), len(body)) + body
    return struct.pack(">BBxxxxxHB", 0x42, 0, len(param), 0), param


def compare_and_write(lba: int, blocks: int, flags: int = 0) -> bytes:
    return struct.pack(">BBQxxxBxx", 0x89, flags, lba, blocks)


def rsoc(
    options: int = 0, opcode: int = 0, sa: int = 0, rctd: bool = False, alloc: int = 8192
) -> bytes:
    return struct.pack(">BBBBHIxx", 0xA3, 0x0C, (0x80 if rctd else 0) | options, opcode, sa, alloc)


def block(fill: int) -> bytes:
    return bytes((fill,)) * BS


LAST = SLICE_BLOCKS - 1

# -- READ ----------------------------------------------------------------------------------


def test_read10_lba_0(disk: Disk) -> None:
    resp = disk.run(cdb10(0x28, 0, 1))
    expect(resp, EXPECT_GOOD)
    assert resp.data_in == bytes(BS) and resp.data_length == BS


def test_read10_last_lba(disk: Disk) -> None:
    expect(disk.run(cdb10(0x28, LAST, 1)), EXPECT_GOOD)


@pytest.mark.parametrize("lba", [SLICE_BLOCKS, SLICE_BLOCKS + 1, 2**31, 2**32 - 1])
def test_read10_beyond_eol(disk: Disk, lba: int) -> None:
    resp = disk.run(cdb10(0x28, lba, 1))
    expect(resp, EXPECT_LBA_OUT_OF_RANGE)
    assert resp.data_in == b""
    assert sense_information(resp.sense) == lba


def test_read10_straddling_eol(disk: Disk) -> None:
    expect(disk.run(cdb10(0x28, LAST, 2)), EXPECT_LBA_OUT_OF_RANGE)


def test_read10_0blocks(disk: Disk) -> None:
    expect(disk.run(cdb10(0x28, 0, 0)), EXPECT_GOOD)
    expect(disk.run(cdb10(0x28, SLICE_BLOCKS, 0)), EXPECT_GOOD)
    expect(disk.run(cdb10(0x28, SLICE_BLOCKS + 1, 0)), EXPECT_LBA_OUT_OF_RANGE)
    expect(disk.run(cdb10(0x28, 2**32 - 1, 0)), EXPECT_LBA_OUT_OF_RANGE)


def test_read10_rdprotect_is_invalid(disk: Disk) -> None:
    resp = disk.run(cdb10(0x28, 0, 1, flags=0x20))
    expect(resp, EXPECT_INVALID_FIELD_IN_CDB)
    assert resp.sense[15] & 0x80 and resp.sense[16:18] == b"\x00\x01"  # field pointer: byte 1


def test_read16_max_transfer_length(disk: Disk) -> None:
    assert disk.lu.limits.max_transfer == (32 << 20) // BS
    expect(disk.run(cdb16(0x88, 0, disk.lu.limits.max_transfer + 1)), EXPECT_INVALID_FIELD_IN_CDB)


def test_read10_max_transfer_length_from_limits() -> None:
    d = Disk(limits=Limits(max_transfer=8))
    expect(d.run(cdb10(0x28, 0, 8)), EXPECT_GOOD)
    resp = d.run(cdb10(0x28, 0, 9))
    expect(resp, EXPECT_INVALID_FIELD_IN_CDB)
    assert resp.sense[16:18] == b"\x00\x07"  # field pointer: TRANSFER LENGTH
    expect(d.run(cdb10(0x2A, 0, 9), block(1) * 9), EXPECT_INVALID_FIELD_IN_CDB)
    assert d.inside(0, 9) == bytes(9 * BS)


def test_read6_0blocks_means_256(disk: Disk) -> None:
    resp = disk.run(read6(0, 0))
    expect(resp, EXPECT_GOOD)
    assert len(resp.data_in) == 256 * BS
    expect(disk.run(read6(SLICE_BLOCKS - 255, 0)), EXPECT_LBA_OUT_OF_RANGE)


def test_read6_beyond_eol(disk: Disk) -> None:
    expect(disk.run(read6(SLICE_BLOCKS, 1)), EXPECT_LBA_OUT_OF_RANGE)


@pytest.mark.parametrize("lba", [SLICE_BLOCKS, 2**32 - 1, 2**63, 2**64 - 1])
def test_read16_beyond_eol(disk: Disk, lba: int) -> None:
    expect(disk.run(cdb16(0x88, lba, 1)), EXPECT_LBA_OUT_OF_RANGE)


def test_read16_lba_2_64_minus_1_0blocks(disk: Disk) -> None:
    expect(disk.run(cdb16(0x88, 2**64 - 1, 0)), EXPECT_LBA_OUT_OF_RANGE)


def test_read16_huge_transfer_length(disk: Disk) -> None:
    expect(disk.run(cdb16(0x88, 0, 0xFFFFFFFF)), EXPECT_INVALID_FIELD_IN_CDB)


def test_read12_and_read32_return_slice_data(disk32: Disk) -> None:
    disk = disk32
    disk.run(cdb10(0x2A, 7, 1), block(0x42))
    assert disk.run(cdb12(0xA8, 7, 1)).data_in == block(0x42)
    assert disk.run(cdb32(0x0009, 7, 1)).data_in == block(0x42)
    expect(disk.run(cdb12(0xA8, SLICE_BLOCKS, 1)), EXPECT_LBA_OUT_OF_RANGE)
    expect(disk.run(cdb32(0x0009, 2**64 - 1, 1)), EXPECT_LBA_OUT_OF_RANGE)


def test_read32_additional_cdb_length_checked(disk32: Disk) -> None:
    disk = disk32
    cdb = bytearray(cdb32(0x0009, 0, 1))
    cdb[7] = 0x10
    expect(disk.run(bytes(cdb)), EXPECT_INVALID_FIELD_IN_CDB)


def test_read10_short_cdb_is_invalid_field(disk: Disk) -> None:
    expect(disk.run(b"\x28\x00\x00"), EXPECT_INVALID_FIELD_IN_CDB)


# -- WRITE ---------------------------------------------------------------------------------


def test_write10_lba_0_and_last(disk: Disk) -> None:
    expect(disk.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_GOOD)
    expect(disk.run(cdb10(0x2A, LAST, 1), block(2)), EXPECT_GOOD)
    assert disk.inside(0, 1) == block(1) and disk.inside(LAST, 1) == block(2)


@pytest.mark.parametrize("lba", [SLICE_BLOCKS, SLICE_BLOCKS + 1, 2**32 - 1])
def test_write10_beyond_eol_writes_nothing(disk: Disk, lba: int) -> None:
    expect(disk.run(cdb10(0x2A, lba, 1), block(9)), EXPECT_LBA_OUT_OF_RANGE)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_write10_straddling_eol_writes_nothing(disk: Disk) -> None:
    expect(disk.run(cdb10(0x2A, LAST, 2), block(9) * 2), EXPECT_LBA_OUT_OF_RANGE)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_write10_beyond_eol_is_logged_as_a_refusal(disk: Disk) -> None:
    # issue 5: one log record per refused command (who, what, why)
    expect(disk.run(cdb10(0x2A, SLICE_BLOCKS + 5, 1), block(9)), EXPECT_LBA_OUT_OF_RANGE)
    rec = disk.refusals[-1]
    assert rec.command == "WRITE (10)" and rec.initiator == NEXUS.initiator  # type: ignore[attr-defined]
    assert "outside the slice" in rec.rule and str(SLICE_BLOCKS + 5) in rec.rule  # type: ignore[attr-defined]
    assert (rec.sense_key, rec.asc, rec.ascq) == (0x5, 0x21, 0x00)  # type: ignore[attr-defined]


@pytest.mark.parametrize("lba", [2**64 - 1, 2**64 - 2, 2**63])
def test_write16_lba_2_64_minus_1(disk: Disk, lba: int) -> None:
    expect(disk.run(cdb16(0x8A, lba, 2), block(9) * 2), EXPECT_LBA_OUT_OF_RANGE)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_write_all_sizes_land_in_the_slice(disk32: Disk) -> None:
    disk = disk32
    expect(disk.run(write6(1, 1), block(6)), EXPECT_GOOD)
    expect(disk.run(cdb12(0xAA, 2, 1), block(12)), EXPECT_GOOD)
    expect(disk.run(cdb16(0x8A, 3, 1), block(16)), EXPECT_GOOD)
    expect(disk.run(cdb32(0x000B, 4, 1), block(32)), EXPECT_GOOD)
    assert disk.inside(1, 4) == block(6) + block(12) + block(16) + block(32)


def test_write6_0blocks_means_256(disk: Disk) -> None:
    expect(disk.run(write6(0, 0), block(1) * 256), EXPECT_GOOD)
    assert disk.inside(0, 256) == block(1) * 256


# libiscsi iSCSIResiduals.Write10/12/16Residuals and WriteVerify10/12/16Residuals: the
# transport passes min(EDTL, transfer length) bytes; the unit writes the whole blocks it
# received and reports the transfer length (the transport derives the residual from it).
RESIDUAL_WRITES = [
    pytest.param(lambda lba, n: cdb10(0x2A, lba, n), id="write10"),
    pytest.param(lambda lba, n: cdb12(0xAA, lba, n), id="write12"),
    pytest.param(lambda lba, n: cdb16(0x8A, lba, n), id="write16"),
    pytest.param(lambda lba, n: cdb10(0x2E, lba, n), id="writeverify10"),
    pytest.param(lambda lba, n: cdb12(0xAE, lba, n), id="writeverify12"),
    pytest.param(lambda lba, n: cdb16(0x8E, lba, n), id="writeverify16"),
    pytest.param(lambda lba, n: cdb16(0x8B, lba, n), id="orwrite16"),  # 0x61 | 0x62 = 0x63
]


def written(make, fill: int) -> int:  # type: ignore[no-untyped-def]
    return 0x61 | fill if make(0, 1)[0] == 0x8B else fill


@pytest.mark.parametrize("make", RESIDUAL_WRITES)
def test_write_residuals_edtl_below_transfer_length_writes_what_came(disk: Disk, make) -> None:  # type: ignore[no-untyped-def]
    expect(disk.run(make(0, 2), block(0x61) * 2), EXPECT_GOOD)
    resp = disk.run(make(0, 2), block(0x62))  # EDTL = one block of two
    expect(resp, EXPECT_GOOD)
    assert resp.data_length == 2 * BS  # the transfer length: residual overflow of one block
    assert disk.inside(0, 2) == block(written(make, 0x62)) + block(0x61)


@pytest.mark.parametrize("make", RESIDUAL_WRITES)
def test_write_residuals_edtl_above_transfer_length_writes_the_transfer_length(
    disk: Disk,
    make,  # type: ignore[no-untyped-def]
) -> None:
    expect(disk.run(make(0, 2), block(0x61) * 2), EXPECT_GOOD)
    resp = disk.run(make(0, 1), block(0x62) * 2)  # EDTL = two blocks, CDB one
    expect(resp, EXPECT_GOOD)
    assert resp.data_length == BS
    assert disk.inside(0, 2) == block(written(make, 0x62)) + block(0x61)


@pytest.mark.parametrize("make", RESIDUAL_WRITES)
def test_write_residuals_no_data_out_writes_nothing(disk: Disk, make) -> None:  # type: ignore[no-untyped-def]
    resp = disk.run(make(0, 1), b"")  # EDTL 0: nothing arrived, nothing written
    expect(resp, EXPECT_GOOD)
    assert resp.data_length == BS
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


@pytest.mark.parametrize("make", RESIDUAL_WRITES)
def test_write_residuals_part_of_a_block_is_refused(disk: Disk, make) -> None:  # type: ignore[no-untyped-def]
    expect(disk.run(make(0, 1), block(0x62)[:200]), EXPECT_IU_MISMATCH)
    expect(disk.run(make(0, 2), (block(0x62) * 2)[: BS + 1]), EXPECT_IU_MISMATCH)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_write_residuals_beyond_eol_still_out_of_range(disk: Disk) -> None:
    expect(disk.run(cdb10(0x2A, LAST, 2), block(9)), EXPECT_LBA_OUT_OF_RANGE)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_write10_0blocks(disk: Disk) -> None:
    resp = disk.run(cdb10(0x2A, 0, 0))
    expect(resp, EXPECT_GOOD)
    assert resp.data_length == 0


def test_write10_fua_reaches_the_backend(disk: Disk) -> None:
    before = disk.base.fua_writes
    expect(disk.run(cdb10(0x2A, 0, 1, flags=0x08), block(1)), EXPECT_GOOD)
    assert disk.base.fua_writes == before + 1


def test_write10_wrprotect_is_invalid(disk: Disk) -> None:
    expect(disk.run(cdb10(0x2A, 0, 1, flags=0x40), block(1)), EXPECT_INVALID_FIELD_IN_CDB)


def test_write10_read_only_slice_is_write_protected() -> None:
    d = Disk(read_only=True)
    expect(d.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_WRITE_PROTECTED)
    expect(d.run(cdb10(0x28, 0, 1)), EXPECT_GOOD)
    assert d.refusals and "read-only" in d.refusals[-1].rule  # type: ignore[attr-defined]


def test_memoryview_data_out(disk: Disk) -> None:
    data = bytearray(block(7) * 2)
    expect(disk.lu.execute(cdb10(0x2A, 3, 2), memoryview(data), NEXUS), EXPECT_GOOD)
    assert disk.inside(3, 2) == bytes(data)


# -- WRITE AND VERIFY, VERIFY ----------------------------------------------------------------


def test_writeverify10_12_16_32(disk32: Disk) -> None:
    disk = disk32
    expect(disk.run(cdb10(0x2E, 0, 1), block(1)), EXPECT_GOOD)
    expect(disk.run(cdb12(0xAE, 1, 1), block(2)), EXPECT_GOOD)
    expect(disk.run(cdb16(0x8E, 2, 1), block(3)), EXPECT_GOOD)
    expect(disk.run(cdb32(0x000C, 3, 1), block(4)), EXPECT_GOOD)
    assert disk.inside(0, 4) == block(1) + block(2) + block(3) + block(4)
    expect(disk.run(cdb16(0x8E, 2**64 - 1, 1), block(3)), EXPECT_LBA_OUT_OF_RANGE)


def test_read10_invalid_flagged_as_write_ignores_the_data_out(disk: Disk) -> None:
    """libiscsi iSCSIResiduals.Read10Invalid: READ (10) sent with a block of data-out."""
    disk.run(cdb10(0x2A, 0, 1), block(0x21))
    resp = disk.run(cdb10(0x28, 0, 1), block(0xA6))
    expect(resp, EXPECT_GOOD)
    assert bytes(resp.data_in) == block(0x21)
    expect(disk.run(cdb10(0x2F, 0, 1), block(0xA6)), EXPECT_GOOD)  # VERIFY BYTCHK=0 alike
    assert disk.inside(0, 1) == block(0x21)


def test_verify10_bytchk0(disk: Disk) -> None:
    expect(disk.run(cdb10(0x2F, 0, 8)), EXPECT_GOOD)
    expect(disk.run(cdb10(0x2F, LAST, 2)), EXPECT_LBA_OUT_OF_RANGE)


def test_verify10_bytchk1_match_and_miscompare(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 10, 2), block(1) + block(2))
    expect(disk.run(cdb10(0x2F, 10, 2, flags=0x02), block(1) + block(2)), EXPECT_GOOD)
    wrong = bytearray(block(1) + block(2))
    wrong[BS + 17] ^= 0xFF
    resp = disk.run(cdb10(0x2F, 10, 2, flags=0x02), bytes(wrong))
    expect(resp, EXPECT_MISCOMPARE)
    assert sense_information(resp.sense) == BS + 17


def test_verify16_bytchk3_one_block_for_all(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 20, 3), block(5) * 3)
    expect(disk.run(cdb16(0x8F, 20, 3, flags=0x06), block(5)), EXPECT_GOOD)
    expect(disk.run(cdb16(0x8F, 20, 4, flags=0x06), block(5)), EXPECT_MISCOMPARE)


def test_verify12_32_bytchk2_is_invalid(disk32: Disk) -> None:
    disk = disk32
    expect(disk.run(cdb12(0xAF, 0, 1, flags=0x04), block(0)), EXPECT_INVALID_FIELD_IN_CDB)
    expect(disk.run(cdb32(0x000A, 0, 1, flags=0x04), block(0)), EXPECT_INVALID_FIELD_IN_CDB)
    expect(disk.run(cdb32(0x000A, 0, 1, flags=0x02), block(0)), EXPECT_GOOD)


# -- WRITE SAME, UNMAP, FORMAT UNIT ------------------------------------------------------------


def test_writesame10_pattern(disk: Disk) -> None:
    expect(disk.run(cdb10(0x41, 5, 4), block(0x77)), EXPECT_GOOD)
    assert disk.inside(5, 4) == block(0x77) * 4
    assert disk.inside(9, 1) == bytes(BS)


def test_writesame16_0blocks_to_end_of_slice(disk: Disk) -> None:
    expect(disk.run(cdb16(0x93, 500, 0), block(0x11)), EXPECT_GOOD)
    assert disk.inside(500, 12) == block(0x11) * 12
    assert disk.inside(499, 1) == bytes(BS)


def test_writesame16_beyond_eol_writes_nothing(disk: Disk) -> None:
    expect(disk.run(cdb16(0x93, LAST, 2), block(0x11)), EXPECT_LBA_OUT_OF_RANGE)
    expect(disk.run(cdb16(0x93, 2**64 - 1, 0), block(0x11)), EXPECT_LBA_OUT_OF_RANGE)
    expect(disk.run(cdb10(0x41, SLICE_BLOCKS + 1, 0), block(0x11)), EXPECT_LBA_OUT_OF_RANGE)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_writesame16_unmap_punches(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 0, 8), block(3) * 8)
    expect(disk.run(cdb16(0x93, 2, 4, flags=0x08), bytes(BS)), EXPECT_GOOD)
    assert disk.inside(0, 8) == block(3) * 2 + bytes(4 * BS) + block(3) * 2
    status = disk.slice.lba_status(0, 8)
    assert LbaExtent(2, 4, LbaState.DEALLOCATED) in status


def test_writesame10_unmap_with_data_still_deallocates(disk: Disk) -> None:
    disk.run(cdb10(0x2A, LAST - 3, 4), block(0xFF) * 4)
    expect(disk.run(cdb10(0x41, LAST - 3, 4, flags=0x08), block(0xFF)), EXPECT_GOOD)
    assert disk.inside(LAST - 3, 4) == bytes(4 * BS)  # LBPRZ=1


def test_writesame16_ndob(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 0, 4), block(3) * 4)
    expect(disk.run(cdb16(0x93, 1, 2, flags=0x01)), EXPECT_GOOD)
    assert disk.inside(0, 4) == block(3) + bytes(2 * BS) + block(3)
    expect(disk.run(cdb16(0x93, 1, 2, flags=0x01), block(1)), EXPECT_IU_MISMATCH)


def test_writesame32_and_anchor(disk32: Disk) -> None:
    disk = disk32
    expect(disk.run(cdb32(0x000D, 3, 2), block(0x31)), EXPECT_GOOD)
    assert disk.inside(3, 2) == block(0x31) * 2
    expect(disk.run(cdb32(0x000D, 3, 2, flags=0x10), block(0x31)), EXPECT_INVALID_FIELD_IN_CDB)
    expect(disk.run(cdb10(0x41, 3, 2), block(0x31) * 2), EXPECT_IU_MISMATCH)


def test_unmap_punches_each_descriptor(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 0, 16), block(9) * 16)
    cdb, param = unmap([(1, 2), (10, 3)])
    expect(disk.run(cdb, param), EXPECT_GOOD)
    assert disk.inside(0, 16) == (
        block(9) + bytes(2 * BS) + block(9) * 7 + bytes(3 * BS) + block(9) * 3
    )


def test_unmap_one_bad_descriptor_writes_nothing(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 0, 16), block(9) * 16)
    cdb, param = unmap([(1, 2), (LAST, 2), (10, 3)])
    resp = disk.run(cdb, param)
    expect(resp, EXPECT_LBA_OUT_OF_RANGE)
    assert disk.inside(0, 16) == block(9) * 16


def test_unmap_lba_2_64_minus_1(disk: Disk) -> None:
    cdb, param = unmap([(2**64 - 1, 1)])
    expect(disk.run(cdb, param), EXPECT_LBA_OUT_OF_RANGE)


def test_unmap_zero_parameter_list(disk: Disk) -> None:
    expect(disk.run(struct.pack(">BBxxxxxHB", 0x42, 0, 0, 0)), EXPECT_GOOD)


def test_unmap_short_parameter_list(disk: Disk) -> None:
    expect(disk.run(struct.pack(">BBxxxxxHB", 0x42, 0, 4, 0), bytes(4)), EXPECT_PARAM_LIST_LENGTH)


def test_unmap_too_many_descriptors(disk: Disk) -> None:
    cdb, param = unmap([(i, 1) for i in range(257)])
    expect(disk.run(cdb, param), EXPECT_INVALID_FIELD_IN_PARAM)


def test_unmap_anchor_is_invalid(disk: Disk) -> None:
    cdb, param = unmap([(1, 1)])
    expect(disk.run(bytes((0x42, 0x01)) + cdb[2:], param), EXPECT_INVALID_FIELD_IN_CDB)


def test_formatunit_zeroes_the_slice_only(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 0, 4), block(9) * 4)
    disk.run(cdb10(0x2A, LAST, 1), block(9))
    expect(disk.run(bytes(6)[:0] + bytes((0x04, 0, 0, 0, 0, 0))), EXPECT_GOOD)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_formatunit_fmtdata_header_length_reported(disk: Disk) -> None:
    """The data length is the parameter list header the CDB asks for, not what arrived."""
    resp = disk.run(bytes((0x04, 0x10, 0, 0, 0, 0)), bytes(4) + bytes(BS))  # EDTL above
    expect(resp, EXPECT_GOOD)
    assert resp.data_length == 4
    assert disk.run(bytes((0x04, 0, 0, 0, 0, 0))).data_length == 0


def test_formatunit_fmtpinfo_is_invalid(disk: Disk) -> None:
    expect(disk.run(bytes((0x04, 0x80, 0, 0, 0, 0))), EXPECT_INVALID_FIELD_IN_CDB)


# -- COMPARE AND WRITE, ORWRITE ----------------------------------------------------------------


def test_compareandwrite_success(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 4, 2), block(1) * 2)
    resp = disk.run(compare_and_write(4, 2), block(1) * 2 + block(2) * 2)
    expect(resp, EXPECT_GOOD)
    assert disk.inside(4, 2) == block(2) * 2


def test_compareandwrite_miscompare(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 4, 2), block(1) * 2)
    verify = bytearray(block(1) * 2)
    verify[BS + 3] = 0
    resp = disk.run(compare_and_write(4, 2), bytes(verify) + block(2) * 2)
    expect(resp, EXPECT_MISCOMPARE)
    assert sense_information(resp.sense) == BS + 3
    assert disk.inside(4, 2) == block(1) * 2


def test_compareandwrite_beyond_eol(disk: Disk) -> None:
    expect(disk.run(compare_and_write(LAST, 2), bytes(4 * BS)), EXPECT_LBA_OUT_OF_RANGE)
    expect(disk.run(compare_and_write(2**64 - 1, 1), bytes(2 * BS)), EXPECT_LBA_OUT_OF_RANGE)


def test_compareandwrite_data_length_mismatch(disk: Disk) -> None:
    expect(disk.run(compare_and_write(0, 1), bytes(BS)), EXPECT_INVALID_FIELD_IN_CDB)


def test_compareandwrite_data_out_refusal_from_the_expected_length(disk: Disk) -> None:
    """libiscsi CompareAndWrite.Simple/.InvalidDataOutSize through the transport's seam.

    At 256 blocks the one-byte NUMBER OF LOGICAL BLOCKS wraps to 0; the initiator still
    offers 512 blocks of data-out: refused (INVALID FIELD IN CDB, byte 13) before any data.
    """
    lu = disk.lu
    assert lu.data_out_refusal(compare_and_write(0, 1), 2 * BS) is None
    assert lu.data_out_refusal(compare_and_write(0, 0), 0) is None  # 0 blocks: a no-op
    assert lu.data_out_refusal(cdb10(0x2A, 0, 1), 0) is None  # not COMPARE AND WRITE
    for cdb, edtl in (
        (compare_and_write(0, 0), 512 * BS),  # 256 wrapped to 0
        (compare_and_write(0, 1), 4 * BS),  # too much data-out
        (compare_and_write(0, 3), 4 * BS),  # too little
    ):
        resp = lu.data_out_refusal(cdb, edtl, NEXUS)
        assert resp is not None
        expect(resp, EXPECT_INVALID_FIELD_IN_CDB)
        assert resp.sense[15] & 0x80 and resp.sense[15] & 0x40 and resp.sense[17] == 13
    assert "COMPARE AND WRITE" in disk.refusals[-1].rule  # type: ignore[attr-defined]
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_writesame_data_out_refusal_from_the_expected_length(disk: Disk) -> None:
    """libiscsi WriteSame10/16.InvalidDataOutSize: half a block or two blocks of data-out."""
    lu = disk.lu
    for cdb in (cdb10(0x41, 0, 1, flags=0x08), cdb16(0x93, 0, 1, flags=0x08)):
        assert lu.data_out_refusal(cdb, BS) is None
        for edtl in (BS // 2, 2 * BS, 0):
            resp = lu.data_out_refusal(cdb, edtl, NEXUS)
            assert resp is not None
            expect(resp, EXPECT_IU_MISMATCH)
    ndob = cdb16(0x93, 0, 1, flags=0x01)
    assert lu.data_out_refusal(ndob, 0) is None
    assert lu.data_out_refusal(ndob, BS) is not None
    assert "WRITE SAME" in disk.refusals[-1].rule  # type: ignore[attr-defined]
    expect(disk.run(cdb10(0x41, 0, 1), block(1) * 2), EXPECT_IU_MISMATCH)  # execute agrees


def test_compareandwrite_0blocks(disk: Disk) -> None:
    expect(disk.run(compare_and_write(0, 0)), EXPECT_GOOD)


def test_compareandwrite_is_atomic_against_concurrent_writers(disk: Disk) -> None:
    """Threads increment a counter block with COMPARE AND WRITE; no increment is lost."""
    counter_lba = 42
    disk.run(cdb10(0x2A, counter_lba, 1), bytes(BS))
    successes = [0] * 4

    def worker(i: int) -> None:
        nexus = Nexus(f"init{i}", "tgt", 0)
        disk.lu.execute(bytes(6), b"", nexus)
        for _ in range(200):
            cur = disk.lu.execute(cdb10(0x28, counter_lba, 1), b"", nexus).data_in
            value = int.from_bytes(bytes(cur[:8]), "big")
            new = (value + 1).to_bytes(8, "big") + bytes(BS - 8)
            resp = disk.lu.execute(compare_and_write(counter_lba, 1), bytes(cur) + new, nexus)
            if resp.status == Status.GOOD:
                successes[i] += 1
            # a concurrent plain WRITE of the same value must not break atomicity either
            disk.lu.execute(cdb10(0x2A, counter_lba + 1, 1), block(i), nexus)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = int.from_bytes(disk.inside(counter_lba, 1)[:8], "big")
    assert final == sum(successes) > 0


def test_orwrite16_ors_the_data(disk: Disk) -> None:
    disk.run(cdb10(0x2A, 6, 1), block(0x0F))
    expect(disk.run(cdb16(0x8B, 6, 1), block(0xF0)), EXPECT_GOOD)
    assert disk.inside(6, 1) == block(0xFF)
    expect(disk.run(cdb16(0x8B, LAST, 2), block(1) * 2), EXPECT_LBA_OUT_OF_RANGE)


def test_orwrite32_bmop_must_be_or(disk32: Disk) -> None:
    disk = disk32
    cdb = bytearray(cdb32(0x000E, 6, 1))
    expect(disk.run(bytes(cdb), block(0x01)), EXPECT_GOOD)
    cdb[2] = 0x01
    expect(disk.run(bytes(cdb), block(0x01)), EXPECT_INVALID_FIELD_IN_CDB)


# -- SYNCHRONIZE CACHE, PRE-FETCH, GET LBA STATUS ---------------------------------------------


def test_synchronizecache10_flushes(disk: Disk) -> None:
    before = disk.base.flushes
    expect(disk.run(cdb10(0x35, 0, 0)), EXPECT_GOOD)
    expect(disk.run(cdb16(0x91, 10, 10)), EXPECT_GOOD)
    assert disk.base.flushes == before + 2


def test_synchronizecache16_beyond_eol(disk: Disk) -> None:
    expect(disk.run(cdb16(0x91, 2**64 - 1, 1)), EXPECT_LBA_OUT_OF_RANGE)
    expect(disk.run(cdb10(0x35, LAST, 2)), EXPECT_LBA_OUT_OF_RANGE)


def test_prefetch10_condition_met(disk: Disk) -> None:
    expect(disk.run(cdb10(0x34, 0, 16)), EXPECT_CONDITION_MET)
    expect(disk.run(cdb16(0x90, LAST, 1)), EXPECT_CONDITION_MET)


def test_prefetch16_beyond_eol(disk: Disk) -> None:
    expect(disk.run(cdb16(0x90, LAST, 2)), EXPECT_LBA_OUT_OF_RANGE)
    expect(disk.run(cdb10(0x34, 2**32 - 1, 1)), EXPECT_LBA_OUT_OF_RANGE)


def parse_lba_status(data: bytes) -> list[tuple[int, int, int]]:
    length = struct.unpack_from(">I", data)[0]
    out = []
    for off in range(8, 4 + length, 16):
        lba, n, state = struct.unpack_from(">QIB", data, off)
        out.append((lba, n, state & 0x0F))
    return out


def test_getlbastatus_clipped_to_the_slice(disk: Disk) -> None:
    disk.base.write(SLICE_FIRST - 4, bytes(6 * BS))  # map blocks before and at the slice start
    disk.outside = disk.outside_hash()
    disk.run(cdb10(0x2A, 4, 2), block(1) * 2)
    resp = disk.run(get_lba_status(0))
    expect(resp, EXPECT_GOOD)
    extents = parse_lba_status(bytes(resp.data_in))
    assert extents[0] == (0, 2, 0)  # the slice's first two blocks, mapped via the base write
    assert (2, 2, 1) in extents and (4, 2, 0) in extents
    assert sum(n for _, n, _ in extents) == SLICE_BLOCKS
    assert all(lba + n <= SLICE_BLOCKS for lba, n, _ in extents)


def test_getlbastatus_beyond_eol(disk: Disk) -> None:
    expect(disk.run(get_lba_status(SLICE_BLOCKS)), EXPECT_LBA_OUT_OF_RANGE)
    expect(disk.run(get_lba_status(2**64 - 1)), EXPECT_LBA_OUT_OF_RANGE)


def test_getlbastatus_allocation_length_truncates(disk: Disk) -> None:
    resp = disk.run(get_lba_status(0, alloc=10))
    assert len(resp.data_in) == 10


# -- identity ----------------------------------------------------------------------------------


def test_inquiry_standard(disk: Disk) -> None:
    resp = disk.run(inquiry())
    expect(resp, EXPECT_GOOD)
    data = bytes(resp.data_in)
    assert data[0] == 0 and data[2] == 0x06 and data[3] & 0x10 and data[3] & 0x0F == 2
    assert data[7] & 0x02  # CmdQue
    assert data[5] & 0x30 == 0  # TPGS 0
    assert data[8:16] == b"SGGUARD " and data[16:21] == b"SLICE"
    assert data[4] == len(data) - 5


@pytest.mark.parametrize("alloc", [0, 1, 5, 36])
def test_inquiry_allocation_length_truncates(disk: Disk, alloc: int) -> None:
    resp = disk.run(inquiry(alloc=alloc))
    assert len(resp.data_in) == alloc and resp.data_length == 96


def test_inquiry_page_code_without_evpd(disk: Disk) -> None:
    expect(disk.run(inquiry(page=0x80)), EXPECT_INVALID_FIELD_IN_CDB)


def test_inquiry_unsupported_vpd_page(disk: Disk) -> None:
    expect(disk.run(inquiry(evpd=True, page=0x99)), EXPECT_INVALID_FIELD_IN_CDB)


def test_inquiry_cmddt_is_invalid(disk: Disk) -> None:
    expect(disk.run(bytes((0x12, 0x02, 0, 0, 255, 0))), EXPECT_INVALID_FIELD_IN_CDB)


def test_inquiry_vpd_supported_pages(disk: Disk) -> None:
    data = bytes(disk.run(inquiry(True, 0x00)).data_in)
    pages = list(data[4 : 4 + data[3]])
    assert pages == [0x00, 0x80, 0x83, 0x86, 0xB0, 0xB1, 0xB2]
    for page in pages:
        resp = disk.run(inquiry(True, page))
        expect(resp, EXPECT_GOOD)
        assert resp.data_in[1] == page
        assert len(resp.data_in) == 4 + struct.unpack_from(">H", resp.data_in, 2)[0]


def designators(data: bytes) -> list[tuple[int, int, bytes]]:
    out, pos = [], 4
    while pos < len(data):
        length = data[pos + 3]
        out.append((data[pos + 1] & 0x30, data[pos + 1] & 0x0F, data[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return out


def test_inquiry_vpd_device_identification_has_the_slice_naa(disk: Disk) -> None:
    data = bytes(disk.run(inquiry(True, 0x83)).data_in)
    des = designators(data)
    naa = [v for assoc, kind, v in des if kind == 3 and assoc == 0]
    assert naa == [derive_naa("iqn.2026-01.test:tgt", "part1")]
    assert naa[0][0] >> 4 == 6
    assert int.from_bytes(naa[0][:4], "big") >> 4 & 0xFFFFFF == NAA_LOCAL_CID
    assert any(kind == 1 for _, kind, _ in des)  # T10 vendor ID
    assert any(kind == 4 and assoc == 0x10 for assoc, kind, _ in des)  # relative target port
    names = [v for assoc, kind, v in des if kind == 8 and assoc == 0x10]
    assert names and names[0].rstrip(b"\0") == NEXUS.target.encode()


def test_naa_differs_per_slice_and_target() -> None:
    a = derive_naa("iqn.t1", "p1")
    assert a == derive_naa("iqn.t1", "p1")
    assert len({a, derive_naa("iqn.t1", "p2"), derive_naa("iqn.t2", "p1")}) == 3


def test_inquiry_vpd_serial(disk: Disk) -> None:
    data = bytes(disk.run(inquiry(True, 0x80)).data_in)
    assert data[4:].decode() == disk.lu.identity.serial


def test_inquiry_vpd_block_limits(disk: Disk) -> None:
    data = bytes(disk.run(inquiry(True, 0xB0)).data_in)
    limits = disk.lu.limits
    assert data[5] == limits.max_compare_and_write
    assert struct.unpack_from(">I", data, 8)[0] == limits.max_transfer
    assert struct.unpack_from(">I", data, 20)[0] == limits.max_unmap_lba_count
    assert struct.unpack_from(">I", data, 24)[0] == limits.max_unmap_descriptors
    assert struct.unpack_from(">Q", data, 36)[0] == limits.max_write_same


def test_inquiry_vpd_logical_block_provisioning(disk: Disk) -> None:
    data = bytes(disk.run(inquiry(True, 0xB2)).data_in)
    assert data[5] & 0xE0 == 0xE0  # LBPU LBPWS LBPWS10
    assert data[6] & 0x07 == 2  # thin


def test_inquiry_vpd_block_device_characteristics(disk: Disk) -> None:
    data = bytes(disk.run(inquiry(True, 0xB1)).data_in)
    assert struct.unpack_from(">H", data, 4)[0] == 1  # non-rotating


def test_readcapacity10(disk: Disk) -> None:
    resp = disk.run(cdb10(0x25, 0, 0))
    assert struct.unpack(">II", resp.data_in) == (LAST, BS)


class HugeBackend:
    """A backend too big for READ CAPACITY (10): reads return zeros, nothing is stored."""

    block_size = 512
    num_blocks = 2**40
    read_only = True
    blocking = False
    unmap_supported = False

    def read(self, lba: int, blocks: int) -> bytes:
        return bytes(blocks * 512)

    def flush(self) -> None:
        pass


def test_readcapacity10_too_big_reports_ffffffff() -> None:
    lu = LogicalUnit(HugeBackend(), Identity.for_slice("t", "huge"))  # type: ignore[arg-type]
    lu.execute(bytes(6), b"", NEXUS)
    resp = lu.execute(cdb10(0x25, 0, 0), b"", NEXUS)
    assert struct.unpack(">II", resp.data_in) == (0xFFFFFFFF, 512)
    resp = lu.execute(read_capacity16(), b"", NEXUS)
    assert struct.unpack_from(">Q", resp.data_in)[0] == 2**40 - 1
    expect(lu.execute(cdb16(0x88, 2**40 - 1, 1), b"", NEXUS), EXPECT_GOOD)
    expect(lu.execute(cdb16(0x88, 2**40 - 1, 2), b"", NEXUS), EXPECT_LBA_OUT_OF_RANGE)


def test_readcapacity16(disk: Disk) -> None:
    resp = disk.run(read_capacity16())
    last, bs = struct.unpack_from(">QI", resp.data_in)
    assert (last, bs) == (LAST, BS)
    assert resp.data_in[14] & 0x80  # LBPME
    assert len(disk.run(read_capacity16(alloc=12)).data_in) == 12


def test_reportluns_default_is_the_addressed_lun(disk: Disk) -> None:
    resp = disk.run(struct.pack(">BBBxxxIxx", 0xA0, 0, 0, 256))
    assert bytes(resp.data_in) == struct.pack(">I4x", 8) + bytes(8)


def test_reportluns_from_the_transport_callback() -> None:
    d = Disk(report_luns=lambda nexus: [0, 1, 300])
    resp = d.run(struct.pack(">BBBxxxIxx", 0xA0, 0, 0, 256))
    assert bytes(resp.data_in) == encode_report_luns([0, 1, 300])
    assert bytes(resp.data_in)[24:26] == bytes((0x41, 0x2C))  # flat space addressing
    assert len(d.run(struct.pack(">BBBxxxIxx", 0xA0, 0, 0, 16)).data_in) == 16
    expect(d.run(struct.pack(">BBBxxxIxx", 0xA0, 0, 0x05, 256)), EXPECT_INVALID_FIELD_IN_CDB)


def test_no_unit_response() -> None:
    resp = no_unit_response(inquiry(alloc=36), [0])
    assert resp.data_in[0] == 0x7F and len(resp.data_in) == 36
    expect(
        no_unit_response(cdb10(0x28, 0, 1), [0]),
        Expect("LUN NOT SUPPORTED", Status.CHECK_CONDITION, 5, 0x25, 0),
    )
    assert bytes(no_unit_response(struct.pack(">BBBxxxIxx", 0xA0, 0, 0, 64), [0, 2]).data_in) == (
        encode_report_luns([0, 2])
    )


# -- unit attentions ------------------------------------------------------------------------------


def test_unitattention_power_on_on_first_contact() -> None:
    d = Disk()
    expect(d.run(bytes(6), nexus=OTHER), EXPECT_POWER_ON)
    expect(d.run(bytes(6), nexus=OTHER), EXPECT_GOOD)


def test_unitattention_inquiry_and_reportluns_do_not_consume() -> None:
    d = Disk()
    expect(d.run(inquiry(), nexus=OTHER), EXPECT_GOOD)
    expect(d.run(struct.pack(">BBBxxxIxx", 0xA0, 0, 0, 64), nexus=OTHER), EXPECT_GOOD)
    expect(d.run(cdb10(0x28, 0, 1), nexus=OTHER), EXPECT_POWER_ON)
    expect(d.run(cdb10(0x28, 0, 1), nexus=OTHER), EXPECT_GOOD)


def test_requestsense_reports_and_clears_the_unit_attention() -> None:
    d = Disk()
    resp = d.run(bytes((0x03, 0, 0, 0, 252, 0)), nexus=OTHER)
    expect(resp, EXPECT_GOOD)
    assert sense_triple(bytes(resp.data_in)) == (0x6, 0x29, 0x00)
    resp = d.run(bytes((0x03, 0x01, 0, 0, 252, 0)), nexus=OTHER)
    assert bytes(resp.data_in)[:4] == bytes((0x72, 0, 0, 0))  # descriptor format, no sense
    expect(d.run(bytes(6), nexus=OTHER), EXPECT_GOOD)


def test_unitattention_capacity_changed_for_every_nexus(disk: Disk) -> None:
    disk.run(inquiry(), nexus=OTHER)
    disk.lu.capacity_changed()
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_CAPACITY_CHANGED)
    expect(disk.run(bytes(6), nexus=OTHER), EXPECT_POWER_ON)
    expect(disk.run(bytes(6), nexus=OTHER), EXPECT_CAPACITY_CHANGED)
    expect(disk.run(bytes(6), nexus=OTHER), EXPECT_GOOD)


def test_unitattention_lun_reset(disk: Disk) -> None:
    disk.lu.task_management(TaskManagement.LOGICAL_UNIT_RESET, NEXUS)
    expect(disk.run(bytes(6)), Expect("BUS DEVICE RESET", Status.CHECK_CONDITION, 6, 0x29, 0x03))


def test_unitattention_target_resets(disk: Disk) -> None:
    disk.run(prevent(True))
    disk.lu.task_management(TaskManagement.TARGET_WARM_RESET, NEXUS)
    expect(disk.run(bytes(6)), Expect("SCSI BUS RESET", Status.CHECK_CONDITION, 6, 0x29, 0x02))
    expect(disk.run(start_stop(False, loej=True)), EXPECT_GOOD)  # the reset cleared PREVENT
    expect(disk.run(start_stop(True, loej=True)), EXPECT_GOOD)
    expect(disk.run(start_stop(False)), EXPECT_GOOD)
    disk.lu.task_management(TaskManagement.TARGET_COLD_RESET, NEXUS)
    expect(disk.run(bytes(6)), Expect("POWER ON", Status.CHECK_CONDITION, 6, 0x29, 0x01))
    expect(disk.run(bytes(6)), EXPECT_GOOD)  # the stopped medium spun up at power on


def test_unitattention_i_t_nexus_reset_only_that_nexus(disk: Disk) -> None:
    disk.run(inquiry(), nexus=OTHER)
    disk.lu.task_management(TaskManagement.I_T_NEXUS_RESET, NEXUS)
    expect(disk.run(bytes(6)), Expect("I_T NEXUS LOSS", Status.CHECK_CONDITION, 6, 0x29, 0x07))
    expect(disk.run(bytes(6), nexus=OTHER), EXPECT_POWER_ON)
    expect(disk.run(bytes(6), nexus=OTHER), EXPECT_GOOD)


def test_unitattention_clear_task_set_tells_the_others(disk: Disk) -> None:
    disk.run(bytes(6), nexus=OTHER)
    disk.lu.task_management(TaskManagement.CLEAR_TASK_SET, NEXUS)
    expect(disk.run(bytes(6)), EXPECT_GOOD)
    resp = disk.run(bytes(6), nexus=OTHER)
    assert sense_triple(resp.sense) == (0x6, 0x2F, 0x00)


def test_unitattention_nexus_lost_starts_over(disk: Disk) -> None:
    disk.lu.nexus_lost(NEXUS)
    expect(disk.run(bytes(6)), EXPECT_POWER_ON)


# -- medium state ------------------------------------------------------------------------------


def start_stop(start: bool, loej: bool = False) -> bytes:
    return bytes((0x1B, 0, 0, 0, (1 if start else 0) | (2 if loej else 0), 0))


def prevent(on: bool) -> bytes:
    return bytes((0x1E, 0, 0, 0, 1 if on else 0, 0))


def test_startstopunit_stop_and_start(disk: Disk) -> None:
    expect(disk.run(start_stop(False)), EXPECT_GOOD)
    expect(disk.run(bytes(6)), EXPECT_NOT_READY_INIT)
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_NOT_READY_INIT)
    expect(disk.run(inquiry()), EXPECT_GOOD)
    resp = disk.run(bytes((0x03, 0, 0, 0, 252, 0)))
    assert sense_triple(bytes(resp.data_in)) == (0x2, 0x04, 0x02)
    expect(disk.run(start_stop(True)), EXPECT_GOOD)
    expect(disk.run(bytes(6)), EXPECT_GOOD)


def removable_disk() -> Disk:
    d = Disk()
    d.lu = LogicalUnit(d.slice, Identity.for_slice("iqn.2026-01.test:tgt", "part1", removable=True))
    d.lu.execute(bytes(6), b"", NEXUS)
    return d


def start_stop_cdb(immed: int, pc: int, no_flush: int, loej: int, start: int) -> bytes:
    """START STOP UNIT in libiscsi's argument order (immed, pcm=0, pc, no_flush, loej, start)."""
    return bytes((0x1B, immed, 0, 0, pc << 4 | no_flush << 2 | loej << 1 | start, 0))


def test_startstopunit_noloej_removable_stays_ready() -> None:
    """libiscsi StartStopUnit.NoLoej: LOEJ=0 never ejects; a removable unit stays accessible."""
    d = removable_disk()
    d.run(cdb10(0x2A, 0, 1), block(0x44))
    flushes = d.base.flushes
    for immed in (0, 1):
        for no_flush in (0, 1):
            for start in (0, 1):
                expect(d.run(start_stop_cdb(immed, 0, no_flush, 0, start)), EXPECT_GOOD)
                expect(d.run(bytes(6)), EXPECT_GOOD)
    assert d.base.flushes == flushes + 2  # START=0 without NO_FLUSH flushed the cache
    assert bytes(d.run(cdb10(0x28, 0, 1)).data_in) == block(0x44)
    expect(d.run(start_stop_cdb(1, 0, 0, 1, 1)), EXPECT_GOOD)  # load: already loaded


def test_startstopunit_noloej_fixed_unit_stops() -> None:
    """RMB=0: START=0 is SBC-4's stopped power condition (see test_startstopunit_stop_and_start)."""
    d = Disk()
    expect(d.run(start_stop_cdb(1, 0, 1, 0, 0)), EXPECT_GOOD)
    expect(d.run(bytes(6)), EXPECT_NOT_READY_INIT)


@pytest.mark.parametrize("pc", range(1, 16))
def test_startstopunit_pwrcnd_ignores_start_and_loej(pc: int) -> None:
    """libiscsi StartStopUnit.PwrCnd: any POWER CONDITION, LOEJ=1 START=0: nothing ejected."""
    for d in (removable_disk(), Disk()):
        expect(d.run(start_stop_cdb(1, pc, 0, 1, 0)), EXPECT_GOOD)
        expect(d.run(bytes(6)), EXPECT_GOOD)
        assert d.lu.medium == "ready"


def test_startstopunit_eject_and_load(disk: Disk) -> None:
    disk.run(inquiry(), nexus=OTHER)
    expect(disk.run(start_stop(False, loej=True)), EXPECT_GOOD)
    expect(disk.run(bytes(6)), EXPECT_NO_MEDIUM)
    expect(disk.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_NO_MEDIUM)
    expect(disk.run(start_stop(True)), EXPECT_NO_MEDIUM)
    expect(disk.run(start_stop(True, loej=True)), EXPECT_GOOD)
    expect(disk.run(bytes(6)), EXPECT_GOOD)
    expect(disk.run(bytes(6), nexus=OTHER), EXPECT_POWER_ON)
    expect(disk.run(bytes(6), nexus=OTHER), EXPECT_MEDIUM_CHANGED)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_startstopunit_eject_touches_no_other_slice() -> None:
    a, b = Disk(), Disk()
    expect(a.run(start_stop(False, loej=True)), EXPECT_GOOD)
    expect(b.run(bytes(6)), EXPECT_GOOD)


def test_preventallow_blocks_eject(disk: Disk) -> None:
    expect(disk.run(prevent(True), nexus=NEXUS), EXPECT_GOOD)
    expect(disk.run(start_stop(False, loej=True), nexus=NEXUS), EXPECT_REMOVAL_PREVENTED)
    disk.run(bytes(6), nexus=OTHER)
    expect(disk.run(start_stop(False, loej=True), nexus=OTHER), EXPECT_REMOVAL_PREVENTED)
    expect(disk.run(bytes(6)), EXPECT_GOOD)
    expect(disk.run(prevent(False)), EXPECT_GOOD)
    expect(disk.run(start_stop(False, loej=True)), EXPECT_GOOD)
    expect(disk.run(bytes(6)), EXPECT_NO_MEDIUM)
    expect(disk.run(prevent(True)), EXPECT_GOOD)
    expect(disk.run(start_stop(True, loej=True)), EXPECT_REMOVAL_PREVENTED)  # no load either
    expect(disk.run(prevent(False)), EXPECT_GOOD)
    expect(disk.run(start_stop(True, loej=True)), EXPECT_GOOD)


def test_preventallow_cleared_by_nexus_loss(disk: Disk) -> None:
    disk.run(prevent(True))
    disk.lu.nexus_lost(NEXUS)
    disk.run(bytes(6))
    expect(disk.run(start_stop(False, loej=True)), EXPECT_GOOD)


def test_preventallow_invalid_prevent_field(disk: Disk) -> None:
    expect(disk.run(bytes((0x1E, 0, 0, 0, 2, 0))), EXPECT_INVALID_FIELD_IN_CDB)


# -- what the unit supports ---------------------------------------------------------------------


def test_readdefectdata10_simple(disk: Disk) -> None:
    """libiscsi ReadDefectData10.Simple: req_plist 0, req_glist 0, format 0, alloc 32."""
    resp = disk.run(struct.pack(">BBBxxxxHB", 0x37, 0, 0, 32, 0))
    expect(resp, EXPECT_GOOD)
    assert bytes(resp.data_in) == bytes(4)
    resp = disk.run(struct.pack(">BBBxxxxHB", 0x37, 0, 0x18 | 0x05, 32, 0))
    assert bytes(resp.data_in) == bytes((0, 0x1D, 0, 0))  # PLISTV GLISTV, format echoed, empty
    assert disk.run(struct.pack(">BBBxxxxHB", 0x37, 0, 0x18, 2, 0)).data_in == b"\x00\x18"
    expect(disk.run(struct.pack(">BBBxxxxHB", 0x37, 0, 0x07, 32, 0)), EXPECT_INVALID_FIELD_IN_CDB)


def test_readdefectdata12_simple(disk: Disk) -> None:
    resp = disk.run(struct.pack(">BBIIBB", 0xB7, 0x10 | 0x03, 0, 64, 0, 0))
    expect(resp, EXPECT_GOOD)
    assert bytes(resp.data_in) == bytes((0, 0x13)) + bytes(6) and resp.data_length == 8
    expect(disk.run(struct.pack(">BBIIBB", 0xB7, 0x07, 0, 64, 0, 0)), EXPECT_INVALID_FIELD_IN_CDB)


def test_readdefectdata_needs_the_medium(disk: Disk) -> None:
    expect(disk.run(start_stop(False, loej=True)), EXPECT_GOOD)
    expect(disk.run(struct.pack(">BBBxxxxHB", 0x37, 0, 0, 32, 0)), EXPECT_NO_MEDIUM)


def test_reportsupportedopcodes_all(disk: Disk) -> None:
    resp = disk.run(rsoc())
    data = bytes(resp.data_in)
    length = struct.unpack_from(">I", data)[0]
    entries = {}
    for off in range(4, 4 + length, 8):
        op, sa, flags, cdb_len = struct.unpack_from(">BxHxBH", data, off)
        entries[(op, sa if flags & 1 else None)] = cdb_len
    assert entries[(0x28, None)] == 10 and entries[(0x88, None)] == 16
    assert entries[(0x9E, 0x10)] == 16 and (0x7F, 0x0009) not in entries
    assert (0x3B, None) not in entries  # WRITE BUFFER is refused by the default policy
    assert set(entries) == set(disk.lu.implemented)
    assert max(entries.values()) == 16  # no 32-byte CDB without type 2 protection


def test_reportsupportedopcodes_lists_32_byte_commands_when_the_policy_enables_them(
    disk32: Disk,
) -> None:
    data = bytes(disk32.run(rsoc()).data_in)
    ops = {struct.unpack_from(">BxH", data, off) for off in range(4, len(data), 8)}
    assert {(0x7F, sa) for sa in range(0x9, 0xF)} <= ops
    data = bytes(disk32.run(rsoc(2, 0x7F, 0x000B)).data_in)
    assert data[1] & 0x07 == 0x03 and struct.unpack_from(">H", data, 2)[0] == 32


@pytest.mark.parametrize("sa", range(0x9, 0xF))
def test_32_byte_media_commands_without_protection_type2_are_invalid_opcode(
    disk: Disk, sa: int
) -> None:
    """SBC-4: READ/VERIFY/WRITE/WRITE AND VERIFY/WRITE SAME (32) need type 2 protection."""
    data = block(0x5A) if sa in (0xB, 0xC, 0xD, 0xE) else b""
    expect(disk.run(cdb32(sa, 0, 1), data), EXPECT_INVALID_OPCODE)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)
    assert disk.lu.expected_data_out(cdb32(sa, 0, 1)) == 0
    assert "protection" in disk.refusals[-1].rule or "ORWRITE" in disk.refusals[-1].rule  # type: ignore[attr-defined]


def test_reportsupportedopcodes_one_command_usage_fits_16_bytes(disk: Disk) -> None:
    """libiscsi ReportSupportedOpcodes.OneCommand: every listed command's usage data, byte 0."""
    data = bytes(disk.run(rsoc()).data_in)
    for off in range(4, len(data), 8):
        op, sa, flags = struct.unpack_from(">BxHxB", data, off)
        one = bytes(disk.run(rsoc(2 if flags & 1 else 1, op, sa)).data_in)
        assert one[1] & 0x07 == 0x03
        length = struct.unpack_from(">H", one, 2)[0]
        assert 0 < length <= 16 and one[4] == op
        expect(disk.run(rsoc(1 if flags & 1 else 2, op, sa)), EXPECT_INVALID_FIELD_IN_CDB)


def test_reportsupportedopcodes_rctd_has_timeouts(disk: Disk) -> None:
    data = bytes(disk.run(rsoc(rctd=True)).data_in)
    length = struct.unpack_from(">I", data)[0]
    assert length % 20 == 0
    assert data[4 + 5] & 0x02  # CTDP
    assert struct.unpack_from(">H", data, 4 + 8)[0] == 0x0A


def test_reportsupportedopcodes_one_command(disk: Disk) -> None:
    data = bytes(disk.run(rsoc(1, 0x28)).data_in)
    assert data[1] & 0x07 == 0x03
    assert struct.unpack_from(">H", data, 2)[0] == 10
    usage = data[4:14]
    assert usage[0] == 0x28 and usage[2:6] == b"\xff" * 4 and usage[7:9] == b"\xff\xff"
    data = bytes(disk.run(rsoc(1, 0x3B)).data_in)
    assert data[1] & 0x07 == 0x01  # not supported
    data = bytes(disk.run(rsoc(2, 0x9E, 0x10, rctd=True)).data_in)
    assert data[1] == 0x83 and data[4] == 0x9E and len(data) == 4 + 16 + 12
    data = bytes(disk.run(rsoc(3, 0x28, 0)).data_in)
    assert data[1] & 0x07 == 0x03


def test_reportsupportedopcodes_invalid_combinations(disk: Disk) -> None:
    expect(disk.run(rsoc(1, 0x9E)), EXPECT_INVALID_FIELD_IN_CDB)
    expect(disk.run(rsoc(2, 0x28)), EXPECT_INVALID_FIELD_IN_CDB)
    expect(disk.run(rsoc(7)), EXPECT_INVALID_FIELD_IN_CDB)


def test_reportsupportedopcodes_allocation_length(disk: Disk) -> None:
    assert len(disk.run(rsoc(alloc=13)).data_in) == 13


def test_reportsupportedtmf(disk: Disk) -> None:
    data = bytes(disk.run(struct.pack(">BBBxxxIxx", 0xA3, 0x0D, 0, 4)).data_in)
    assert data[0] & 0x80 and data[0] & 0x08 and data[1] & 0x01


def test_unsupported_service_action(disk: Disk) -> None:
    expect(disk.run(struct.pack(">BBQIBB", 0x9E, 0x1F, 0, 32, 0, 0)), EXPECT_INVALID_FIELD_IN_CDB)


# -- policy --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cdb",
    [
        bytes((0x3B, 0x05)) + bytes(8),  # WRITE BUFFER (download microcode)
        bytes((0xB5,)) + bytes(11),  # SECURITY PROTOCOL OUT
        bytes((0x85,)) + bytes(15),  # ATA PASS-THROUGH (16)
        bytes((0x3F,)) + bytes(9),  # WRITE LONG (10)
        bytes((0xC5,)) + bytes(9),  # vendor specific
    ],
)
def test_policy_device_level_commands_refused_and_logged(disk: Disk, cdb: bytes) -> None:
    expect(disk.run(cdb), EXPECT_INVALID_OPCODE)
    rec = disk.refusals[-1]
    assert rec.initiator == NEXUS.initiator  # type: ignore[attr-defined]
    assert rec.opcode == cdb[0] and rec.rule  # type: ignore[attr-defined]


def test_policy_deny_list_by_opcode() -> None:
    d = Disk(policy=Policy(deny_opcodes=frozenset({0x42})))
    cdb, param = unmap([(1, 1)])
    expect(d.run(cdb, param), EXPECT_INVALID_OPCODE)
    assert "deny-list" in d.refusals[-1].rule  # type: ignore[attr-defined]
    assert (0x42, None) not in d.lu.implemented


def test_policy_deny_list_by_effect() -> None:
    d = Disk(policy=Policy(deny_effects=Effect.ERASES))
    expect(d.run(bytes((0x04, 0, 0, 0, 0, 0))), EXPECT_INVALID_OPCODE)
    expect(d.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_GOOD)


def test_policy_default_deny_keeps_reads() -> None:
    d = Disk(
        policy=Policy(default=Policy().default.__class__("deny"), allow_effects=Effect.READS_MEDIA)
    )
    expect(d.run(cdb10(0x28, 0, 1)), EXPECT_GOOD)
    expect(d.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_INVALID_OPCODE)
    expect(d.run(inquiry()), EXPECT_GOOD)


# -- reservations ----------------------------------------------------------------------------------


def test_reserve6_conflicts_for_other_nexus(disk: Disk) -> None:
    disk.run(bytes(6), nexus=OTHER)
    disk.run(bytes(6), nexus=OTHER)
    expect(disk.run(bytes((0x16, 0, 0, 0, 0, 0))), EXPECT_GOOD)
    expect(disk.run(cdb10(0x2A, 0, 1), block(1), nexus=OTHER), EXPECT_RESERVATION_CONFLICT)
    expect(disk.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_GOOD)
    assert "reservation conflict" in disk.refusals[-1].rule  # type: ignore[attr-defined]
    disk.lu.nexus_lost(NEXUS)
    expect(disk.run(cdb10(0x2A, 0, 1), block(1), nexus=OTHER), EXPECT_GOOD)


def test_persistentreserve_register_reserve_preempt(disk: Disk) -> None:
    def pr_out(sa: int, key: int, sakey: int, prtype: int = 0) -> tuple[bytes, bytes]:
        param = struct.pack(">QQ8x", key, sakey)
        return struct.pack(">BBBxxIB", 0x5F, sa, prtype, len(param), 0), param

    disk.run(bytes(6), nexus=OTHER)
    disk.run(bytes(6), nexus=OTHER)
    expect(disk.run(*pr_out(0, 0, 0xA)), EXPECT_GOOD)  # REGISTER
    expect(disk.run(*pr_out(0, 0, 0xB), nexus=OTHER), EXPECT_GOOD)
    expect(disk.run(*pr_out(1, 0xA, 0, 1)), EXPECT_GOOD)  # RESERVE, Write Exclusive
    expect(disk.run(cdb10(0x2A, 0, 1), block(1), nexus=OTHER), EXPECT_RESERVATION_CONFLICT)
    expect(disk.run(cdb10(0x28, 0, 1), nexus=OTHER), EXPECT_GOOD)
    expect(disk.run(*pr_out(4, 0xB, 0xA, 1), nexus=OTHER), EXPECT_GOOD)  # PREEMPT
    expect(
        disk.run(bytes(6)), Expect("REGISTRATIONS PREEMPTED", Status.CHECK_CONDITION, 6, 0x2A, 0x05)
    )


# -- transport helpers ----------------------------------------------------------------------------


def test_expected_data_out(disk: Disk) -> None:
    lu = disk.lu
    assert lu.expected_data_out(cdb10(0x2A, 0, 8)) == 8 * BS
    assert lu.expected_data_out(cdb10(0x28, 0, 8)) == 0
    assert lu.expected_data_out(compare_and_write(0, 2)) == 4 * BS
    assert lu.expected_data_out(cdb16(0x93, 0, 8, flags=1)) == 0
    assert lu.expected_data_out(cdb16(0x93, 0, 8)) == BS
    assert lu.expected_data_out(unmap([(0, 1)])[0]) == 24
    assert lu.expected_data_out(cdb10(0x2F, 0, 3, flags=0x02)) == 3 * BS
    assert lu.expected_data_out(bytes((0x3B, 2, 0, 0, 0, 0, 1, 0, 0, 0))) == 0  # refused
    assert lu.expected_data_out(b"") == 0


def test_build_sense_fixed_and_descriptor() -> None:
    fixed = build_sense(5, 0x24, 0, information=7, field=(2, None, True))
    assert fixed[0] == 0xF0 and fixed[2] == 5 and fixed[12:14] == b"\x24\x00"
    assert fixed[15] == 0xC0 and fixed[16:18] == b"\x00\x02"
    desc = build_sense(5, 0x21, 0, information=2**64 - 1, descriptor=True)
    assert desc[:4] == bytes((0x72, 5, 0x21, 0)) and sense_information(desc) == 2**64 - 1
    big = build_sense(5, 0x21, 0, information=2**40)
    assert big[0] == 0x70  # VALID=0: the LBA does not fit the fixed format


# -- mode pages -----------------------------------------------------------------------------------


def mode_sense6(page: int, alloc: int = 255) -> bytes:
    return bytes((0x1A, 0x08, page, 0, alloc, 0))  # DBD=1


def mode_select6_from_sense(sense_data: bytes) -> tuple[bytes, bytes]:
    param = bytearray(sense_data)
    param[0] = 0  # MODE DATA LENGTH is reserved in MODE SELECT
    param[2] = 0
    return bytes((0x15, 0x10, 0, 0, len(param), 0)), bytes(param)


def test_modesense6_control_page(disk: Disk) -> None:
    resp = disk.run(mode_sense6(0x0A))
    expect(resp, EXPECT_GOOD)
    assert resp.data_in[4] & 0x3F == 0x0A


def test_modeselect6_swp_write_protects_the_slice(disk: Disk) -> None:
    data = bytearray(disk.run(mode_sense6(0x0A)).data_in)
    data[4 + 4] |= 0x08  # SWP
    expect(disk.run(*mode_select6_from_sense(bytes(data))), EXPECT_GOOD)
    expect(disk.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_WRITE_PROTECTED)
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_GOOD)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)
    disk.lu.task_management(TaskManagement.LOGICAL_UNIT_RESET, NEXUS)
    disk.run(bytes(6))
    expect(disk.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_GOOD)


def test_modeselect6_d_sense_switches_to_descriptor_sense(disk: Disk) -> None:
    disk.run(inquiry(), nexus=OTHER)
    data = bytearray(disk.run(mode_sense6(0x0A)).data_in)
    data[4 + 2] |= 0x04  # D_SENSE
    expect(disk.run(*mode_select6_from_sense(bytes(data))), EXPECT_GOOD)
    resp = disk.run(cdb16(0x88, 2**64 - 1, 1))
    expect(resp, EXPECT_LBA_OUT_OF_RANGE)
    assert resp.sense[0] == 0x72 and sense_information(resp.sense) == 2**64 - 1
    disk.run(bytes(6), nexus=OTHER)  # power on
    resp = disk.run(bytes(6), nexus=OTHER)
    assert sense_triple(resp.sense) == (0x6, 0x2A, 0x01)  # MODE PARAMETERS CHANGED


def test_modeselect6_wce_off_makes_writes_durable(disk: Disk) -> None:
    data = bytearray(disk.run(mode_sense6(0x08)).data_in)
    data[4 + 2] &= ~0x04  # WCE=0
    expect(disk.run(*mode_select6_from_sense(bytes(data))), EXPECT_GOOD)
    before = disk.base.fua_writes
    expect(disk.run(cdb10(0x2A, 0, 1), block(1)), EXPECT_GOOD)
    assert disk.base.fua_writes == before + 1


# -- a slice of a real (sparse) file --------------------------------------------------------------


def test_file_backed_slice_unmap_and_get_lba_status(tmp_path: object) -> None:
    from pathlib import Path

    from sgguard.target.backend import FileBackend

    path = Path(str(tmp_path)) / "disk.img"
    base = FileBackend(path, size_bytes=8 << 20)  # 16384 blocks, sparse
    try:
        base.write(0, MARK * (BS * 16384 // 2))  # map and mark the whole file
        first, blocks = 4096, 4096
        lu = LogicalUnit(
            SliceBackend(base, first * BS, blocks * BS), Identity.for_slice("iqn.t", "file")
        )
        lu.execute(bytes(6), b"", NEXUS)
        expect(lu.execute(cdb16(0x8A, 0, 8), block(7) * 8, NEXUS), EXPECT_GOOD)
        expect(lu.execute(cdb16(0x8A, blocks, 1), block(7), NEXUS), EXPECT_LBA_OUT_OF_RANGE)
        cdb, param = unmap([(256, 256)])
        expect(lu.execute(cdb, param, NEXUS), EXPECT_GOOD)
        assert lu.execute(cdb16(0x88, 256, 1), b"", NEXUS).data_in == bytes(BS)
        extents = parse_lba_status(bytes(lu.execute(get_lba_status(0), b"", NEXUS).data_in))
        assert (256, 256, 1) in extents  # the punched hole, in slice LBAs
        assert all(lba + n <= blocks for lba, n, _ in extents)
        expect(lu.execute(cdb10(0x35, 0, 0), b"", NEXUS), EXPECT_GOOD)
        raw = path.read_bytes()
        assert raw[: first * BS] == MARK * (first * BS // 2)
        assert raw[(first + blocks) * BS :] == MARK * ((16384 - first - blocks) * BS // 2)
        assert raw[first * BS : (first + 8) * BS] == block(7) * 8
    finally:
        base.close()


def test_many_nexuses_in_threads_keep_their_own_state(disk: Disk) -> None:
    """Per-nexus unit attentions and PREVENT stay per nexus under concurrent execution."""
    errors: list[str] = []

    def worker(i: int) -> None:
        nexus = Nexus(f"iqn.thread{i},i,0x1", "iqn.t,t,0x1", 0)
        first = disk.lu.execute(bytes(6), b"", nexus)
        if sense_triple(first.sense) != (0x6, 0x29, 0x00):
            errors.append(f"{i}: first contact {first.sense.hex()}")
        for _ in range(300):
            resp = disk.lu.execute(cdb10(0x28, i, 1), b"", nexus)
            if resp.status != Status.GOOD:
                errors.append(f"{i}: {resp.status.name} {resp.sense.hex()}")
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# -- reserved bits (from the command table's CDB layouts) ---------------------------------------------


def test_read10_reserved_bits_are_invalid_field(disk: Disk) -> None:
    cdb = bytearray(cdb10(0x28, 0, 1))
    cdb[6] = 0x80  # byte 6 bits 7-6 are reserved in READ (10)
    resp = disk.run(bytes(cdb))
    expect(resp, EXPECT_INVALID_FIELD_IN_CDB)
    assert resp.sense[15] == 0xC8 | 7 and resp.sense[16:18] == b"\x00\x06"  # SKSV C/D BPV bit 7


def test_testunitready_reserved_bytes_are_invalid_field(disk: Disk) -> None:
    resp = disk.run(bytes((0x00, 0, 0, 0x10, 0, 0)))
    expect(resp, EXPECT_INVALID_FIELD_IN_CDB)
    assert resp.sense[16:18] == b"\x00\x03"


def test_reserved_bits_checked_before_anything_is_written(disk: Disk) -> None:
    cdb = bytearray(cdb16(0x8A, 0, 1))
    cdb[1] = 0x04  # byte 1 bit 2 is reserved in WRITE (16)
    resp = disk.run(bytes(cdb), block(1))
    expect(resp, EXPECT_INVALID_FIELD_IN_CDB)
    assert resp.sense[15] == 0xC8 | 2 and resp.sense[16:18] == b"\x00\x01"
    assert disk.inside(0, 1) == bytes(BS)


def test_cdb_longer_than_its_layout_is_accepted(disk: Disk) -> None:
    """Transports pad CDBs (iSCSI carries 16 bytes): only the layout's bytes count."""
    expect(disk.run(cdb10(0x28, 0, 1) + bytes(6)), EXPECT_GOOD)


def test_bench_target_runs() -> None:
    """bench/bench_target.py stays runnable (a short run; the numbers are not asserted)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "bench_target.py"
    out = subprocess.run(
        [sys.executable, str(script), "--batches", "3", "--batch-size", "20", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    results = json.loads(out.stdout)
    assert set(results) == {
        f"{name} 4KiB {kind}"
        for kind in ("memory", "slice", "null")
        for name in ("READ (10)", "WRITE (10)")
    }
    assert all(r["median_us"] > 0 for r in results.values())
