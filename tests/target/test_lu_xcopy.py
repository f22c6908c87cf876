"""EXTENDED COPY (LID1) and RECEIVE COPY RESULTS between slices (libiscsi test-tool style).

Three slices of one memory image: initiator A may use slices 1 and 2, initiator
B only slice 3. Copies run only between the slices the initiator may use.
"""

from __future__ import annotations

import hashlib
import struct

from sgguard.target.api import Nexus, Status
from sgguard.target.backend import MemoryBackend, SliceBackend
from sgguard.target.copymanager import CopyManager
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit
from tests.target.test_lu import (
    EXPECT_GOOD,
    EXPECT_INVALID_FIELD_IN_CDB,
    Expect,
    expect,
    sense_triple,
)

BS = 512
SLICE = 64
A = Nexus("iqn.a,i,0x1", "iqn.t,t,0x1", 0)
B = Nexus("iqn.b,i,0x1", "iqn.t,t,0x1", 0)

EXPECT_NOT_REACHABLE = Expect(
    "COPY TARGET DEVICE NOT REACHABLE", Status.CHECK_CONDITION, 0xA, 0x0D, 0x02
)
EXPECT_UNSUPPORTED_SEGMENT = Expect(
    "UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE", Status.CHECK_CONDITION, 0x5, 0x26, 0x09
)
EXPECT_UNSUPPORTED_CSCD = Expect(
    "UNSUPPORTED TARGET DESCRIPTOR TYPE CODE", Status.CHECK_CONDITION, 0x5, 0x26, 0x07
)
EXPECT_COPY_ABORTED_LBA = Expect(
    "COPY ABORTED (beyond the end)", Status.CHECK_CONDITION, 0xA, 0x00, 0x00
)
EXPECT_PARAM_LIST_LENGTH = Expect(
    "PARAMETER LIST LENGTH ERROR", Status.CHECK_CONDITION, 0x5, 0x1A, 0x00
)
EXPECT_WRITE_PROTECTED = Expect("WRITE PROTECTED", Status.CHECK_CONDITION, 0x7, 0x27, 0x00)


class Site:
    def __init__(self, read_only_second: bool = False) -> None:
        self.base = MemoryBackend(4 * SLICE, BS)
        self.base.buffer[:] = b"\xee" * len(self.base.buffer)
        self.log: list[object] = []
        acl = {A.initiator: (1, 2), B.initiator: (3,)}
        self.units: dict[int, LogicalUnit] = {}
        self.manager = CopyManager(lambda nx: [self.units[i] for i in acl.get(nx.initiator, ())])
        for i in (1, 2, 3):
            self.units[i] = LogicalUnit(
                SliceBackend(self.base, i * SLICE * BS, SLICE * BS),
                Identity.for_slice("iqn.t", f"p{i}"),
                read_only=read_only_second and i == 2,
                log=self.log.append,
                copy_manager=self.manager,
            )
            for nx in (A, B):
                self.units[i].execute(bytes(6), b"", nx)

    def blocks(self, unit: int, lba: int, n: int) -> bytes:
        off = (unit * SLICE + lba) * BS
        return bytes(self.base.buffer[off : off + n * BS])

    def fill(self, unit: int, lba: int, data: bytes) -> None:
        off = (unit * SLICE + lba) * BS
        self.base.buffer[off : off + len(data)] = data

    def hash_all_but(self, unit: int) -> str:
        buf = bytes(self.base.buffer)
        lo, hi = unit * SLICE * BS, (unit + 1) * SLICE * BS
        return hashlib.sha256(buf[:lo] + buf[hi:]).hexdigest()


def cscd(naa: bytes, block_length: int = BS, type_code: int = 0xE4, pdt: int = 0) -> bytes:
    out = bytearray(32)
    out[0] = type_code
    out[1] = pdt
    out[4:8] = bytes((0x01, 0x03, 0x00, 16))
    out[8:24] = naa
    out[29:32] = block_length.to_bytes(3, "big")
    return bytes(out)


def segment(
    src: int, dst: int, blocks: int, src_lba: int, dst_lba: int, type_code: int = 0x02
) -> bytes:
    return struct.pack(">BBHHHxxHQQ", type_code, 0, 0x18, src, dst, blocks, src_lba, dst_lba)


