"""Reservations in the style of libiscsi's test tool (test_prin_*, test_prout_*, test_reserve6_*).

Each test drives `sgguard.target.reservations.Reservations` with raw CDBs and parameter
lists from two or three I_T nexuses and checks status, sense, data-in, unit attentions
and persistence, following SPC-5 5.14, 6.16, 6.17 and SPC-2 7.21/7.22.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgguard.errors import InputError
from sgguard.scsi.model import CommandDef, Direction, Effect, Variant
from sgguard.target.api import Nexus, Status, TaskManagement
from sgguard.target.reservations import (
    AptplFile,
    ITNexus,
    PrResult,
    PrType,
    Reservations,
    UnitAttention,
    open_persisted,
    transport_id,
)

A = Nexus("iqn.2026-11.test:a,i,0x230000000001", "iqn.2026-11.test:tgt,t,0x1", 0)
B = Nexus("iqn.2026-11.test:b,i,0x230000000002", "iqn.2026-11.test:tgt,t,0x1", 0)
C = Nexus("iqn.2026-11.test:c,i,0x230000000003", "iqn.2026-11.test:tgt,t,0x1", 0)

K1, K2, K3 = 0x1111_2222_3333_4444, 0xAAAA_BBBB_CCCC_DDDD, 0x0123_4567_89AB_CDEF

REGISTER, RESERVE, RELEASE, CLEAR, PREEMPT, PREEMPT_AND_ABORT, REGISTER_IGNORE, MOVE = range(8)
READ_KEYS, READ_RESERVATION, REPORT_CAPABILITIES, READ_FULL_STATUS = range(4)

ALL_TYPES = list(PrType)

ILLEGAL_REQUEST = 0x05
UNIT_ATTENTION = 0x06

# Named expectation sets, as libiscsi's EXPECT_*.
EXPECT_INVALID_FIELD_IN_CDB = (ILLEGAL_REQUEST, 0x24, 0x00)
EXPECT_INVALID_FIELD_IN_PARAMETER_LIST = (ILLEGAL_REQUEST, 0x26, 0x00)
EXPECT_PARAMETER_LIST_LENGTH_ERROR = (ILLEGAL_REQUEST, 0x1A, 0x00)
EXPECT_INVALID_RELEASE = (ILLEGAL_REQUEST, 0x26, 0x04)
EXPECT_INSUFFICIENT_REGISTRATION_RESOURCES = (ILLEGAL_REQUEST, 0x55, 0x04)

READ10 = bytes((0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0))
WRITE10 = bytes((0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0))
INQUIRY = bytes((0x12, 0, 0, 0, 96, 0))
MODE_SENSE6 = bytes((0x1A, 0, 0x3F, 0, 255, 0))
TUR = bytes(6)
RESERVE6 = bytes((0x16, 0, 0, 0, 0, 0))
RELEASE6 = bytes((0x17, 0, 0, 0, 0, 0))
RESERVE10 = bytes((0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0))
RELEASE10 = bytes((0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0))


# -- helpers ---------------------------------------------------------------------------


def prout_cdb(sa: int, pr_type: int = 0, scope: int = 0, plen: int = 24) -> bytes:
    return bytes((0x5F, sa, (scope << 4) | pr_type, 0, 0)) + plen.to_bytes(4, "big") + b"\x00"


def prout_params(key: int = 0, sa_key: int = 0, flags: int = 0) -> bytes:
    return key.to_bytes(8, "big") + sa_key.to_bytes(8, "big") + bytes(4) + bytes((flags, 0, 0, 0))


def prout(
    prs: Reservations,
    nexus: Nexus,
    sa: int,
    *,
    key: int = 0,
    sa_key: int = 0,
    pr_type: int = 0,
    flags: int = 0,
    scope: int = 0,
) -> PrResult:
    return prs.persistent_reserve_out(
        prout_cdb(sa, pr_type, scope), prout_params(key, sa_key, flags), nexus
    )


def prin(prs: Reservations, nexus: Nexus, sa: int, alloc: int = 16384) -> PrResult:
    cdb = bytes((0x5E, sa, 0, 0, 0, 0, 0)) + alloc.to_bytes(2, "big") + b"\x00"
    return prs.persistent_reserve_in(cdb, nexus)


def read_keys(prs: Reservations, nexus: Nexus = A) -> tuple[int, list[int]]:
    r = prin(prs, nexus, READ_KEYS)
    assert r.status is Status.GOOD
    data = r.data_in
    n = int.from_bytes(data[4:8], "big")
    assert n == len(data) - 8
    keys = [int.from_bytes(data[8 + i : 16 + i], "big") for i in range(0, n, 8)]
    return int.from_bytes(data[0:4], "big"), keys


def read_reservation(prs: Reservations, nexus: Nexus = A) -> tuple[int, int, int] | None:
    """(generation, key, type) or None when not reserved."""
    r = prin(prs, nexus, READ_RESERVATION)
    assert r.status is Status.GOOD
    data = r.data_in
    if int.from_bytes(data[4:8], "big") == 0:
        assert len(data) == 8
        return None
    assert int.from_bytes(data[4:8], "big") == 16 and len(data) == 24
    assert data[21] >> 4 == 0  # LU_SCOPE
    return int.from_bytes(data[0:4], "big"), int.from_bytes(data[8:16], "big"), data[21] & 0x0F


def expect_good(r: PrResult) -> None:
    assert r.status is Status.GOOD, r


def expect_conflict(r: PrResult) -> None:
    assert r.status is Status.RESERVATION_CONFLICT, r
    assert r.error is None and r.response().sense == b""


def expect_check(r: PrResult, expected: tuple[int, int, int]) -> None:
    assert r.status is Status.CHECK_CONDITION, r
    assert r.error is not None
    assert (r.error.sense_key, r.error.asc, r.error.ascq) == expected, r.error
    sense = r.response().sense
    assert sense[0] == 0x70 and sense[2] == expected[0] and sense[12:14] == bytes(expected[1:])


def field_of(r: PrResult) -> tuple[bool, int, int | None]:
    assert r.error is not None and r.error.field is not None
    f = r.error.field
    return f.c_d, f.field_pointer, f.bit_pointer


def register(prs: Reservations, nexus: Nexus, key: int, flags: int = 0) -> None:
    expect_good(prout(prs, nexus, REGISTER_IGNORE, sa_key=key, flags=flags))


def uas_of(r: PrResult) -> set[tuple[str, int, int]]:
    return {(u.initiator, u.asc, u.ascq) for u in r.unit_attentions}


# -- PERSISTENT RESERVE IN ---------------------------------------------------------------


def test_prin_read_keys_simple() -> None:
    prs = Reservations()
    r = prin(prs, A, READ_KEYS)
    expect_good(r)
    assert r.data_in == bytes(8)
    assert r.data_length == 8
    register(prs, A, K1)
    register(prs, B, K2)
    gen, keys = read_keys(prs)
    assert keys == [K1, K2] and gen == 2


def test_prin_read_keys_truncate() -> None:
    prs = Reservations()
    register(prs, A, K1)
    r = prin(prs, A, READ_KEYS, alloc=8)
    expect_good(r)
    assert len(r.data_in) == 8 and r.data_length == 8
    # SPC-5 6.16.2: ADDITIONAL LENGTH is not altered by the allocation length
    assert int.from_bytes(r.data_in[4:8], "big") == 8
    r = prin(prs, A, READ_KEYS, alloc=12)
    assert len(r.data_in) == 12
    assert prin(prs, A, READ_KEYS, alloc=0).data_in == b""


def test_prin_serviceaction_range() -> None:
    prs = Reservations()
    for sa in range(4):
        expect_good(prin(prs, A, sa))
    for sa in range(4, 0x20):
        r = prin(prs, A, sa)
        expect_check(r, EXPECT_INVALID_FIELD_IN_CDB)
        assert field_of(r) == (True, 1, 4)


def test_prin_report_caps_simple() -> None:
    prs = Reservations()
    r = prin(prs, A, REPORT_CAPABILITIES)
    expect_good(r)
    d = r.data_in
    assert len(d) == 8 and int.from_bytes(d[0:2], "big") == 8
    assert d[2] & 0x10  # CRH
    assert not d[2] & 0x08  # SIP_C
    assert not d[2] & 0x04  # ATP_C
    assert d[2] & 0x01  # PTPL_C
    assert d[3] & 0x80  # TMV
    assert (d[3] >> 4) & 0x07 == 0b011  # ALLOW COMMANDS
    assert not d[3] & 0x01  # PTPL_A
    assert int.from_bytes(d[4:6], "big") == 0xEA01  # all six types
    # libiscsi test_prin_report_caps: every type in the mask can be reserved and released
    register(prs, A, K1)
    for t in ALL_TYPES:
        expect_good(prout(prs, A, RESERVE, key=K1, pr_type=t))
        assert read_reservation(prs) == (1, 0 if t.all_registrants else K1, t)
        expect_good(prout(prs, A, RELEASE, key=K1, pr_type=t))
        assert read_reservation(prs) is None


def test_prin_report_caps_ptpl_a_follows_aptpl() -> None:
    prs = Reservations()
    register(prs, A, K1, flags=0x01)
    assert prin(prs, A, REPORT_CAPABILITIES).data_in[3] & 0x01
    register(prs, A, K2, flags=0x00)
    assert not prin(prs, A, REPORT_CAPABILITIES).data_in[3] & 0x01


def test_prin_report_caps_not_ptpl_capable() -> None:
    prs = Reservations(ptpl_capable=False)
    assert not prin(prs, A, REPORT_CAPABILITIES).data_in[2] & 0x01
    r = prout(prs, A, REGISTER_IGNORE, sa_key=K1, flags=0x01)
    expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST)
    assert field_of(r) == (False, 20, 0)


def test_prin_read_reservation_truncate() -> None:
    prs = Reservations()
    register(prs, A, K1)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS))
    r = prin(prs, A, READ_RESERVATION, alloc=10)
    assert len(r.data_in) == 10 and int.from_bytes(r.data_in[4:8], "big") == 16


def test_prin_read_full_status() -> None:
    prs = Reservations(relative_target_ports={A.target: 7})
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, B, RESERVE, key=K2, pr_type=PrType.WRITE_EXCLUSIVE))
    r = prin(prs, C, READ_FULL_STATUS)
    expect_good(r)
    d = r.data_in
    assert int.from_bytes(d[0:4], "big") == 2
    assert int.from_bytes(d[4:8], "big") == len(d) - 8
    pos, seen = 8, []
    while pos < len(d):
        key = int.from_bytes(d[pos : pos + 8], "big")
        r_holder = bool(d[pos + 12] & 0x01)
        all_tg_pt = bool(d[pos + 12] & 0x02)
        scope_type = d[pos + 13]
        rtpi = int.from_bytes(d[pos + 18 : pos + 20], "big")
        tid_len = int.from_bytes(d[pos + 20 : pos + 24], "big")
        tid = d[pos + 24 : pos + 24 + tid_len]
        assert tid[0] == 0x45  # FORMAT CODE 01b, PROTOCOL IDENTIFIER iSCSI
        name = tid[4:].rstrip(b"\x00").decode()
        seen.append((key, r_holder, all_tg_pt, scope_type, rtpi, name))
        pos += 24 + tid_len
    assert seen == [
        (K1, False, False, 0x00, 7, A.initiator),
        (K2, True, False, PrType.WRITE_EXCLUSIVE, 7, B.initiator),
    ]
    # allocation length honoured
    assert prin(prs, C, READ_FULL_STATUS, alloc=30).data_in == d[:30]


def test_prin_read_full_status_all_registrants_every_holder() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS))
    d = prin(prs, A, READ_FULL_STATUS).data_in
    first = d[8:]
    second = first[24 + int.from_bytes(first[20:24], "big") :]
    for desc in (first, second):
        assert desc[12] & 0x01 and desc[13] == PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS


def test_transport_id_formats() -> None:
    port = transport_id("iqn.x,i,0x123456789abc")
    assert port[0] == 0x45 and int.from_bytes(port[2:4], "big") == len(port) - 4
    assert (len(port) - 4) % 4 == 0 and port.endswith(b"\x00")
    assert port[4:].rstrip(b"\x00") == b"iqn.x,i,0x123456789abc"
    name = transport_id("iqn.y")
    assert name[0] == 0x05 and len(name) == 24  # ADDITIONAL LENGTH at least 20
    for n in range(1, 40):
        tid = transport_id("i" * n)
        assert (len(tid) - 4) % 4 == 0 and len(tid) - 4 >= n + 1


# -- PERSISTENT RESERVE OUT: REGISTER -------------------------------------------------------


def test_prout_register_simple() -> None:
    prs = Reservations()
    register(prs, A, K1)
    assert read_keys(prs)[1] == [K1]
    # libiscsi prout_reregister_key_fails: REGISTER with RESERVATION KEY 0 from a registrant
    expect_conflict(prout(prs, A, REGISTER, key=0, sa_key=K1 + 1))
    expect_good(prout(prs, A, REGISTER, key=K1, sa_key=0))
    assert read_keys(prs)[1] == []


def test_prout_register_generation_counts_changes_only() -> None:
    prs = Reservations()
    expect_good(prout(prs, A, REGISTER, key=0, sa_key=0))  # nothing to do
    assert read_keys(prs)[0] == 0
    expect_good(prout(prs, A, REGISTER, key=0, sa_key=K1))
    expect_good(prout(prs, A, REGISTER, key=K1, sa_key=K2))  # change the key
    assert read_keys(prs) == (2, [K2])
    expect_conflict(prout(prs, A, REGISTER, key=K1, sa_key=K3))  # stale key
    assert read_keys(prs) == (2, [K2])
    expect_good(prout(prs, A, REGISTER_IGNORE, key=K3, sa_key=K3))  # key ignored
    assert read_keys(prs) == (3, [K3])
    expect_good(prout(prs, A, REGISTER_IGNORE, sa_key=0))  # unregister
    assert read_keys(prs) == (4, [])


def test_prout_register_unregistered_nonzero_key_conflicts() -> None:
    prs = Reservations()
    expect_conflict(prout(prs, A, REGISTER, key=K1, sa_key=K2))
    assert read_keys(prs) == (0, [])


def test_prout_register_same_key_two_nexuses() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K1)
    assert read_keys(prs)[1] == [K1, K1]


def test_prout_register_insufficient_resources() -> None:
    prs = Reservations(max_registrations=2)
    register(prs, A, K1)
    register(prs, B, K2)
    expect_check(
        prout(prs, C, REGISTER_IGNORE, sa_key=K3), EXPECT_INSUFFICIENT_REGISTRATION_RESOURCES
    )


def test_prout_register_spec_i_pt_refused() -> None:
    prs = Reservations()
    cdb = prout_cdb(REGISTER, plen=28)
    params = prout_params(0, K1, 0x08) + bytes(4)
    r = prs.persistent_reserve_out(cdb, params, A)
    expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST)
    assert field_of(r) == (False, 20, 3)
    assert read_keys(prs)[1] == []


def test_prout_register_all_tg_pt_refused() -> None:
    prs = Reservations()
    for sa in (REGISTER, REGISTER_IGNORE):
        r = prout(prs, A, sa, sa_key=K1, flags=0x04)
        expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST)
        assert field_of(r) == (False, 20, 2)
    # ALL_TG_PT is ignored by the other service actions (SPC-5 6.17.3)
    register(prs, A, K1)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE, flags=0x04))


@pytest.mark.parametrize("plen", [0, 8, 23, 25, 32])
def test_prout_parameter_list_length_error(plen: int) -> None:
    prs = Reservations()
    params = prout_params(0, K1).ljust(plen, b"\x00")[:plen]
    r = prs.persistent_reserve_out(prout_cdb(REGISTER_IGNORE, plen=plen), params, A)
    expect_check(r, EXPECT_PARAMETER_LIST_LENGTH_ERROR)
    assert r.data_length == plen
    assert read_keys(prs)[1] == []


def test_prout_parameter_list_short_data() -> None:
    prs = Reservations()
    r = prs.persistent_reserve_out(prout_cdb(REGISTER_IGNORE), prout_params(0, K1)[:20], A)
    expect_check(r, EXPECT_PARAMETER_LIST_LENGTH_ERROR)


def test_prout_serviceaction_range() -> None:
    prs = Reservations()
    for sa in [MOVE, *range(8, 0x20)]:
        r = prout(prs, A, sa, sa_key=K1)
        expect_check(r, EXPECT_INVALID_FIELD_IN_CDB)
        assert field_of(r) == (True, 1, 4)


@pytest.mark.parametrize("sa", [RESERVE, RELEASE, PREEMPT, PREEMPT_AND_ABORT])
def test_prout_scope_and_type_checked(sa: int) -> None:
    prs = Reservations()
    register(prs, A, K1)
    r = prout(prs, A, sa, key=K1, sa_key=K1, pr_type=PrType.WRITE_EXCLUSIVE, scope=1)
    expect_check(r, EXPECT_INVALID_FIELD_IN_CDB)
    assert field_of(r) == (True, 2, 7)
    for bad in (0x0, 0x2, 0x4, 0x9, 0xF):
        r = prout(prs, A, sa, key=K1, sa_key=K1, pr_type=bad)
        expect_check(r, EXPECT_INVALID_FIELD_IN_CDB)
        assert field_of(r) == (True, 2, 3)


def test_prout_register_ignores_scope_and_type() -> None:
    prs = Reservations()
    expect_good(prout(prs, A, REGISTER_IGNORE, sa_key=K1, pr_type=0xF, scope=0xF))


# -- RESERVE / RELEASE ---------------------------------------------------------------------


@pytest.mark.parametrize("pr_type", ALL_TYPES, ids=lambda t: t.name)
def test_prout_reserve_simple(pr_type: PrType) -> None:
    prs = Reservations()
    register(prs, A, K1)
    r = prout(prs, A, RESERVE, key=K1, pr_type=pr_type)
    expect_good(r)
    assert r.unit_attentions == ()
    assert read_reservation(prs) == (1, 0 if pr_type.all_registrants else K1, pr_type)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=pr_type))  # again: no change
    expect_good(prout(prs, A, RELEASE, key=K1, pr_type=pr_type))
    assert read_reservation(prs) is None
    assert read_keys(prs) == (1, [K1])  # RESERVE and RELEASE do not count


def test_prout_reserve_unregistered_conflicts() -> None:
    prs = Reservations()
    expect_conflict(prout(prs, A, RESERVE, key=0, pr_type=PrType.WRITE_EXCLUSIVE))
    register(prs, A, K1)
    expect_conflict(prout(prs, A, RESERVE, key=K2, pr_type=PrType.WRITE_EXCLUSIVE))
    assert read_reservation(prs) is None


def test_prout_reserve_held_by_other_conflicts() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_conflict(prout(prs, B, RESERVE, key=K2, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_conflict(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS))
    assert read_reservation(prs) == (2, K1, PrType.WRITE_EXCLUSIVE)


def test_prout_reserve_all_registrants_any_registrant_is_holder() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS))
    expect_good(prout(prs, B, RESERVE, key=K2, pr_type=PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS))
    assert prs.is_holder(A) and prs.is_holder(B) and not prs.is_holder(C)
    r = prout(prs, B, RELEASE, key=K2, pr_type=PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS)
    expect_good(r)
    assert read_reservation(prs) is None
    assert uas_of(r) == {(A.initiator, 0x2A, 0x04)}


def test_prout_release_rules() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RELEASE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))  # none held
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_conflict(prout(prs, C, RELEASE, key=0, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_conflict(prout(prs, A, RELEASE, key=K2, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_good(prout(prs, B, RELEASE, key=K2, pr_type=PrType.WRITE_EXCLUSIVE))  # not holder
    assert read_reservation(prs) == (2, K1, PrType.WRITE_EXCLUSIVE)
    expect_check(
        prout(prs, A, RELEASE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS), EXPECT_INVALID_RELEASE
    )
    assert read_reservation(prs) == (2, K1, PrType.WRITE_EXCLUSIVE)
    r = prout(prs, A, RELEASE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE)
    expect_good(r)
    assert r.unit_attentions == ()  # no UA when a WE/EA reservation is released


@pytest.mark.parametrize("pr_type", ALL_TYPES, ids=lambda t: t.name)
def test_prout_release_unit_attentions(pr_type: PrType) -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    register(prs, C, K3)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=pr_type))
    r = prout(prs, A, RELEASE, key=K1, pr_type=pr_type)
    expect_good(r)
    if pr_type.registrants_only or pr_type.all_registrants:
        assert uas_of(r) == {(B.initiator, 0x2A, 0x04), (C.initiator, 0x2A, 0x04)}
    else:
        assert r.unit_attentions == ()


# libiscsi test_prout_reserve_access_*: (registered B reads, writes, unregistered B reads, writes)
ACCESS = {
    PrType.EXCLUSIVE_ACCESS: (False, False, False, False),
    PrType.WRITE_EXCLUSIVE: (True, False, True, False),
    PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: (True, True, False, False),
    PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY: (True, True, True, False),
    PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS: (True, True, False, False),
    PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS: (True, True, True, False),
}


@pytest.mark.parametrize("pr_type", ALL_TYPES, ids=lambda t: t.name)
def test_prout_reserve_access(pr_type: PrType) -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=pr_type))
    assert prs.check(A, READ10) is None and prs.check(A, WRITE10) is None
    reg_read, reg_write, unreg_read, unreg_write = ACCESS[pr_type]
    assert (prs.check(B, READ10) is None) == reg_read
    assert (prs.check(B, WRITE10) is None) == reg_write
    expect_good(prout(prs, B, REGISTER, key=K2, sa_key=0))
    assert (prs.check(B, READ10) is None) == unreg_read
    assert (prs.check(B, WRITE10) is None) == unreg_write
    for always in (INQUIRY, TUR, bytes((0xA0,) + (0,) * 11), bytes((0x03, 0, 0, 0, 18, 0))):
        assert prs.check(B, always) is None
    expect_good(prout(prs, A, RELEASE, key=K1, pr_type=pr_type))
    assert prs.check(B, WRITE10) is None


# libiscsi test_prout_reserve_ownership_*: does the reservation survive its holder unregistering?
@pytest.mark.parametrize("pr_type", ALL_TYPES, ids=lambda t: t.name)
def test_prout_reserve_ownership(pr_type: PrType) -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=pr_type))
    r = prout(prs, A, REGISTER, key=K1, sa_key=0)
    expect_good(r)
    if pr_type.all_registrants:
        assert read_reservation(prs) == (3, 0, pr_type)
        expect_good(prout(prs, B, RELEASE, key=K2, pr_type=pr_type))
        assert read_reservation(prs) is None
    else:
        assert read_reservation(prs) is None
        expected = {(B.initiator, 0x2A, 0x04)} if pr_type.registrants_only else set()
        assert uas_of(r) == expected
    expect_good(prout(prs, B, REGISTER, key=K2, sa_key=0))
    assert read_keys(prs)[1] == []


def test_prout_all_registrants_released_when_last_unregisters() -> None:
    prs = Reservations()
    register(prs, A, K1)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS))
    expect_good(prout(prs, A, REGISTER_IGNORE, sa_key=0))
    assert prs.reservation is None


def test_prout_holder_key_change_changes_reservation_key() -> None:
    prs = Reservations()
    register(prs, A, K1)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_good(prout(prs, A, REGISTER, key=K1, sa_key=K2))
    assert read_reservation(prs) == (2, K2, PrType.WRITE_EXCLUSIVE)


# -- CLEAR -------------------------------------------------------------------------------


def test_prout_clear_simple() -> None:
    prs = Reservations()
    register(prs, A, K1)
    old_gen = read_keys(prs)[0]
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS))
    assert read_reservation(prs) == (old_gen, K1, PrType.EXCLUSIVE_ACCESS)
    expect_good(prout(prs, A, CLEAR, key=K1))
    assert read_reservation(prs) is None
    assert read_keys(prs) == (old_gen + 1, [])


def test_prout_clear_unit_attentions_and_checks() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    register(prs, C, K3)
    expect_good(prout(prs, B, RESERVE, key=K2, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_conflict(prout(prs, A, CLEAR, key=K2))  # wrong key
    r = prout(prs, A, CLEAR, key=K1)
    expect_good(r)
    assert uas_of(r) == {(B.initiator, 0x2A, 0x03), (C.initiator, 0x2A, 0x03)}
    expect_conflict(prout(prs, A, CLEAR, key=K1))  # no longer registered


# -- PREEMPT / PREEMPT AND ABORT ---------------------------------------------------------------


def test_prout_preempt_rm_reg() -> None:
    """libiscsi test_prout_preempt_rm_reg: no reservation, B preempts A's registration."""
    prs = Reservations()
    register(prs, A, K1)
    expect_good(prout(prs, A, CLEAR, key=K1))
    register(prs, A, K1)
    register(prs, B, K2)
    old_gen, keys = read_keys(prs)
    assert keys == [K1, K2]
    r = prout(prs, B, PREEMPT, key=K2, sa_key=K1, pr_type=PrType.EXCLUSIVE_ACCESS)
    expect_good(r)
    assert uas_of(r) == {(A.initiator, 0x2A, 0x05)}
    assert read_keys(prs) == (old_gen + 1, [K2])
    assert prs.reservation is None


