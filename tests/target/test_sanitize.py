"""SANITIZE (SBC-4, 48h) on a slice logical unit, in the style of libiscsi's test-tool.

OVERWRITE and BLOCK ERASE act on the slice's own blocks only (every test runs
through `Disk.run`, which hashes the image outside the slice after each command),
CRYPTOGRAPHIC ERASE is refused as an unsupported service action, EXIT FAILURE
MODE follows AUSE, and while a sanitize runs other commands see NOT READY,
SANITIZE IN PROGRESS with a progress indication.
"""

from __future__ import annotations

import errno
import struct
import threading

import pytest

from sgguard.policy import Policy
from sgguard.scsi.model import Effect
from sgguard.scsi.sense import decode_sense
from sgguard.target.api import Response, Status
from sgguard.target.backend import BackendIOError, LbaState, SliceBackend
from sgguard.target.lu import LogicalUnit

from .test_lu import (
    BS,
    EXPECT_GOOD,
    EXPECT_INVALID_FIELD_IN_CDB,
    EXPECT_INVALID_FIELD_IN_PARAM,
    EXPECT_INVALID_OPCODE,
    EXPECT_PARAM_LIST_LENGTH,
    EXPECT_RESERVATION_CONFLICT,
    EXPECT_WRITE_PROTECTED,
    NEXUS,
    OTHER,
    SLICE_BLOCKS,
    SLICE_FIRST,
    Disk,
    Expect,
    cdb10,
    cdb16,
    expect,
    inquiry,
    sense_triple,
)

EXPECT_SANITIZE_IN_PROGRESS = Expect(
    "SANITIZE IN PROGRESS", Status.CHECK_CONDITION, 0x2, 0x04, 0x1B
)
EXPECT_SANITIZE_FAILED = Expect("SANITIZE COMMAND FAILED", Status.CHECK_CONDITION, 0x3, 0x31, 0x03)

OVERWRITE, BLOCK_ERASE, CRYPTO_ERASE, EXIT_FAILURE_MODE = 0x01, 0x02, 0x03, 0x1F


def sanitize(sa: int, plen: int = 0, *, immed: bool = False, ause: bool = False) -> bytes:
    """A SANITIZE CDB (libiscsi scsi_cdb_sanitize's field layout)."""
    b1 = sa & 0x1F | (0x80 if immed else 0) | (0x20 if ause else 0)
    return struct.pack(">BBxxxxxHB", 0x48, b1, plen, 0)


def overwrite_param(pattern: bytes, count: int = 1, *, invert: bool = False) -> bytes:
    return bytes(((0x80 if invert else 0) | count, 0)) + struct.pack(">H", len(pattern)) + pattern


def overwrite(disk: Disk, pattern: bytes, count: int = 1, **kw: bool) -> Response:
    param = overwrite_param(pattern, count, invert=kw.pop("invert", False))
    return disk.run(sanitize(OVERWRITE, len(param), **kw), param)


def fill(disk: Disk, byte: int) -> None:
    for lba in range(0, SLICE_BLOCKS, 128):
        expect(disk.run(cdb10(0x2A, lba, 128), bytes((byte,)) * 128 * BS), EXPECT_GOOD)


def rsoc_all(disk: Disk) -> set[tuple[int, int | None]]:
    data = bytes(disk.run(struct.pack(">BBBxxxIxx", 0xA3, 0x0C, 0, 1 << 16)).data_in)
    out: set[tuple[int, int | None]] = set()
    pos = 4
    while pos + 8 <= len(data):
        op, sa, flags = data[pos], struct.unpack_from(">H", data, pos + 2)[0], data[pos + 5]
        out.add((op, sa if flags & 0x01 else None))
        pos += 20 if flags & 0x02 else 8
    return out


