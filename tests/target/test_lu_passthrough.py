"""The SG_IO pass-through flavour: pure rewrite functions, and the unit over a device model.

The "device" here is a `LogicalUnit` over a whole memory disk behind an object
with `sgguard.sgio.SgDevice.execute`'s signature, so rewritten CDBs are executed
by a real SBC-4 implementation (the real SG_IO path is the lab's, in a guest).
"""

from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass

from sgguard.policy import Policy
from sgguard.target.api import Nexus, Status
from sgguard.target.backend import MemoryBackend
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit, build_sense
from sgguard.target.passthrough import (
    PassthroughLogicalUnit,
    rewrite_inquiry,
    rewrite_lba_status,
    rewrite_media_cdb,
    rewrite_read_capacity10,
    rewrite_read_capacity16,
    rewrite_unmap_parameters,
    rewrite_vpd,
    translate_sense,
)
from tests.target.test_fuzz_lu import random_command
from tests.target.test_lu import (
    EXPECT_GOOD,
    EXPECT_IU_MISMATCH,
    EXPECT_LBA_OUT_OF_RANGE,
    cdb10,
    cdb16,
    cdb32,
    expect,
    get_lba_status,
    inquiry,
    read6,
    read_capacity16,
    sense_information,
    sense_triple,
    unmap,
)

BS = 512
DISK = 4096
FIRST = 1000
BLOCKS = 2000
MARK = b"\xa5\x5a"
NX = Nexus("iqn.i,i,0x1", "iqn.t,t,0x1", 0)
DEVICE_NEXUS = Nexus("sgguard-passthrough", "device", 0)


@dataclass(frozen=True)
class Result:
    status: int
    sense: bytes
    data: bytes
    resid: int
    host_status: int = 0
    driver_status: int = 0
    errno_name: str | None = None