def test_prout_preempt_holder() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    register(prs, C, K3)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS))
    r = prout(prs, B, PREEMPT, key=K2, sa_key=K1, pr_type=PrType.WRITE_EXCLUSIVE)
    expect_good(r)
    # A loses its registration; C stays registered but the type changed
    assert uas_of(r) == {(A.initiator, 0x2A, 0x05), (C.initiator, 0x2A, 0x04)}
    assert r.abort == ()
    assert read_reservation(prs) == (4, K2, PrType.WRITE_EXCLUSIVE)
    assert read_keys(prs)[1] == [K2, K3]
    assert prs.check(A, WRITE10) is not None and prs.check(B, WRITE10) is None


def test_prout_preempt_own_reservation_changes_type() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    r = prout(prs, A, PREEMPT, key=K1, sa_key=K1, pr_type=PrType.EXCLUSIVE_ACCESS)
    expect_good(r)
    assert read_reservation(prs) == (3, K1, PrType.EXCLUSIVE_ACCESS)
    assert read_keys(prs)[1] == [K1, K2]  # the preempting nexus keeps its registration
    assert uas_of(r) == {(B.initiator, 0x2A, 0x04)}


def test_prout_preempt_and_abort_returns_nexuses() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    register(prs, C, K1)  # same key as A
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    r = prout(prs, B, PREEMPT_AND_ABORT, key=K2, sa_key=K1, pr_type=PrType.WRITE_EXCLUSIVE)
    expect_good(r)
    assert set(r.abort) == {ITNexus.of(A), ITNexus.of(C)}
    assert uas_of(r) == {(A.initiator, 0x2A, 0x05), (C.initiator, 0x2A, 0x05)}
    assert read_keys(prs)[1] == [K2]
    assert read_reservation(prs) == (4, K2, PrType.WRITE_EXCLUSIVE)