class Recording(SliceBackend):
    """A slice that records write_same / punch / flush calls and can fail or pause them."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.calls: list[tuple[str, int, int, bytes]] = []
        self.fail = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def write_same(self, lba: int, blocks: int, block: object, *, fua: bool = False) -> None:
        self.entered.set()
        self.release.wait(10)
        if self.fail:
            raise BackendIOError("injected EIO", errno.EIO)
        self.calls.append(("write_same", lba, blocks, bytes(block)))  # type: ignore[arg-type]
        super().write_same(lba, blocks, block, fua=fua)  # type: ignore[arg-type]

    def punch(self, lba: int, blocks: int) -> None:
        self.entered.set()
        self.release.wait(10)
        if self.fail:
            raise BackendIOError("injected EIO", errno.EIO)
        self.calls.append(("punch", lba, blocks, b""))
        super().punch(lba, blocks)

    def flush(self) -> None:
        self.calls.append(("flush", 0, 0, b""))
        super().flush()


def recording_disk(**kw: object) -> tuple[Disk, Recording]:
    disk = Disk(**kw)  # type: ignore[arg-type]
    rec = Recording(disk.base, SLICE_FIRST * BS, SLICE_BLOCKS * BS)
    disk.slice = rec
    disk.lu = LogicalUnit(rec, disk.lu.identity, disk.lu.policy, log=disk.refusals.append)
    disk.lu.execute(bytes(6), b"", NEXUS)
    disk.lu.execute(bytes(6), b"", OTHER)
    return disk, rec


@pytest.fixture
def disk() -> Disk:
    return Disk()


# -- OVERWRITE -------------------------------------------------------------------------------


def test_sanitize_overwrite_full_block_pattern(disk: Disk) -> None:
    fill(disk, ord("a"))
    expect(overwrite(disk, b"\xaa" * BS), EXPECT_GOOD)
    assert disk.inside() == b"\xaa" * SLICE_BLOCKS * BS
    data = bytes(disk.run(cdb16(0x88, SLICE_BLOCKS - 256, 256)).data_in)
    assert data == b"\xaa" * 256 * BS


def test_sanitize_overwrite_short_pattern_repeats_over_each_block(disk: Disk) -> None:
    expect(overwrite(disk, b"\x01\x02\x03"), EXPECT_GOOD)
    want = (b"\x01\x02\x03" * (BS // 3 + 1))[:BS]
    assert disk.inside() == want * SLICE_BLOCKS
    expect(overwrite(disk, b"\x5c" * (BS // 2)), EXPECT_GOOD)  # libiscsi: half a block
    assert disk.inside() == b"\x5c" * SLICE_BLOCKS * BS
    expect(overwrite(disk, b"\xde\xad\xbe\xef"), EXPECT_GOOD)  # libiscsi: 4 bytes
    assert disk.inside(SLICE_BLOCKS - 1, 1) == b"\xde\xad\xbe\xef" * (BS // 4)


@pytest.mark.parametrize(("count", "final_inverted"), [(1, False), (2, True), (3, False)])
def test_sanitize_overwrite_count_and_invert_passes(count: int, final_inverted: bool) -> None:
    disk, rec = recording_disk()
    expect(overwrite(disk, b"\x0f\x33", count, invert=True), EXPECT_GOOD)
    block = (b"\x0f\x33" * BS)[:BS]
    inverted = bytes(b ^ 0xFF for b in block)
    passes = [c[3] for c in rec.calls if c[0] == "write_same"]
    assert passes == [inverted if i % 2 else block for i in range(count)]
    assert [c[0] for c in rec.calls].count("flush") == count  # every pass flushed
    assert all(c[1:3] == (0, SLICE_BLOCKS) for c in rec.calls if c[0] == "write_same")
    assert disk.inside() == (inverted if final_inverted else block) * SLICE_BLOCKS


def test_sanitize_overwrite_without_invert_repeats_the_pattern() -> None:
    disk, rec = recording_disk()
    expect(overwrite(disk, b"\x77", 4), EXPECT_GOOD)
    assert [c[3] for c in rec.calls if c[0] == "write_same"] == [b"\x77" * BS] * 4


@pytest.mark.parametrize("plen", [0, 1, 2, 3, 4, BS + 5])
def test_sanitize_overwrite_parameter_list_length_invalid(disk: Disk, plen: int) -> None:
    fill(disk, ord("a"))
    param = overwrite_param(b"\xaa" * BS) + bytes(4)
    expect(disk.run(sanitize(OVERWRITE, plen), param[:plen]), EXPECT_INVALID_FIELD_IN_CDB)
    assert disk.inside() == b"a" * SLICE_BLOCKS * BS


@pytest.mark.parametrize(
    "param",
    [
        bytes((0x00, 0)) + struct.pack(">H", BS) + b"\xaa" * BS,  # OVERWRITE COUNT 0
        bytes((0x01, 0)) + struct.pack(">H", 0) + b"\xaa" * BS,  # PATTERN LENGTH 0
        bytes((0x01, 0)) + struct.pack(">H", BS + 4) + b"\xaa" * BS,  # > block length
        bytes((0x01, 0)) + struct.pack(">H", 16) + b"\xaa" * 8,  # > the list holds
        bytes((0x21, 0)) + struct.pack(">H", 4) + b"\xaa" * 4,  # TEST 01b
        bytes((0x01, 0x10)) + struct.pack(">H", 4) + b"\xaa" * 4,  # reserved byte 1
    ],
)
def test_sanitize_overwrite_invalid_parameter_list(disk: Disk, param: bytes) -> None:
    fill(disk, ord("a"))
    expect(disk.run(sanitize(OVERWRITE, len(param)), param), EXPECT_INVALID_FIELD_IN_PARAM)
    assert disk.inside() == b"a" * SLICE_BLOCKS * BS


def test_sanitize_overwrite_short_data_out(disk: Disk) -> None:
    param = overwrite_param(b"\xaa" * 8)
    expect(disk.run(sanitize(OVERWRITE, len(param)), param[:6]), EXPECT_PARAM_LIST_LENGTH)
    assert disk.lu.expected_data_out(sanitize(OVERWRITE, len(param))) == len(param)


def test_sanitize_overwrite_data_out_beyond_parameter_list_ignored(disk: Disk) -> None:
    param = overwrite_param(b"\x42" * 4)
    expect(disk.run(sanitize(OVERWRITE, len(param)), param + b"\xff" * 8), EXPECT_GOOD)
    assert disk.inside() == b"\x42" * SLICE_BLOCKS * BS


def test_sanitize_overwrite_immed_completes_in_the_background(disk: Disk) -> None:
    expect(overwrite(disk, b"\x11", immed=True), EXPECT_GOOD)
    assert disk.lu.wait_sanitize(10)
    assert disk.inside() == b"\x11" * SLICE_BLOCKS * BS
    expect(disk.run(bytes(6)), EXPECT_GOOD)


def test_sanitize_immed_status_before_the_operation() -> None:
    disk, rec = recording_disk()
    rec.release.clear()
    try:
        expect(disk.lu.execute(sanitize(BLOCK_ERASE, immed=True), b"", NEXUS), EXPECT_GOOD)
        assert rec.entered.wait(10)
        assert not disk.lu.wait_sanitize(0.05)  # still running
        expect(disk.lu.execute(bytes(6), b"", NEXUS), EXPECT_SANITIZE_IN_PROGRESS)
        expect(disk.lu.execute(inquiry(), b"", NEXUS), EXPECT_GOOD)
    finally:
        rec.release.set()
    assert disk.lu.wait_sanitize(10)
    expect(disk.run(bytes(6)), EXPECT_GOOD)
    assert [c[0] for c in rec.calls] == ["punch", "flush"]


def test_sanitize_immed_failure_enters_failure_mode() -> None:
    disk, rec = recording_disk()
    rec.fail = True
    expect(disk.lu.execute(overwrite_param_cdb(), overwrite_param(b"\x01"), NEXUS), EXPECT_GOOD)
    assert disk.lu.wait_sanitize(10)
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_SANITIZE_FAILED)
    expect(disk.run(sanitize(EXIT_FAILURE_MODE)), EXPECT_INVALID_FIELD_IN_CDB)  # AUSE was 0
    rec.fail = False
    expect(disk.run(sanitize(BLOCK_ERASE)), EXPECT_GOOD)
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_GOOD)
    assert disk.lu.internal_errors == 0


def overwrite_param_cdb() -> bytes:
    return sanitize(OVERWRITE, len(overwrite_param(b"\x01")), immed=True)


# -- BLOCK ERASE ------------------------------------------------------------------------------


def test_sanitize_block_erase_deallocates_the_slice(disk: Disk) -> None:
    fill(disk, ord("a"))
    expect(disk.run(sanitize(BLOCK_ERASE)), EXPECT_GOOD)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_GOOD)  # WABEREQ=01b: reads succeed
    extents = disk.slice.lba_status(0, 16)
    assert all(e.state is not LbaState.MAPPED for e in extents)
    assert sum(e.blocks for e in extents) == SLICE_BLOCKS
    gls = bytes(disk.run(struct.pack(">BBQIBB", 0x9E, 0x12, 0, 256, 0, 0)).data_in)
    body = gls[8:]
    descs = [struct.unpack_from(">QIB", body, i) for i in range(0, len(body), 16)]
    assert descs and all(state != 0 for _, _, state in descs)  # none MAPPED
    assert sum(n for _, n, _ in descs) == SLICE_BLOCKS


def test_sanitize_block_erase_punches_only_the_slice() -> None:
    disk, rec = recording_disk()
    expect(disk.run(sanitize(BLOCK_ERASE)), EXPECT_GOOD)
    assert [c[:3] for c in rec.calls] == [("punch", 0, SLICE_BLOCKS), ("flush", 0, 0)]


def test_sanitize_block_erase_parameter_list_refused(disk: Disk) -> None:
    fill(disk, ord("a"))
    expect(disk.run(sanitize(BLOCK_ERASE, 8), bytes(8)), EXPECT_INVALID_FIELD_IN_CDB)
    assert disk.inside() == b"a" * SLICE_BLOCKS * BS


# -- CRYPTOGRAPHIC ERASE, invalid service actions, reserved fields ---------------------------------


def test_sanitize_crypto_erase_refused(disk: Disk) -> None:
    fill(disk, ord("a"))
    resp = disk.run(sanitize(CRYPTO_ERASE))
    expect(resp, EXPECT_INVALID_FIELD_IN_CDB)
    sense = decode_sense(resp.sense)
    assert sense.field_pointer is not None and sense.field_pointer.field_pointer == 1
    assert disk.inside() == b"a" * SLICE_BLOCKS * BS
    assert "unsupported service action" in disk.refusals[-1].rule  # type: ignore[attr-defined]


@pytest.mark.parametrize("sa", [0x00, *range(0x04, 0x1F)])
def test_sanitize_invalid_service_action(disk: Disk, sa: int) -> None:
    expect(disk.run(sanitize(sa)), EXPECT_INVALID_FIELD_IN_CDB)


@pytest.mark.parametrize("sa", [OVERWRITE, BLOCK_ERASE, CRYPTO_ERASE])
@pytest.mark.parametrize("change", [1, 2, 3, 4, 5, 6])
def test_sanitize_reserved_fields(disk: Disk, sa: int, change: int) -> None:
    """libiscsi *EraseReserved/OverwriteReserved: ZNR (byte 1 bit 6) or bytes 2..6 set."""
    fill(disk, ord("a"))
    param = overwrite_param(b"\xaa" * BS) if sa == OVERWRITE else b""
    cdb = bytearray(sanitize(sa, len(param)))
    if change == 1:
        cdb[1] |= 0x40
    else:
        cdb[change] = change
    expect(disk.run(bytes(cdb), param), EXPECT_INVALID_FIELD_IN_CDB)
    assert disk.inside() == b"a" * SLICE_BLOCKS * BS


# -- EXIT FAILURE MODE, AUSE, failure mode ----------------------------------------------------------


def test_sanitize_exit_failure_mode_not_in_failure_mode(disk: Disk) -> None:
    expect(disk.run(sanitize(EXIT_FAILURE_MODE)), EXPECT_GOOD)
    expect(disk.run(sanitize(EXIT_FAILURE_MODE, 8), bytes(8)), EXPECT_INVALID_FIELD_IN_CDB)


def test_sanitize_failure_with_ause_then_exit_failure_mode() -> None:
    disk, rec = recording_disk()
    rec.fail = True
    expect(disk.run(sanitize(BLOCK_ERASE, ause=True)), EXPECT_SANITIZE_FAILED)
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_SANITIZE_FAILED)  # media: failure mode
    expect(disk.run(bytes(6)), EXPECT_SANITIZE_FAILED)
    expect(disk.run(inquiry()), EXPECT_GOOD)
    expect(disk.run(sanitize(EXIT_FAILURE_MODE)), EXPECT_GOOD)
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_GOOD)


def test_sanitize_failure_without_ause_needs_a_successful_sanitize() -> None:
    disk, rec = recording_disk()
    rec.fail = True
    expect(overwrite(disk, b"\x01"), EXPECT_SANITIZE_FAILED)
    expect(disk.run(sanitize(EXIT_FAILURE_MODE)), EXPECT_INVALID_FIELD_IN_CDB)
    expect(disk.run(sanitize(BLOCK_ERASE, ause=True)), EXPECT_INVALID_FIELD_IN_CDB)
    expect(disk.run(cdb10(0x2A, 0, 1), bytes(BS)), EXPECT_SANITIZE_FAILED)
    rec.fail = False
    expect(disk.run(sanitize(BLOCK_ERASE)), EXPECT_GOOD)  # a successful sanitize ends it
    expect(disk.run(cdb10(0x28, 0, 1)), EXPECT_GOOD)


# -- read-only slices, write protect, reservations, policy ---------------------------------------


@pytest.mark.parametrize("sa", [OVERWRITE, BLOCK_ERASE])
def test_sanitize_read_only_slice(sa: int) -> None:
    disk = Disk(read_only=True)
    param = overwrite_param(b"\xaa" * BS) if sa == OVERWRITE else b""
    expect(disk.run(sanitize(sa, len(param)), param), EXPECT_WRITE_PROTECTED)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)
    expect(disk.run(sanitize(EXIT_FAILURE_MODE)), EXPECT_GOOD)  # changes no block


def test_sanitize_software_write_protect(disk: Disk) -> None:
    """libiscsi Sanitize.Readonly: SWP set in the Control mode page by another nexus."""
    disk.lu.execute(bytes(6), b"", OTHER)
    ms = bytes(disk.run(struct.pack(">BBBBBB", 0x1A, 0x08, 0x0A, 0, 255, 0), nexus=OTHER).data_in)
    page = bytearray(ms[4 : 4 + 2 + ms[5]])
    page[4] |= 0x08  # SWP
    param = bytes(4) + bytes(page)
    resp = disk.run(struct.pack(">BBxxBx", 0x15, 0x10, len(param)), param, nexus=OTHER)
    expect(resp, EXPECT_GOOD)
    disk.lu.execute(bytes(6), b"", NEXUS)  # MODE PARAMETERS CHANGED
    expect(overwrite(disk, b"\xaa" * BS), EXPECT_WRITE_PROTECTED)
    expect(disk.run(sanitize(BLOCK_ERASE)), EXPECT_WRITE_PROTECTED)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)


def test_sanitize_reservation_conflict(disk: Disk) -> None:
    fill(disk, ord("a"))
    disk.lu.execute(bytes(6), b"", OTHER)
    expect(disk.run(bytes((0x16, 0, 0, 0, 0, 0)), nexus=OTHER), EXPECT_GOOD)  # RESERVE (6)
    expect(overwrite(disk, b"\xaa" * BS), EXPECT_RESERVATION_CONFLICT)
    expect(disk.run(sanitize(BLOCK_ERASE)), EXPECT_RESERVATION_CONFLICT)
    assert disk.inside() == b"a" * SLICE_BLOCKS * BS
    expect(disk.run(sanitize(BLOCK_ERASE), nexus=OTHER), EXPECT_GOOD)  # the holder may


def test_sanitize_policy_deny_by_opcode() -> None:
    disk = Disk(policy=Policy(deny_opcodes=frozenset({0x48})))
    for sa in (OVERWRITE, BLOCK_ERASE, CRYPTO_ERASE, EXIT_FAILURE_MODE):
        expect(disk.run(sanitize(sa)), EXPECT_INVALID_OPCODE)
    assert not {k for k in disk.lu.implemented if k[0] == 0x48}
    assert "deny-list" in disk.refusals[-1].rule  # type: ignore[attr-defined]


def test_sanitize_policy_deny_by_effect() -> None:
    disk = Disk(policy=Policy(deny_effects=Effect.ERASES))
    expect(overwrite(disk, b"\xaa" * BS), EXPECT_INVALID_OPCODE)
    expect(disk.run(sanitize(BLOCK_ERASE)), EXPECT_INVALID_OPCODE)
    assert disk.inside() == bytes(SLICE_BLOCKS * BS)
    assert {k for k in disk.lu.implemented if k[0] == 0x48} == {(0x48, EXIT_FAILURE_MODE)}


def test_sanitize_policy_default_allows_it(disk: Disk) -> None:
    assert {k for k in disk.lu.implemented if k[0] == 0x48} == {
        (0x48, OVERWRITE),
        (0x48, BLOCK_ERASE),
        (0x48, EXIT_FAILURE_MODE),
    }


# -- what the unit reports -----------------------------------------------------------------------


def test_sanitize_reported_in_report_supported_opcodes(disk: Disk) -> None:
    ops = rsoc_all(disk)
    assert {(0x48, OVERWRITE), (0x48, BLOCK_ERASE), (0x48, EXIT_FAILURE_MODE)} <= ops
    assert (0x48, CRYPTO_ERASE) not in ops
    one = bytes(disk.run(struct.pack(">BBBBHIxx", 0xA3, 0x0C, 0x02, 0x48, 1, 64)).data_in)
    assert one[1] & 0x07 == 0x03 and one[4] == 0x48  # supported, CDB usage data
    assert one[5] == 0xE0 | 0x1F and one[6:11] == bytes(5)  # IMMED ZNR AUSE SA; reserved
    none = bytes(disk.run(struct.pack(">BBBBHIxx", 0xA3, 0x0C, 0x02, 0x48, 3, 64)).data_in)
    assert none[1] & 0x07 == 0x01  # CRYPTOGRAPHIC ERASE: not supported


def test_sanitize_block_device_characteristics_vpd(disk: Disk) -> None:
    page = bytes(disk.run(inquiry(True, 0xB1)).data_in)
    assert page[1] == 0xB1
    assert (page[7] >> 6) & 3 == 1  # WABEREQ 01b: reads after BLOCK ERASE succeed
    assert (page[7] >> 4) & 3 == 0  # WACEREQ 00b: no CRYPTOGRAPHIC ERASE
    rc16 = bytes(disk.run(struct.pack(">BBQIBB", 0x9E, 0x10, 0, 32, 0, 0)).data_in)
    assert rc16[14] & 0xC0 == 0xC0  # LBPME, LBPRZ: erased blocks read as zeros


# -- sanitize in progress ----------------------------------------------------------------------------


def test_sanitize_in_progress_not_ready_with_progress() -> None:
    disk, rec = recording_disk()
    rec.release.clear()
    result: list[Response] = []
    worker = threading.Thread(
        target=lambda: result.append(disk.lu.execute(sanitize(BLOCK_ERASE), b"", NEXUS))
    )
    worker.start()
    try:
        assert rec.entered.wait(10)
        for cdb in (bytes(6), cdb16(0x88, 0, 1), bytes((0x1B, 0, 0, 0, 1, 0)), sanitize(2)):
            resp = disk.lu.execute(cdb, b"", OTHER)
            expect(resp, EXPECT_SANITIZE_IN_PROGRESS)
            assert decode_sense(resp.sense).progress == 0
        expect(disk.lu.execute(inquiry(), b"", OTHER), EXPECT_GOOD)
        expect(disk.lu.execute(struct.pack(">BxxxIxxxx", 0xA0, 64), b"", OTHER), EXPECT_GOOD)
        rs = disk.lu.execute(bytes((0x03, 0, 0, 0, 252, 0)), b"", OTHER)
        expect(rs, EXPECT_GOOD)
        assert sense_triple(bytes(rs.data_in)) == (0x2, 0x04, 0x1B)
        assert decode_sense(bytes(rs.data_in)).progress == 0
    finally:
        rec.release.set()
        worker.join(10)
    expect(result[0], EXPECT_GOOD)
    expect(disk.run(bytes(6), nexus=OTHER), EXPECT_GOOD)
    rs = disk.run(bytes((0x03, 0, 0, 0, 252, 0)), nexus=OTHER)
    assert sense_triple(bytes(rs.data_in)) == (0x0, 0x00, 0x00)


# -- confinement ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sa", [OVERWRITE, BLOCK_ERASE, CRYPTO_ERASE, EXIT_FAILURE_MODE])
def test_sanitize_outside_slice_untouched(sa: int) -> None:
    disk = Disk()
    before = disk.outside_hash()
    param = overwrite_param(b"\xff" * BS, 3, invert=True) if sa == OVERWRITE else b""
    disk.run(sanitize(sa, len(param)), param)  # Disk.run hashes the outside after each command
    assert disk.outside_hash() == before
    assert disk.base.buffer[: 256 * BS] == b"\xa5\x5a" * (128 * BS)


def test_sanitize_in_progress_refuses_third_party_copy() -> None:
    disk, rec = recording_disk()
    rec.release.clear()
    try:
        expect(disk.lu.execute(sanitize(BLOCK_ERASE, immed=True), b"", NEXUS), EXPECT_GOOD)
        assert rec.entered.wait(10)
        why = disk.lu.copy_refusal(OTHER, write=True)
        assert why is not None and "sanitized" in why
    finally:
        rec.release.set()
    assert disk.lu.wait_sanitize(10)
    assert disk.lu.copy_refusal(OTHER, write=True) is None