def xcopy(cscds: list[bytes], segments: list[bytes], list_id: int = 7) -> tuple[bytes, bytes]:
    c, s = b"".join(cscds), b"".join(segments)
    param = struct.pack(">BBHxxxxII", list_id, 0, len(c), len(s), 0) + c + s
    return struct.pack(">BBxxxxxxxxIxx", 0x83, 0x00, len(param)), param


def receive_copy_results(sa: int, list_id: int = 7, alloc: int = 1024) -> bytes:
    return struct.pack(">BBBxxxxxxxIxx", 0x84, sa, list_id, alloc)


def test_extendedcopy_between_slices_of_the_same_initiator() -> None:
    site = Site()
    site.fill(1, 3, b"\x11" * 4 * BS)
    before = site.hash_all_but(2)
    u1, u2 = site.units[1], site.units[2]
    cdb, param = xcopy([cscd(u1.identity.naa), cscd(u2.identity.naa)], [segment(0, 1, 4, 3, 10)])
    expect(u1.execute(cdb, param, A), EXPECT_GOOD)
    assert site.blocks(2, 10, 4) == b"\x11" * 4 * BS
    assert site.hash_all_but(2) == before
    data = bytes(u1.execute(receive_copy_results(0x00), b"", A).data_in)
    assert data[4] == 0x01  # completed, good
    assert struct.unpack_from(">H", data, 5)[0] == 1
    assert struct.unpack_from(">I", data, 8)[0] == 4 * BS


def test_extendedcopy_to_another_initiators_slice_is_refused() -> None:
    site = Site()
    before = hashlib.sha256(bytes(site.base.buffer)).hexdigest()
    u1, u3 = site.units[1], site.units[3]
    cdb, param = xcopy([cscd(u1.identity.naa), cscd(u3.identity.naa)], [segment(0, 1, 4, 0, 0)])
    expect(u1.execute(cdb, param, A), EXPECT_NOT_REACHABLE)
    assert hashlib.sha256(bytes(site.base.buffer)).hexdigest() == before
    assert "may use" in site.log[-1].rule  # type: ignore[attr-defined]


def test_extendedcopy_from_another_initiators_slice_is_refused() -> None:
    site = Site()
    u1, u3 = site.units[1], site.units[3]
    cdb, param = xcopy([cscd(u3.identity.naa), cscd(u1.identity.naa)], [segment(0, 1, 4, 0, 0)])
    expect(u1.execute(cdb, param, A), EXPECT_NOT_REACHABLE)
    assert site.blocks(1, 0, 4) == b"\xee" * 4 * BS


def test_extendedcopy_unknown_naa_is_refused() -> None:
    site = Site()
    u1 = site.units[1]
    shared_disk_naa = bytes.fromhex("6001405abcdef0123456789abcdef012")
    cdb, param = xcopy([cscd(u1.identity.naa), cscd(shared_disk_naa)], [segment(0, 1, 1, 0, 0)])
    expect(u1.execute(cdb, param, A), EXPECT_NOT_REACHABLE)


def test_extendedcopy_beyond_eol_writes_nothing() -> None:
    site = Site()
    u1, u2 = site.units[1], site.units[2]
    before = hashlib.sha256(bytes(site.base.buffer)).hexdigest()
    for seg in (
        segment(0, 1, 2, 0, SLICE - 1),
        segment(0, 1, 2, SLICE - 1, 0),
        segment(0, 1, 1, 2**64 - 1, 0),
    ):
        cdb, param = xcopy(
            [cscd(u1.identity.naa), cscd(u2.identity.naa)], [segment(0, 1, 1, 0, 0), seg]
        )
        expect(u1.execute(cdb, param, A), EXPECT_COPY_ABORTED_LBA)
    assert hashlib.sha256(bytes(site.base.buffer)).hexdigest() == before