def test_prout_preempt_non_holder_key_keeps_reservation() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    register(prs, C, K3)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS))
    r = prout(prs, B, PREEMPT, key=K2, sa_key=K3, pr_type=PrType.WRITE_EXCLUSIVE)
    expect_good(r)
    assert uas_of(r) == {(C.initiator, 0x2A, 0x05)}
    assert read_reservation(prs) == (4, K1, PrType.EXCLUSIVE_ACCESS)


def test_prout_preempt_all_registrants_zero_key() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    register(prs, C, K3)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS))
    r = prout(prs, B, PREEMPT_AND_ABORT, key=K2, sa_key=0, pr_type=PrType.EXCLUSIVE_ACCESS)
    expect_good(r)
    assert set(r.abort) == {ITNexus.of(A), ITNexus.of(C)}
    assert read_keys(prs)[1] == [K2]
    assert read_reservation(prs) == (4, K2, PrType.EXCLUSIVE_ACCESS)


def test_prout_preempt_all_registrants_nonzero_key_removes_only() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS))
    expect_good(
        prout(prs, B, PREEMPT, key=K2, sa_key=K1, pr_type=PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS)
    )
    assert read_reservation(prs) == (3, 0, PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS)
    assert read_keys(prs)[1] == [K2]


def test_prout_preempt_errors() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    r = prout(prs, B, PREEMPT, key=K2, sa_key=0, pr_type=PrType.WRITE_EXCLUSIVE)
    expect_check(r, EXPECT_INVALID_FIELD_IN_PARAMETER_LIST)
    assert field_of(r) == (False, 8, None)
    expect_conflict(prout(prs, B, PREEMPT, key=K2, sa_key=K3, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_conflict(prout(prs, C, PREEMPT, key=0, sa_key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    expect_conflict(prout(prs, B, PREEMPT, key=K1, sa_key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    assert read_keys(prs) == (2, [K1, K2])


# -- conflicts of other commands -------------------------------------------------------------


def test_check_start_stop_and_prevent_allow() -> None:
    prs = Reservations()
    register(prs, A, K1)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS))
    assert prs.check(B, bytes((0x1B, 0, 0, 0, 0x01, 0))) is None  # START=1
    assert prs.check(B, bytes((0x1B, 0, 0, 0, 0x00, 0))) is not None  # stop
    assert prs.check(B, bytes((0x1B, 0, 0, 0, 0x02, 0))) is not None  # eject
    assert prs.check(B, bytes((0x1B, 0, 0, 0, 0x31, 0))) is not None  # power condition
    assert prs.check(B, bytes((0x1E, 0, 0, 0, 0x00, 0))) is None  # allow removal
    assert prs.check(B, bytes((0x1E, 0, 0, 0, 0x01, 0))) is not None  # prevent


def test_check_service_action_commands() -> None:
    prs = Reservations()
    register(prs, A, K1)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    read_capacity16 = bytes((0x9E, 0x10)) + bytes(14)
    get_lba_status = bytes((0x9E, 0x12)) + bytes(14)
    rsoc = bytes((0xA3, 0x0C)) + bytes(10)
    write32 = bytes((0x7F, 0, 0, 0, 0, 0, 0, 0x18, 0x00, 0x0B)) + bytes(22)
    read32 = bytes((0x7F, 0, 0, 0, 0, 0, 0, 0x18, 0x00, 0x09)) + bytes(22)
    assert prs.check(B, read_capacity16) is None
    assert prs.check(B, get_lba_status) is None  # read-type under WE
    assert prs.check(B, rsoc) is None  # ALLOW COMMANDS 011b
    assert prs.check(B, read32) is None
    assert prs.check(B, write32) is not None
    assert prs.check(B, bytes((0x42,) + (0,) * 9)) is not None  # UNMAP
    assert prs.check(B, bytes((0x35,) + (0,) * 9)) is not None  # SYNCHRONIZE CACHE
    assert prs.check(B, bytes((0x48,) + (0,) * 9)) is not None  # SANITIZE
    assert prs.check(B, bytes((0x15, 0x10, 0, 0, 0, 0))) is not None  # MODE SELECT
    assert prs.check(B, MODE_SENSE6) is None
    prs2 = Reservations()
    register(prs2, A, K1)
    expect_good(prout(prs2, A, RESERVE, key=K1, pr_type=PrType.EXCLUSIVE_ACCESS))
    assert prs2.check(B, get_lba_status) is not None
    assert prs2.check(B, MODE_SENSE6) is not None
    assert prs2.check(B, read_capacity16) is None


def _row(opcode: int, effects: Effect) -> CommandDef:
    variant = Variant(frozenset(), "VENDOR SPECIFIC", Direction.NONE, effects)
    return CommandDef(opcode, None, 6, (variant,))


def test_check_uses_row_effects_for_unlisted_opcodes() -> None:
    prs = Reservations()
    register(prs, A, K1)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    vendor = bytes((0xC0, 0, 0, 0, 0, 0))
    assert prs.check(B, vendor) is not None  # no row: conservative
    assert prs.check(B, vendor, _row(0xC0, Effect.WRITES_MEDIA)) is not None
    assert prs.check(B, vendor, _row(0xC0, Effect.NONE)) is None
    assert prs.check(B, vendor, _row(0xC0, Effect.READS_MEDIA)) is None
    for effect in Effect:
        if effect & ~Effect.READS_MEDIA:  # UNKNOWN (vendor specific), DEVICE_STATE, ...
            assert prs.check(B, vendor, _row(0xC0, effect)) is not None, effect
    assert prs.conflicts(B, _row(0xC0, Effect.FIRMWARE))
    assert not prs.conflicts(B, _row(0xC0, Effect.NONE))
    assert not prs.conflicts(A, _row(0xC0, Effect.FIRMWARE))


def test_check_no_reservation_is_fast_path() -> None:
    prs = Reservations()
    register(prs, A, K1)
    assert prs.check(B, WRITE10) is None
    assert not prs.conflicts(B, None)


# -- SPC-2 RESERVE / RELEASE ------------------------------------------------------------------


@pytest.mark.parametrize(("reserve", "release"), [(RESERVE6, RELEASE6), (RESERVE10, RELEASE10)])
def test_reserve6_simple(reserve: bytes, release: bytes) -> None:
    prs = Reservations()
    expect_good(prs.reserve(reserve, A))
    assert prs.spc2_holder == ITNexus.of(A)
    expect_good(prs.release(release, A))
    assert prs.spc2_holder is None


def test_reserve6_2initiators() -> None:
    prs = Reservations()
    expect_good(prs.reserve(RESERVE6, A))
    expect_good(prs.reserve(RESERVE6, A))  # re-reserve by the holder
    expect_conflict(prs.reserve(RESERVE6, B))
    assert prs.check(B, RELEASE6) is None
    expect_good(prs.release(RELEASE6, B))  # a no-op
    assert prs.check(A, MODE_SENSE6) is None
    assert prs.check(B, MODE_SENSE6) is not None
    assert prs.check(B, TUR) is not None
    assert prs.check(B, INQUIRY) is None
    assert prs.check(B, bytes((0x03, 0, 0, 0, 18, 0))) is None  # REQUEST SENSE
    expect_conflict(prs.reserve(RESERVE6, B))
    expect_good(prs.release(RELEASE6, A))
    expect_good(prs.reserve(RESERVE6, B))
    expect_good(prs.release(RELEASE6, B))


def test_reserve6_itnexus_loss() -> None:
    prs = Reservations()
    expect_good(prs.reserve(RESERVE6, A))
    expect_conflict(prs.reserve(RESERVE6, B))
    prs.nexus_lost(B)  # someone else's loss changes nothing
    expect_conflict(prs.reserve(RESERVE6, B))
    prs.nexus_lost(A)
    expect_good(prs.reserve(RESERVE6, B))


@pytest.mark.parametrize(
    "function",
    [
        TaskManagement.LOGICAL_UNIT_RESET,
        TaskManagement.TARGET_WARM_RESET,
        TaskManagement.TARGET_COLD_RESET,
    ],
)
def test_reserve6_reset(function: TaskManagement) -> None:
    prs = Reservations()
    expect_good(prs.reserve(RESERVE6, A))
    prs.task_management(function, B)
    expect_good(prs.reserve(RESERVE6, B))


def test_reserve6_it_nexus_reset_only_own() -> None:
    prs = Reservations()
    expect_good(prs.reserve(RESERVE6, A))
    prs.task_management(TaskManagement.I_T_NEXUS_RESET, B)
    assert prs.spc2_holder == ITNexus.of(A)
    prs.task_management(TaskManagement.I_T_NEXUS_RESET, A)
    assert prs.spc2_holder is None


def test_reserve6_third_party_refused() -> None:
    prs = Reservations()
    r = prs.reserve(bytes((0x16, 0x10, 0, 0, 0, 0)), A)
    expect_check(r, EXPECT_INVALID_FIELD_IN_CDB)
    assert field_of(r) == (True, 1, 4)
    r = prs.reserve(bytes((0x56, 0x02, 0, 0, 0, 0, 0, 0, 0, 0)), A)
    assert field_of(r) == (True, 1, 1)
    assert prs.spc2_holder is None


def test_reserve6_conflicts_with_persistent_reservations() -> None:
    prs = Reservations()
    register(prs, A, K1)
    # SPC-2 5.5.1: registrations make every RESERVE and RELEASE conflict ...
    expect_conflict(prs.reserve(RESERVE6, B))
    expect_conflict(prs.release(RELEASE6, B))
    expect_conflict(prs.reserve(RESERVE6, A))
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    # ... except from the PR holder (SPC-5 5.14.3): GOOD, nothing changes
    expect_good(prs.reserve(RESERVE6, A))
    expect_good(prs.release(RELEASE6, A))
    assert prs.spc2_holder is None and read_reservation(prs) == (1, K1, PrType.WRITE_EXCLUSIVE)
    expect_conflict(prs.reserve(RESERVE10, B))


def test_reserve6_registrants_only_registrant_gets_good() -> None:
    prs = Reservations()
    register(prs, A, K1)
    register(prs, B, K2)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY))
    expect_good(prs.reserve(RESERVE6, B))
    expect_good(prs.release(RELEASE6, B))
    expect_conflict(prs.reserve(RESERVE6, C))
    assert read_reservation(prs) == (2, K1, PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY)


def test_persistent_reserve_under_spc2_reservation_conflicts() -> None:
    prs = Reservations()
    expect_good(prs.reserve(RESERVE6, A))
    prin_cdb = bytes((0x5E, 0, 0, 0, 0, 0, 0, 0x40, 0, 0))
    for nexus in (A, B):
        assert prs.check(nexus, prin_cdb) is not None
        assert prs.check(nexus, prout_cdb(REGISTER_IGNORE)) is not None
        expect_conflict(prout(prs, nexus, REGISTER_IGNORE, sa_key=K1))
    assert read_keys(prs)[1] == []  # PR IN itself is refused by check(), not by the method


# -- persistence (APTPL) -----------------------------------------------------------------------


def test_aptpl_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "lun0.pr.json"
    prs, store = open_persisted(path)
    assert prs.registrations == {}
    r = prout(prs, A, REGISTER_IGNORE, sa_key=K1, flags=0x01)
    expect_good(r)
    assert r.persist is not None
    store.store(r.persist)
    for result in (
        prout(prs, B, REGISTER_IGNORE, sa_key=K2, flags=0x01),
        prout(prs, B, RESERVE, key=K2, pr_type=PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY),
    ):
        expect_good(result)
        assert result.persist is not None
        store.store(result.persist)
    before_keys = prin(prs, C, READ_KEYS).data_in
    before_full = prin(prs, C, READ_FULL_STATUS).data_in
    before_res = prin(prs, C, READ_RESERVATION).data_in
    assert not list(tmp_path.glob(".*.tmp"))  # temp files renamed away
    # restart: a new instance from the stored file
    again, _ = open_persisted(path)
    assert prin(again, C, READ_KEYS).data_in == before_keys
    assert prin(again, C, READ_FULL_STATUS).data_in == before_full
    assert prin(again, C, READ_RESERVATION).data_in == before_res
    assert again.aptpl and again.check(C, WRITE10) is not None and again.check(B, WRITE10) is None


def test_aptpl_cleared_state_does_not_survive(tmp_path: Path) -> None:
    path = tmp_path / "pr.json"
    prs, store = open_persisted(path)
    r = prout(prs, A, REGISTER_IGNORE, sa_key=K1, flags=0x01)
    assert r.persist is not None
    store.store(r.persist)
    r = prout(prs, A, REGISTER, key=K1, sa_key=K2, flags=0x00)  # last APTPL bit is zero
    assert r.persist is not None and json.loads(r.persist)["aptpl"] is False
    store.store(r.persist)
    again, _ = open_persisted(path)
    assert again.registrations == {} and again.generation == 0
    # without APTPL nothing is handed to the store at all
    r = prout(prs, B, REGISTER_IGNORE, sa_key=K3)
    assert r.persist is None


def test_aptpl_power_on() -> None:
    prs = Reservations()
    register(prs, A, K1)
    prs.task_management(TaskManagement.TARGET_COLD_RESET, A)
    assert prs.registrations == {}
    register(prs, A, K1, flags=0x01)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    prs.power_on()
    assert prs.registrations == {ITNexus.of(A): K1} and prs.reservation is not None
    prs.task_management(TaskManagement.LOGICAL_UNIT_RESET, A)
    assert prs.reservation is not None  # resets never touch persistent reservations


def _stored(tmp_path: Path) -> Path:
    path = tmp_path / "pr.json"
    prs = Reservations()
    register(prs, A, K1, flags=0x01)
    r = prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE)
    assert r.persist is not None
    AptplFile(path).store(r.persist)
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: "{not json", "not JSON"),
        (lambda d: json.dumps([1]), "top level"),
        (lambda d: json.dumps({**d, "format": "x"}), "format"),
        (lambda d: json.dumps({**d, "version": 9}), "version"),
        (lambda d: json.dumps({**d, "aptpl": "yes"}), "aptpl"),
        (lambda d: json.dumps({**d, "generation": -1}), "generation"),
        (lambda d: json.dumps({**d, "registrations": {}}), "registrations is not a list"),
        (
            lambda d: json.dumps({**d, "registrations": [{**d["registrations"][0], "key": "0x0"}]}),
            "key",
        ),
        (
            lambda d: json.dumps({**d, "registrations": [{**d["registrations"][0], "key": "zz"}]}),
            "key",
        ),
        (
            lambda d: json.dumps({**d, "registrations": d["registrations"] * 2}),
            "repeats",
        ),
        (lambda d: json.dumps({**d, "reservation": {**d["reservation"], "type": "X"}}), "type"),
        (lambda d: json.dumps({**d, "registrations": []}), "holder"),
        (lambda d: json.dumps({**d, "registrations": [{"initiator": 1}]}), "initiator"),
    ],
)
def test_aptpl_corrupt_file_refused(tmp_path: Path, mutate: object, message: str) -> None:
    path = _stored(tmp_path)
    doc = json.loads(path.read_text())
    assert callable(mutate)
    path.write_text(mutate(doc))
    with pytest.raises(InputError) as info:
        open_persisted(path)
    text = str(info.value)
    assert str(path) in text and message in text and "\n" not in text