class DeviceModel:
    """A whole disk answering SG_IO-shaped calls; records every CDB it receives."""

    def __init__(self) -> None:
        self.disk = MemoryBackend(DISK, BS)
        self.disk.buffer[:] = MARK * (len(self.disk.buffer) // 2)
        lo, hi = FIRST * BS, (FIRST + BLOCKS) * BS
        self.disk.buffer[lo:hi] = bytes(hi - lo)
        self.unit = LogicalUnit(self.disk, Identity.for_slice("device", "whole-disk"))
        self.unit.execute(bytes(6), b"", DEVICE_NEXUS)
        self.cdbs: list[bytes] = []
        self.fail_read_at: int | None = None

    def execute(
        self, cdb: bytes, data_out: bytes = b"", data_in_len: int = 0, timeout_ms: int = 20_000
    ) -> Result:
        self.cdbs.append(bytes(cdb))
        if self.fail_read_at is not None and cdb[0] == 0x88:
            return Result(
                2, build_sense(0x3, 0x11, 0x00, information=self.fail_read_at), b"", data_in_len
            )
        resp = self.unit.execute(cdb, data_out, DEVICE_NEXUS)
        data = bytes(resp.data_in)[:data_in_len]
        return Result(int(resp.status), resp.sense, data, data_in_len - len(data))

    def outside_hash(self) -> str:
        buf = bytes(self.disk.buffer)
        return hashlib.sha256(buf[: FIRST * BS] + buf[(FIRST + BLOCKS) * BS :]).hexdigest()


def make(policy: Policy | None = None) -> tuple[DeviceModel, PassthroughLogicalUnit]:
    dev = DeviceModel()
    lu = PassthroughLogicalUnit(dev, FIRST, BLOCKS, BS, Identity.for_slice("iqn.t", "p1"), policy)
    lu.execute(bytes(6), b"", NX)
    return dev, lu


# -- pure rewrites ---------------------------------------------------------------------------


def test_rewrite_read10_shifts_the_lba() -> None:
    out = rewrite_media_cdb(cdb10(0x28, 5, 8, flags=0x08), 100, 1000)
    assert out == (cdb10(0x28, 105, 8, flags=0x08),)


def test_rewrite_read10_grows_to_read16_when_the_lba_needs_it() -> None:
    cdb = bytearray(cdb10(0x28, 7, 8, flags=0x18))
    cdb[6] = 0x05  # group number
    cdb[9] = 0x04  # control
    (out,) = rewrite_media_cdb(bytes(cdb), 2**32 - 4, 1000)
    assert out[0] == 0x88 and out[1] == 0x18
    assert struct.unpack_from(">QI", out, 2) == (2**32 + 3, 8)
    assert out[14] == 0x05 and out[15] == 0x04


def test_rewrite_write12_grows_to_write16() -> None:
    (out,) = rewrite_media_cdb(struct.pack(">BBIIBB", 0xAA, 0x08, 1, 3, 0, 0), 2**40, 100)
    assert out[0] == 0x8A and struct.unpack_from(">QI", out, 2) == (2**40 + 1, 3)


def test_rewrite_read6_stays_or_grows() -> None:
    assert rewrite_media_cdb(read6(1, 0), 10, 1000) == (read6(11, 0),)
    (out,) = rewrite_media_cdb(read6(1, 0), 0x200000, 1000)
    assert out[0] == 0x28 and struct.unpack_from(">I", out, 2)[0] == 0x200001
    assert struct.unpack_from(">H", out, 7)[0] == 256  # transfer length 0 of READ (6) is 256


def test_rewrite_writesame_zero_blocks_ends_at_the_slice() -> None:
    (out,) = rewrite_media_cdb(cdb10(0x41, 10, 0, flags=0x08), 100, 1000)
    assert out == cdb10(0x41, 110, 990, flags=0x08)
    (out,) = rewrite_media_cdb(cdb16(0x93, 10, 0, flags=0x01), 2**33, 2**20)
    assert struct.unpack_from(">QI", out, 2) == (2**33 + 10, 2**20 - 10) and out[1] == 0x01
    cdbs = rewrite_media_cdb(cdb16(0x93, 0, 0), 0, 2**33)
    assert len(cdbs) == 3 and sum(struct.unpack_from(">I", c, 10)[0] for c in cdbs) == 2**33


def test_rewrite_writesame10_zero_blocks_grows_when_the_count_needs_it() -> None:
    (out,) = rewrite_media_cdb(cdb10(0x41, 0, 0), 0, 0x10000)
    assert out[0] == 0x93 and struct.unpack_from(">I", out, 10)[0] == 0x10000


def test_rewrite_synchronizecache_zero_blocks_is_explicit() -> None:
    (out,) = rewrite_media_cdb(cdb10(0x35, 0, 0), 500, 300)
    assert out == cdb10(0x35, 500, 300)
    assert rewrite_media_cdb(cdb10(0x35, 300, 0), 500, 300) == ()


def test_rewrite_read32_and_compareandwrite() -> None:
    (out,) = rewrite_media_cdb(cdb32(0x0009, 7, 2), 1000, 2000)
    assert out == cdb32(0x0009, 1007, 2)
    caw = struct.pack(">BBQxxxBxx", 0x89, 0x08, 4, 1)
    assert rewrite_media_cdb(caw, 1000, 2000) == (struct.pack(">BBQxxxBxx", 0x89, 0x08, 1004, 1),)


def test_rewrite_unmap_parameters() -> None:
    _, param = unmap([(1, 2), (10, 3)])
    out = rewrite_unmap_parameters(param, 1000)
    assert struct.unpack_from(">QI", out, 8) == (1001, 2)
    assert struct.unpack_from(">QI", out, 24) == (1010, 3)


def test_rewrite_read_capacity() -> None:
    assert rewrite_read_capacity10(struct.pack(">II", 2**32 - 1, 512), 2000) == struct.pack(
        ">II", 1999, 512
    )
    assert rewrite_read_capacity10(struct.pack(">II", 9, 512), 2**33)[:4] == b"\xff" * 4
    dev = bytearray(32)
    struct.pack_into(">QI", dev, 0, 2**40, 512)
    dev[13] = 0x03  # 8 logical blocks per physical block
    dev[14] = 0xC0  # LBPME, LBPRZ; lowest aligned LBA 0
    out = rewrite_read_capacity16(bytes(dev), 5, 2000)
    assert struct.unpack_from(">QI", out, 0) == (1999, 512)
    assert out[14] & 0xC0 == 0xC0
    assert ((out[14] & 0x3F) << 8 | out[15]) == 3  # slice LBA 3 = device LBA 8, aligned


def test_rewrite_lba_status_clips_and_translates() -> None:
    descs = struct.pack(">QIB3x", 0, 1005, 0) + struct.pack(">QIB3x", 1005, 5000, 1)
    data = struct.pack(">I4x", len(descs) + 4) + descs
    out = rewrite_lba_status(data, 1000, 2000, 2)
    assert struct.unpack_from(">I", out)[0] == 4 + 32
    assert struct.unpack_from(">QIB", out, 8) == (2, 3, 0)
    assert struct.unpack_from(">QIB", out, 24) == (5, 1995, 1)


def test_rewrite_inquiry_and_vpd() -> None:
    std = bytearray(36)
    std[5] = 0x38  # TPGS=11b, 3PC
    std[6] = 0x10
    out = rewrite_inquiry(bytes(std))
    assert out[5] & 0x38 == 0 and out[6] & 0x10 == 0
    ident = Identity.for_slice("iqn.t", "p1")
    page83 = rewrite_vpd(0x83, b"", ident)
    assert page83 is not None and ident.naa in page83
    assert (
        rewrite_vpd(0x80, b"", ident)
        == b"\x00\x80\x00" + bytes((len(ident.serial),)) + ident.serial.encode()
    )
    pages = bytes((0, 0, 0, 5, 0x00, 0x80, 0x83, 0x89, 0xB0))
    assert rewrite_vpd(0x00, pages, ident) == bytes((0, 0, 0, 4, 0x00, 0x80, 0x83, 0xB0))
    assert rewrite_vpd(0x89, bytes((0, 0x89, 0, 0)), ident) is None


def test_translate_sense() -> None:
    fixed = build_sense(0x3, 0x11, 0x00, information=1003)
    assert sense_information(translate_sense(fixed, 1000, 2000)) == 3
    assert sense_information(translate_sense(fixed, 0, 1000)) is None  # outside: dropped
    desc = build_sense(0x3, 0x11, 0x00, information=2**40 + 7, descriptor=True)
    assert sense_information(translate_sense(desc, 2**40, 100)) == 7
    assert sense_information(translate_sense(desc, 0, 100)) is None
    miscompare = build_sense(0xE, 0x1D, 0x00, information=17)
    assert translate_sense(miscompare, 10, 100) == miscompare


# -- the unit over the device model -------------------------------------------------------------


def test_passthrough_write_read_land_in_the_slice() -> None:
    dev, lu = make()
    before = dev.outside_hash()
    expect(lu.execute(cdb10(0x2A, 0, 2), b"\x11" * 2 * BS, NX), EXPECT_GOOD)
    expect(lu.execute(cdb16(0x8A, BLOCKS - 1, 1), b"\x22" * BS, NX), EXPECT_GOOD)
    assert bytes(dev.disk.buffer[FIRST * BS : (FIRST + 2) * BS]) == b"\x11" * 2 * BS
    assert bytes(lu.execute(cdb16(0x88, BLOCKS - 1, 1), b"", NX).data_in) == b"\x22" * BS
    assert dev.outside_hash() == before
    assert any(c[0] == 0x2A and struct.unpack_from(">I", c, 2)[0] == FIRST for c in dev.cdbs)


def test_passthrough_padded_cdbs_from_a_transport() -> None:
    """iSCSI carries every CDB in 16 bytes: READ (10) and UNMAP arrive padded."""
    dev, lu = make()
    expect(lu.execute(cdb10(0x2A, 3, 1) + bytes(6), b"\x55" * BS, NX), EXPECT_GOOD)
    assert bytes(lu.execute(cdb10(0x28, 3, 1) + bytes(6), b"", NX).data_in) == b"\x55" * BS
    cdb, param = unmap([(3, 1)])
    expect(lu.execute(cdb + bytes(6), param, NX), EXPECT_GOOD)
    assert bytes(dev.disk.buffer[(FIRST + 3) * BS : (FIRST + 4) * BS]) == bytes(BS)
    assert all(len(c) in (6, 10, 12, 16, 32) for c in dev.cdbs)


def test_passthrough_beyond_eol_never_reaches_the_device() -> None:
    dev, lu = make()
    sent = len(dev.cdbs)
    for cdb in (cdb10(0x2A, BLOCKS, 1), cdb16(0x8A, 2**64 - 1, 1), cdb10(0x28, BLOCKS - 1, 2)):
        data = b"\x33" * BS * (0 if cdb[0] == 0x28 else 1)
        expect(lu.execute(cdb, data, NX), EXPECT_LBA_OUT_OF_RANGE)
    expect(lu.execute(cdb10(0x2A, 0, 2), b"\x33" * (BS + 7), NX), EXPECT_IU_MISMATCH)
    cdb, param = unmap([(0, 1), (BLOCKS, 1)])
    expect(lu.execute(cdb, param, NX), EXPECT_LBA_OUT_OF_RANGE)
    assert len(dev.cdbs) == sent


def test_passthrough_write_residuals_forward_the_blocks_received() -> None:
    """libiscsi iSCSIResiduals: EDTL below the transfer length writes the blocks received."""
    dev, lu = make()
    expect(lu.execute(cdb10(0x2A, 0, 2), b"\x61" * 2 * BS, NX), EXPECT_GOOD)
    resp = lu.execute(cdb10(0x2A, 0, 2), b"\x62" * BS, NX)  # one block of two arrived
    expect(resp, EXPECT_GOOD)
    assert resp.data_length == 2 * BS
    assert struct.unpack_from(">H", dev.cdbs[-1], 7)[0] == 1  # the device was asked for one
    resp = lu.execute(cdb16(0x8E, 1, 1), b"\x63" * 2 * BS, NX)  # EDTL above: cut to one
    expect(resp, EXPECT_GOOD)
    got = bytes(dev.disk.buffer[FIRST * BS : (FIRST + 3) * BS])
    assert got == b"\x62" * BS + b"\x63" * BS + bytes(BS)
    sent = len(dev.cdbs)
    expect(lu.execute(cdb10(0x2A, 0, 1), b"", NX), EXPECT_GOOD)  # EDTL 0: nothing to write
    assert len(dev.cdbs) == sent


def test_passthrough_data_out_on_a_read_is_ignored_and_caw_mismatch_refused() -> None:
    dev, lu = make()
    expect(lu.execute(cdb10(0x2A, 0, 1), b"\x21" * BS, NX), EXPECT_GOOD)
    resp = lu.execute(cdb10(0x28, 0, 1), b"\xa6" * BS, NX)  # libiscsi Read10Invalid
    expect(resp, EXPECT_GOOD)
    assert bytes(resp.data_in) == b"\x21" * BS
    sent = len(dev.cdbs)
    caw = struct.pack(">BBQxxxBxx", 0x89, 0, 0, 0)  # 256 blocks wrapped to 0, data follows
    resp = lu.execute(caw, b"\x21" * 4 * BS, NX)
    assert sense_triple(resp.sense) == (0x5, 0x24, 0x00)
    assert len(dev.cdbs) == sent


def test_passthrough_inquiry_describes_the_slice() -> None:
    dev, lu = make()
    data = bytes(lu.execute(inquiry(True, 0x83), b"", NX).data_in)
    assert lu.identity.naa in data and dev.unit.identity.naa not in data
    data = bytes(lu.execute(inquiry(True, 0x80), b"", NX).data_in)
    assert lu.identity.serial.encode() in data and dev.unit.identity.serial.encode() not in data
    resp = lu.execute(inquiry(alloc=8), b"", NX)
    assert len(resp.data_in) == 8 and resp.data_length == 96
    data = bytes(lu.execute(inquiry(True, 0xB0), b"", NX).data_in)
    assert data[1] == 0xB0
    assert struct.unpack_from(">I", data, 8)[0] <= lu.limits.max_transfer
    limits = bytearray(data)
    struct.pack_into(">I", limits, 8, 0)  # a device without a transfer limit
    out = rewrite_vpd(0xB0, bytes(limits), lu.identity, max_transfer=128)
    assert out is not None and struct.unpack_from(">I", out, 8)[0] == 128


def test_passthrough_read_capacity_describes_the_slice() -> None:
    _, lu = make()
    assert struct.unpack(">II", lu.execute(cdb10(0x25, 0, 0), b"", NX).data_in) == (BLOCKS - 1, BS)
    data = bytes(lu.execute(read_capacity16(), b"", NX).data_in)
    assert struct.unpack_from(">QI", data) == (BLOCKS - 1, BS)
    assert len(lu.execute(read_capacity16(alloc=4), b"", NX).data_in) == 4


def test_passthrough_get_lba_status_is_clipped() -> None:
    dev, lu = make()
    dev.disk.write(0, bytes(DISK * BS))  # map the whole device, outside included
    dev.disk.punch(FIRST + 10, 5)
    data = bytes(lu.execute(get_lba_status(8), b"", NX).data_in)
    length = struct.unpack_from(">I", data)[0]
    extents = [struct.unpack_from(">QIB", data, off) for off in range(8, 4 + length, 16)]
    assert extents[0] == (8, 2, 0) and extents[1] == (10, 5, 1)
    assert all(lba + n <= BLOCKS for lba, n, _ in extents)
    expect(lu.execute(get_lba_status(BLOCKS), b"", NX), EXPECT_LBA_OUT_OF_RANGE)


def test_passthrough_unmap_shifts_descriptors() -> None:
    dev, lu = make()
    lu.execute(cdb10(0x2A, 4, 2), b"\x44" * 2 * BS, NX)
    cdb, param = unmap([(4, 1)])
    expect(lu.execute(cdb, param, NX), EXPECT_GOOD)
    assert bytes(dev.disk.buffer[(FIRST + 4) * BS : (FIRST + 6) * BS]) == bytes(BS) + b"\x44" * BS


def test_passthrough_media_error_lba_is_translated() -> None:
    dev, lu = make()
    dev.fail_read_at = FIRST + 7
    resp = lu.execute(cdb16(0x88, 5, 4), b"", NX)
    assert sense_triple(resp.sense) == (0x3, 0x11, 0x00)
    assert sense_information(resp.sense) == 7
    dev.fail_read_at = 5  # an LBA outside the slice is never shown
    resp = lu.execute(cdb16(0x88, 5, 4), b"", NX)
    assert sense_information(resp.sense) is None


def test_passthrough_transport_failure_is_hardware_error() -> None:
    dev, lu = make()

    def broken(
        cdb: bytes, data_out: bytes = b"", data_in_len: int = 0, timeout_ms: int = 0
    ) -> Result:
        return Result(0, b"", b"", 0, errno_name="EIO")

    dev.execute = broken  # type: ignore[method-assign]
    resp = lu.execute(cdb10(0x28, 0, 1), b"", NX)
    assert resp.status == Status.CHECK_CONDITION and sense_triple(resp.sense) == (0x4, 0x44, 0x00)
    assert "SG_IO failed" in lu.refusals[-1].rule


def test_passthrough_confinement_under_random_commands() -> None:
    # 32-byte media commands enabled (a disk with type 2 protection): confined as well
    dev, lu = make(Policy(allow_opcodes=frozenset({0x7F})))
    before = dev.outside_hash()
    rng = random.Random(7)
    for i in range(3000):
        cdb, data = random_command(rng, lu)
        resp = lu.execute(cdb, data, NX)
        assert MARK * 3 not in bytes(resp.data_in), cdb.hex()
        if i % 200 == 0:
            assert dev.outside_hash() == before
            lu.execute(bytes((0x1B, 0, 0, 0, 0x03, 0)), b"", NX)  # load again after ejects
    assert dev.outside_hash() == before
    assert lu.internal_errors == 0, list(lu.refusals)[-3:]


def test_passthrough_wce_off_syncs_after_each_write() -> None:
    dev, lu = make()
    sense = bytes(lu.execute(bytes((0x1A, 0x08, 0x08, 0, 255, 0)), b"", NX).data_in)
    page = bytearray(sense)
    page[0] = 0
    page[4 + 2] &= ~0x04  # Caching page: WCE=0
    select = bytes((0x15, 0x10, 0, 0, len(page), 0))
    expect(lu.execute(select, bytes(page), NX), EXPECT_GOOD)
    sent = len(dev.cdbs)
    expect(lu.execute(cdb10(0x2A, 0, 1), b"\x01" * BS, NX), EXPECT_GOOD)
    assert [c[0] for c in dev.cdbs[sent:]] == [0x2A, 0x91]
    sync = dev.cdbs[-1]
    assert struct.unpack_from(">QI", sync, 2) == (FIRST, BLOCKS)  # only the slice is flushed
    expect(lu.execute(cdb10(0x28, 0, 1), b"", NX), EXPECT_GOOD)
    assert dev.cdbs[-1][0] == 0x28  # reads need no sync


def test_passthrough_device_check_condition_with_driver_sense_is_relayed() -> None:
    # the kernel sets DRIVER_SENSE (0x08) on every CHECK CONDITION with sense: that is
    # the device's answer, relayed with its own sense, not a transport failure
    dev, lu = make()

    def answers_illegal_request(
        cdb: bytes, data_out: bytes = b"", data_in_len: int = 0, timeout_ms: int = 0
    ) -> Result:
        return Result(2, build_sense(0x5, 0x24, 0x00), b"", data_in_len, driver_status=0x08)

    dev.execute = answers_illegal_request  # type: ignore[method-assign]
    resp = lu.execute(cdb10(0x28, 0, 1), b"", NX)
    assert resp.status == Status.CHECK_CONDITION
    assert sense_triple(resp.sense) == (0x5, 0x24, 0x00)
    assert lu.internal_errors == 0
    assert not any("SG_IO failed" in r.rule for r in lu.refusals)


def test_passthrough_driver_timeout_is_a_transport_failure() -> None:
    dev, lu = make()

    def times_out(
        cdb: bytes, data_out: bytes = b"", data_in_len: int = 0, timeout_ms: int = 0
    ) -> Result:
        return Result(0, b"", b"", data_in_len, driver_status=0x06)

    dev.execute = times_out  # type: ignore[method-assign]
    resp = lu.execute(cdb10(0x28, 0, 1), b"", NX)
    assert sense_triple(resp.sense) == (0x4, 0x44, 0x00)


def test_passthrough_wce_off_falls_back_to_synchronize_cache_10() -> None:
    # a device that knows only SYNCHRONIZE CACHE (10) (QEMU's emulated disk)
    dev, lu = make()
    real = dev.execute

    def no_sync16(
        cdb: bytes, data_out: bytes = b"", data_in_len: int = 0, timeout_ms: int = 20_000
    ) -> Result:
        if cdb[0] == 0x91:
            dev.cdbs.append(bytes(cdb))
            return Result(2, build_sense(0x5, 0x20, 0x00), b"", 0, driver_status=0x08)
        return real(cdb, data_out, data_in_len, timeout_ms)

    dev.execute = no_sync16  # type: ignore[method-assign]
    page = bytearray(lu.execute(bytes((0x1A, 0x08, 0x08, 0, 255, 0)), b"", NX).data_in)
    page[0] = 0
    page[4 + 2] &= ~0x04  # Caching page: WCE=0
    expect(lu.execute(bytes((0x15, 0x10, 0, 0, len(page), 0)), bytes(page), NX), EXPECT_GOOD)
    sent = len(dev.cdbs)
    expect(lu.execute(cdb10(0x2A, 0, 1), b"\x01" * BS, NX), EXPECT_GOOD)
    assert [c[0] for c in dev.cdbs[sent:]] == [0x2A, 0x91, 0x35]
    assert struct.unpack_from(">IxH", dev.cdbs[-1], 2) == (FIRST, BLOCKS)


def test_sgio_backend_flush_falls_back_to_synchronize_cache_10() -> None:
    from sgguard.target.passthrough import SgioBackend

    dev = DeviceModel()
    sent: list[bytes] = []

    def no_sync16(
        cdb: bytes, data_out: bytes = b"", data_in_len: int = 0, timeout_ms: int = 20_000
    ) -> Result:
        sent.append(bytes(cdb))
        if cdb[0] == 0x91:
            return Result(2, build_sense(0x5, 0x20, 0x00), b"", 0, driver_status=0x08)
        return Result(0, b"", b"", 0)

    dev.execute = no_sync16  # type: ignore[method-assign]
    SgioBackend(dev, FIRST, BLOCKS, BS).flush()
    assert [c[0] for c in sent] == [0x91, 0x35]