def test_extendedcopy_unsupported_segment_and_cscd_types() -> None:
    site = Site()
    u1, u2 = site.units[1], site.units[2]
    cdb, param = xcopy(
        [cscd(u1.identity.naa), cscd(u2.identity.naa)], [segment(0, 1, 1, 0, 0, type_code=0x0A)]
    )
    resp = u1.execute(cdb, param, A)
    assert resp.status == Status.CHECK_CONDITION
    cdb, param = xcopy(
        [cscd(u1.identity.naa), cscd(u2.identity.naa)], [segment(0, 1, 1, 0, 0, type_code=0x00)]
    )
    expect(u1.execute(cdb, param, A), EXPECT_UNSUPPORTED_SEGMENT)
    cdb, param = xcopy(
        [cscd(u1.identity.naa, type_code=0xE0), cscd(u2.identity.naa)], [segment(0, 1, 1, 0, 0)]
    )
    expect(u1.execute(cdb, param, A), EXPECT_UNSUPPORTED_CSCD)


def test_extendedcopy_to_a_read_only_slice() -> None:
    site = Site(read_only_second=True)
    u1, u2 = site.units[1], site.units[2]
    cdb, param = xcopy([cscd(u1.identity.naa), cscd(u2.identity.naa)], [segment(0, 1, 1, 0, 0)])
    expect(u1.execute(cdb, param, A), EXPECT_WRITE_PROTECTED)


def test_extendedcopy_zero_length_parameter_list() -> None:
    site = Site()
    expect(site.units[1].execute(xcopy([], [])[0][:10] + bytes(6), b"", A), EXPECT_GOOD)


def test_extendedcopy_truncated_parameter_list() -> None:
    site = Site()
    u1, u2 = site.units[1], site.units[2]
    cdb, param = xcopy([cscd(u1.identity.naa), cscd(u2.identity.naa)], [segment(0, 1, 1, 0, 0)])
    for cut in (8, 40, len(param) - 1):
        expect(u1.execute(cdb, param[:cut], A), EXPECT_PARAM_LIST_LENGTH)


def test_extendedcopy_cscd_index_outside_the_list() -> None:
    site = Site()
    u1 = site.units[1]
    cdb, param = xcopy([cscd(u1.identity.naa)], [segment(0, 1, 1, 0, 0)])
    expect(u1.execute(cdb, param, A), EXPECT_NOT_REACHABLE)


def test_extendedcopy_too_many_descriptors() -> None:
    site = Site()
    u1 = site.units[1]
    cdb, param = xcopy([cscd(u1.identity.naa)] * 9, [segment(0, 0, 1, 0, 1)])
    assert sense_triple(u1.execute(cdb, param, A).sense) == (0x5, 0x26, 0x06)
    cdb, param = xcopy([cscd(u1.identity.naa)], [segment(0, 0, 1, 0, 1)] * 33)
    assert sense_triple(u1.execute(cdb, param, A).sense) == (0x5, 0x26, 0x08)
    cdb, param = xcopy([cscd(u1.identity.naa)] * 9, [segment(0, 0, 1, 0, 1)] * 33)
    expect(u1.execute(cdb, param, A), EXPECT_PARAM_LIST_LENGTH)


def test_receivecopyresults_operating_parameters() -> None:
    site = Site()
    data = bytes(site.units[1].execute(receive_copy_results(0x03, 0), b"", A).data_in)
    assert struct.unpack_from(">I", data)[0] == len(data) - 4
    n = data[43]
    assert set(data[44 : 44 + n]) == {0x02, 0xE4}
    assert len(site.units[1].execute(receive_copy_results(0x03, 0, alloc=8), b"", A).data_in) == 8
    # OPERATING PARAMETERS has no list identifier: a set reserved byte is refused
    resp = site.units[1].execute(receive_copy_results(0x03, 7), b"", A)
    assert sense_triple(resp.sense) == (0x5, 0x24, 0x00) and resp.sense[16:18] == b"\x00\x02"


def test_receivecopyresults_unknown_list_identifier() -> None:
    site = Site()
    expect(
        site.units[1].execute(receive_copy_results(0x00, 99), b"", A), EXPECT_INVALID_FIELD_IN_CDB
    )


def test_extendedcopy_without_copy_manager_is_refused() -> None:
    base = MemoryBackend(64)
    lu = LogicalUnit(base, Identity.for_slice("t", "p"))
    lu.execute(bytes(6), b"", A)
    cdb, param = xcopy([], [])
    resp = lu.execute(cdb, param, A)
    assert sense_triple(resp.sense) == (0x5, 0x20, 0x00)
    assert not bytes(lu.execute(bytes((0x12, 0, 0, 0, 36, 0)), b"", A).data_in)[5] & 0x08  # 3PC=0