def test_aptpl_binary_garbage_refused(tmp_path: Path) -> None:
    path = tmp_path / "pr.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match=r"pr\.json"):
        open_persisted(path)


def test_aptpl_unreadable_path_refused(tmp_path: Path) -> None:
    path = tmp_path / "dir.json"
    path.mkdir()
    with pytest.raises(InputError, match=r"dir\.json"):
        open_persisted(path)


# -- the LU adapter -----------------------------------------------------------------------------


class FakeLU:
    def __init__(self) -> None:
        self.descriptor_sense = False
        self.uas: list[tuple[str, tuple[int, int]]] = []

    def unit_attention_for(self, nexus: Nexus, asc: tuple[int, int]) -> None:
        self.uas.append((nexus.initiator, asc))


class MemoryStore:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def load(self) -> bytes | None:
        return self.writes[-1] if self.writes else None

    def store(self, data: bytes) -> None:
        self.writes.append(data)


def test_execute_adapter_applies_side_effects() -> None:
    aborted: list[tuple[ITNexus, ...]] = []
    store = MemoryStore()
    prs = Reservations(store=store, on_abort=aborted.append)
    lu = FakeLU()
    reg = prout_cdb(REGISTER_IGNORE)
    assert prs.execute(lu, reg, prout_params(0, K1, 0x01), A).status is Status.GOOD
    assert prs.execute(lu, reg, prout_params(0, K2, 0x01), B).status is Status.GOOD
    assert len(store.writes) == 2
    pa = prout_cdb(PREEMPT_AND_ABORT, PrType.EXCLUSIVE_ACCESS)
    assert prs.execute(lu, pa, prout_params(K2, K1), B).status is Status.GOOD
    assert aborted == [(ITNexus.of(A),)]
    assert lu.uas == [(A.initiator, (0x2A, 0x05))]
    assert Reservations.from_persisted(store.writes[-1], where="mem").registrations == {
        ITNexus.of(B): K2
    }
    lu.descriptor_sense = True
    resp = prs.execute(lu, bytes((0x5E, 0x09, 0, 0, 0, 0, 0, 0, 8, 0)), b"", A)
    assert resp.status is Status.CHECK_CONDITION
    assert resp.sense[0] == 0x72 and resp.sense[1:4] == bytes((0x05, 0x24, 0x00))
    assert resp.sense[8:12] == bytes((0x02, 0x06, 0, 0)) and resp.sense[12] & 0xC0 == 0xC0
    resp = prs.execute(lu, RESERVE6, b"", C)
    assert resp.status is Status.RESERVATION_CONFLICT and resp.sense == b""
    read = prs.execute(lu, bytes((0x5E, 0, 0, 0, 0, 0, 0, 0, 8, 0)), b"", C)
    assert read.data_in == (3).to_bytes(4, "big") + (8).to_bytes(4, "big")
    with pytest.raises(ValueError):
        prs.execute(lu, READ10, b"", A)


def test_unit_attention_values() -> None:
    ua = UnitAttention("i", "t", 0x2A, 0x03)
    assert ua.nexus == ITNexus("i", "t")
    cc = ua.check_condition()
    assert cc.sense()[2] == 0x06 and cc.sense()[12:14] == b"\x2a\x03"


# -- property: random PR OUT sequences keep the state machine consistent -------------------------

NEXUSES = (A, B, C)
KEYS = (0, K1, K2, K3)

command = st.tuples(
    st.sampled_from(NEXUSES),
    st.integers(0, 7),
    st.sampled_from([0, 1, 3, 5, 6, 7, 8, 2]),
    st.sampled_from(KEYS),
    st.sampled_from(KEYS),
    st.sampled_from([0, 1]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(command, max_size=25))
def test_prout_random_sequences_keep_invariants(
    cmds: list[tuple[Nexus, int, int, int, int, int]],
) -> None:
    prs = Reservations()
    last_gen = 0
    for nexus, sa, pr_type, key, sa_key, flags in cmds:
        r = prout(prs, nexus, sa, key=key, sa_key=sa_key, pr_type=pr_type, flags=flags)
        assert r.status in (Status.GOOD, Status.RESERVATION_CONFLICT, Status.CHECK_CONDITION)
        if r.status is not Status.GOOD:
            assert r.unit_attentions == () and r.abort == ()
        gen, keys = read_keys(prs)
        assert gen >= last_gen
        if r.status is not Status.GOOD:
            assert gen == last_gen
        last_gen = gen
        regs = prs.registrations
        assert sorted(keys) == sorted(regs.values()) and 0 not in keys
        res = prs.reservation
        if res is not None:
            if res.type.all_registrants:
                assert res.holder is None and regs
            else:
                assert res.holder in regs
        for ua in r.unit_attentions:
            assert ua.nexus != ITNexus.of(nexus)
        # whatever happened, the holder is never refused and state round-trips via APTPL
        for n in NEXUSES:
            if prs.is_holder(n):
                assert prs.check(n, WRITE10) is None
    prs._s.aptpl = True  # serialize the whole state, as APTPL would
    again = Reservations.from_persisted(prs.serialize(), where="mem")
    assert again.registrations == prs.registrations
    assert again.reservation == prs.reservation
    assert again.generation == prs.generation


# -- the reservation tables agree with the command table -------------------------------------


def test_check_classifies_every_command_table_row() -> None:
    """Rows that write, erase, or touch firmware/security never pass a WE/EA reservation."""
    from sgguard.scsi.model import DeviceType
    from sgguard.scsi.table import COMMANDS
    from sgguard.target.reservations import Access, classify

    dangerous = (
        Effect.WRITES_MEDIA
        | Effect.ERASES
        | Effect.FIRMWARE
        | Effect.ATA_PASSTHROUGH
        | Effect.DEVICE_STATE
    )
    prs = Reservations()
    register(prs, A, K1)
    expect_good(prout(prs, A, RESERVE, key=K1, pr_type=PrType.WRITE_EXCLUSIVE))
    for row in COMMANDS:
        variant = row.variant(DeviceType.SBC)
        if variant is None:
            continue
        cdb = bytearray(32)
        cdb[0] = row.opcode
        if row.service_action is not None:
            if row.opcode == 0x7F:
                cdb[8:10] = row.service_action.to_bytes(2, "big")
            else:
                cdb[1] = row.service_action
        if row.opcode == 0x1E:
            cdb[4] = 0x01  # PREVENT=1 (PREVENT=0 is always allowed)
        access = classify(bytes(cdb), row)
        if variant.effects & dangerous and row.opcode not in (0x5F, 0x16, 0x17, 0x56, 0x57):
            assert access is Access.WRITE, (variant.name, access)
            assert prs.check(B, bytes(cdb), row) is not None, variant.name
        if variant.effects & Effect.READS_MEDIA and not variant.effects & dangerous:
            assert access is not Access.ALLOWED, variant.name
        assert prs.check(A, bytes(cdb), row) is None  # the holder is never refused


# -- garbage in ------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([0x5E, 0x5F, 0x16, 0x17, 0x56, 0x57]),
    st.binary(min_size=0, max_size=15),
    st.binary(min_size=0, max_size=40),
    st.sampled_from(NEXUSES),
)
def test_reservation_commands_garbage_never_raise(
    op: int, rest: bytes, data: bytes, nexus: Nexus
) -> None:
    prs = Reservations()
    register(prs, B, K2)
    cdb = bytes((op,)) + rest
    if op == 0x5E:
        r = prs.persistent_reserve_in(cdb, nexus)
    elif op == 0x5F:
        r = prs.persistent_reserve_out(cdb, data, nexus)
    elif op in (0x16, 0x56):
        r = prs.reserve(cdb, nexus)
    else:
        r = prs.release(cdb, nexus)
    assert r.status in (Status.GOOD, Status.RESERVATION_CONFLICT, Status.CHECK_CONDITION)
    if r.status is Status.CHECK_CONDITION:
        assert r.error is not None and r.error.sense_key == 0x05
        assert len(r.response(descriptor_sense=True).sense) >= 8
    if op == 0x5E and r.status is Status.GOOD:
        assert len(r.data_in) <= int.from_bytes(cdb[7:9], "big")
    assert prs.check(nexus, cdb) is None or prs.spc2_holder is not None
