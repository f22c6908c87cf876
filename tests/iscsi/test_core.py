"""The sans-IO target core back to back with a scripted initiator (RFC 7143 behaviours)."""

from __future__ import annotations

import struct

import pytest

from sgguard.iscsi.chap import ChapCredentials, chap_response, decode_binary, encode_binary
from sgguard.iscsi.connection import Connection, ConnectionState
from sgguard.iscsi.pdu import (
    ALL_ONES,
    R2T,
    AsyncMessage,
    DataIn,
    LoginRequest,
    LoginResponse,
    LogoutRequest,
    LogoutResponse,
    NopIn,
    NopOut,
    Reject,
    RejectReason,
    ScsiCommand,
    ScsiResponse,
    TaskManagementRequest,
    TaskManagementResponse,
    TextRequest,
    TextResponse,
    TmfFunction,
    TmfResponse,
    encode_pdu,
)
from sgguard.iscsi.target import Target
from sgguard.iscsi.text import encode_text
from sgguard.target.api import TaskManagement
from sgguard.target.backend import MemoryBackend
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit

from .helpers import INITIATOR, ISID, TARGET, MiniLU, Peer, make_group, read10, text_of, write10


def logged_in(
    keys: list[tuple[str, str]] | None = None, *, one_byte: bool = False, **kw: object
) -> tuple[Peer, MiniLU]:
    group, lu = make_group(**kw)
    peer = Peer(Connection(group, peer="test"), one_byte=one_byte)
    resp = peer.login(keys or [])
    assert resp.status_class == 0, resp
    assert resp.transit and resp.nsg == 3 and resp.tsih
    assert peer.conn.state is ConnectionState.FULL_FEATURE
    return peer, lu


# --- login ------------------------------------------------------------------------------


def test_login_normal_session_negotiates_keys() -> None:
    group, _ = make_group()
    peer = Peer(Connection(group))
    resp = peer.login(
        [
            ("HeaderDigest", "CRC32C,None"),
            ("DataDigest", "None"),
            ("MaxRecvDataSegmentLength", "65536"),
            ("InitialR2T", "No"),
            ("ImmediateData", "Yes"),
            ("MaxBurstLength", "16776192"),
            ("FirstBurstLength", "262144"),
            ("MaxOutstandingR2T", "1"),
            ("ErrorRecoveryLevel", "2"),
            ("X-com.microsoft.SecureLogin", "Yes"),
            ("X#vendor", "1"),
            ("IFMarker", "No"),
            ("OFMarkInt", "2048"),
            ("iSCSIProtocolLevel", "2"),
        ]
    )
    keys = text_of(resp)
    assert keys["HeaderDigest"] == "CRC32C"
    assert keys["DataDigest"] == "None"
    assert keys["InitialR2T"] == "No"
    assert keys["MaxBurstLength"] == "1048576"
    assert keys["ErrorRecoveryLevel"] == "0"
    assert keys["X-com.microsoft.SecureLogin"] == "NotUnderstood"
    assert keys["X#vendor"] == "NotUnderstood"
    assert keys["IFMarker"] == "No"
    assert keys["OFMarkInt"] == "Reject"
    assert keys["iSCSIProtocolLevel"] == "1"
    assert keys["TargetPortalGroupTag"] == "1"
    assert "MaxRecvDataSegmentLength" in keys
    assert peer.conn.params.header_digest and not peer.conn.params.data_digest
    assert peer.conn.params.initiator_mrdsl == 65536


def test_login_out_of_range_value_is_rejected() -> None:
    group, _ = make_group()
    peer = Peer(Connection(group))
    resp = peer.login([("MaxBurstLength", "100"), ("ImmediateData", "Maybe")])
    keys = text_of(resp)
    assert keys["MaxBurstLength"] == "Reject"
    assert keys["ImmediateData"] == "Reject"
    assert resp.status_class == 0


@pytest.mark.parametrize(
    ("keys", "status"),
    [
        ([("TargetName", TARGET)], 0x0207),  # no InitiatorName
        ([("InitiatorName", INITIATOR)], 0x0207),  # no TargetName
        ([("InitiatorName", INITIATOR), ("TargetName", "iqn.2026-11.test:none")], 0x0203),
        ([("InitiatorName", INITIATOR), ("SessionType", "Weird")], 0x0209),
        (
            [("InitiatorName", INITIATOR), ("TargetName", TARGET), ("InitiatorName", "x")],
            0x0200,
        ),
    ],
)
def test_login_failures_have_rfc_status(keys: list[tuple[str, str]], status: int) -> None:
    group, _ = make_group()
    peer = Peer(Connection(group))
    out = peer.send(
        LoginRequest(itt=1, isid=ISID, transit=True, csg=1, nsg=3, data=encode_text(keys))
    )
    resp = out[-1]
    assert isinstance(resp, LoginResponse)
    assert (resp.status_class << 8 | resp.status_detail) == status
    assert peer.closed


def test_login_unsupported_version() -> None:
    group, _ = make_group()
    peer = Peer(Connection(group))
    out = peer.send(
        LoginRequest(itt=1, isid=ISID, transit=True, csg=1, nsg=3, version_min=1, version_max=1)
    )
    resp = out[-1]
    assert isinstance(resp, LoginResponse)
    assert (resp.status_class, resp.status_detail) == (2, 5)


def test_login_acl_refuses_unknown_initiator() -> None:
    lu = MiniLU()
    target = Target(TARGET, {0: lu}, allowed_initiators=frozenset({"iqn.2026-11.test:other"}))
    group, _ = make_group(targets=[target])
    peer = Peer(Connection(group))
    resp = peer.login()
    assert (resp.status_class, resp.status_detail) == (2, 2)
    ok = Peer(Connection(group)).login(initiator="iqn.2026-11.test:other")
    assert ok.status_class == 0


def test_login_non_login_pdu_during_login_fails() -> None:
    group, _ = make_group()
    peer = Peer(Connection(group))
    out = peer.send(NopOut(itt=1))
    resp = out[-1]
    assert isinstance(resp, LoginResponse)
    assert (resp.status_class, resp.status_detail) == (2, 0x0B)
    assert peer.closed


def test_login_timeout_closes() -> None:
    group, _ = make_group(login_timeout=5.0)
    conn = Connection(group, now=100.0)
    conn.tick(104.0)
    assert conn.state is ConnectionState.LOGIN
    conn.tick(105.5)
    assert conn.state is ConnectionState.CLOSING


def _chap_target(mutual: bool) -> Target:
    return Target(
        TARGET,
        {0: MiniLU()},
        chap=ChapCredentials("alice", "secret-of-alice"),
        mutual_chap=ChapCredentials("target", "secret-of-target") if mutual else None,
    )


def _chap_login(peer: Peer, secret: str, mutual_challenge: bytes | None = None) -> LoginResponse:
    first = peer.send(
        LoginRequest(
            itt=1,
            isid=ISID,
            csg=0,
            nsg=0,
            data=encode_text(
                [("InitiatorName", INITIATOR), ("TargetName", TARGET), ("AuthMethod", "CHAP,None")]
            ),
        )
    )[-1]
    assert isinstance(first, LoginResponse) and first.status_class == 0
    assert text_of(first)["AuthMethod"] == "CHAP"
    second = peer.send(
        LoginRequest(itt=1, isid=ISID, csg=0, nsg=0, data=encode_text([("CHAP_A", "7,5")]))
    )[-1]
    keys = text_of(second)
    assert keys["CHAP_A"] == "5"
    ident = int(keys["CHAP_I"])
    challenge = decode_binary(keys["CHAP_C"])
    reply = [
        ("CHAP_N", "alice"),
        ("CHAP_R", encode_binary(chap_response(ident, secret.encode(), challenge))),
    ]
    if mutual_challenge is not None:
        reply += [("CHAP_I", "77"), ("CHAP_C", encode_binary(mutual_challenge))]
    third = peer.send(
        LoginRequest(itt=1, isid=ISID, transit=True, csg=0, nsg=1, data=encode_text(reply))
    )[-1]
    assert isinstance(third, LoginResponse)
    return third


def test_login_chap_succeeds_with_the_right_secret() -> None:
    group, _ = make_group(targets=[_chap_target(False)])
    peer = Peer(Connection(group))
    resp = _chap_login(peer, "secret-of-alice")
    assert resp.status_class == 0 and resp.transit and resp.nsg == 1
    final = peer.send(LoginRequest(itt=1, isid=ISID, transit=True, csg=1, nsg=3))[-1]
    assert isinstance(final, LoginResponse) and final.status_class == 0 and final.tsih


def test_login_chap_wrong_secret_is_authentication_failure() -> None:
    group, _ = make_group(targets=[_chap_target(False)])
    peer = Peer(Connection(group))
    resp = _chap_login(peer, "not-the-secret")
    assert (resp.status_class, resp.status_detail) == (2, 1)


def test_login_chap_required_cannot_skip_security() -> None:
    group, _ = make_group(targets=[_chap_target(False)])
    resp = Peer(Connection(group)).login()
    assert (resp.status_class, resp.status_detail) == (2, 1)


def test_login_mutual_chap_answers_the_initiator_challenge() -> None:
    group, _ = make_group(targets=[_chap_target(True)])
    peer = Peer(Connection(group))
    challenge = bytes(range(100, 116))
    resp = _chap_login(peer, "secret-of-alice", challenge)
    keys = text_of(resp)
    assert resp.status_class == 0
    assert keys["CHAP_N"] == "target"
    assert decode_binary(keys["CHAP_R"]) == chap_response(77, b"secret-of-target", challenge)


def test_login_mutual_chap_refuses_reflected_challenge() -> None:
    group, _ = make_group(targets=[_chap_target(True)])
    peer = Peer(Connection(group))
    # the deterministic random source makes our challenge bytes 1..16
    resp = _chap_login(peer, "secret-of-alice", bytes(range(1, 17)))
    assert (resp.status_class, resp.status_detail) == (2, 1)


def test_login_reinstatement_closes_the_old_session() -> None:
    group, lu = make_group()
    old = Peer(Connection(group))
    assert old.login().status_class == 0
    new = Peer(Connection(group))
    assert new.login().status_class == 0
    assert old.conn.state is ConnectionState.CLOSING
    assert lu.lost and lu.lost[0].initiator.endswith(ISID.hex())
    assert len(group.sessions) == 1
    assert "reinstated" in [e.kind for e in new.log]
    old.collect()
    assert "closed" in [e.kind for e in old.log]


def test_login_unknown_tsih_is_session_does_not_exist() -> None:
    group, _ = make_group()
    resp = Peer(Connection(group)).login(tsih=77)
    assert (resp.status_class, resp.status_detail) == (2, 0x0A)


# --- discovery ------------------------------------------------------------------------------


def test_sendtargets_all_lists_admitted_targets() -> None:
    lu = MiniLU()
    targets = [
        Target("iqn.2026-11.test:a", {0: lu}),
        Target("iqn.2026-11.test:b", {0: lu}, portal_group_tag=2),
        Target("iqn.2026-11.test:hidden", {0: lu}, allowed_initiators=frozenset({"x"})),
    ]
    group, _ = make_group(targets=targets, portals=["127.0.0.1:3260"])
    peer = Peer(Connection(group))
    assert peer.login(discovery=True).status_class == 0
    out = peer.send(TextRequest(itt=5, data=encode_text([("SendTargets", "All")])))
    assert isinstance(out[0], TextResponse)
    text = bytes(out[0].data).split(b"\0")
    assert b"TargetName=iqn.2026-11.test:a" in text
    assert b"TargetAddress=127.0.0.1:3260,2" in text
    assert b"TargetName=iqn.2026-11.test:hidden" not in text
    one = peer.send(
        TextRequest(itt=6, cmdsn=1, data=encode_text([("SendTargets", "iqn.2026-11.test:b")]))
    )
    assert text_of(one[0]) == {
        "TargetName": "iqn.2026-11.test:b",
        "TargetAddress": "127.0.0.1:3260,2",
    }


def test_sendtargets_long_reply_continues_over_several_pdus() -> None:
    lu = MiniLU()
    targets = [Target(f"iqn.2026-11.test:{'x' * 200}{i}", {0: lu}) for i in range(100)]
    group, _ = make_group(targets=targets)
    peer = Peer(Connection(group))
    assert peer.login([("MaxRecvDataSegmentLength", "4096")], discovery=True).status_class == 0
    out = peer.send(TextRequest(itt=5, data=encode_text([("SendTargets", "All")])))
    chunks = []
    cmdsn = 1
    while True:
        resp = out[0]
        assert isinstance(resp, TextResponse)
        assert len(resp.data) <= 4096
        chunks.append(bytes(resp.data))
        if resp.final:
            break
        assert resp.cont and resp.ttt != ALL_ONES
        out = peer.send(TextRequest(itt=5, ttt=resp.ttt, cmdsn=cmdsn))
        cmdsn += 1
    names = [p for p in b"".join(chunks).split(b"\0") if p.startswith(b"TargetName=")]
    assert len(names) == 100


def test_discovery_session_rejects_scsi_commands() -> None:
    group, _ = make_group()
    peer = Peer(Connection(group))
    assert peer.login(discovery=True).status_class == 0
    _, out = peer.command(read10(0, 1), read=True, edtl=512)
    assert isinstance(out[0], Reject) and out[0].reason == RejectReason.PROTOCOL_ERROR


# --- SCSI commands and data --------------------------------------------------------------------


def test_read_collapses_status_into_last_data_in() -> None:
    peer, lu = logged_in([("MaxRecvDataSegmentLength", "1024")])
    lu.data[0:4096] = bytes(range(256)) * 16
    _, out = peer.command(read10(0, 8), read=True, edtl=4096)
    assert all(isinstance(p, DataIn) for p in out)
    assert len(out) == 4
    assert [p.datasn for p in out] == [0, 1, 2, 3]  # type: ignore[union-attr]
    assert [p.buffer_offset for p in out] == [0, 1024, 2048, 3072]  # type: ignore[union-attr]
    last = out[-1]
    assert isinstance(last, DataIn) and last.status_present and last.final
    assert not any(p.status_present for p in out[:-1])  # type: ignore[union-attr]
    assert b"".join(bytes(p.data) for p in out) == bytes(lu.data[:4096])


def test_read_data_in_respects_max_burst_length() -> None:
    peer, _ = logged_in([("MaxRecvDataSegmentLength", "8192"), ("MaxBurstLength", "16384")])
    _, out = peer.command(read10(0, 64), read=True, edtl=32768)
    finals = [p.final for p in out]  # type: ignore[union-attr]
    assert finals == [False, True, False, True]


def test_read_residual_underflow_and_overflow() -> None:
    peer, _ = logged_in()
    _, out = peer.command(read10(0, 1), read=True, edtl=10000)
    last = out[-1]
    assert isinstance(last, DataIn) and last.underflow and last.residual == 10000 - 512
    assert len(last.data) == 512
    _, out = peer.command(read10(0, 2), read=True, edtl=512)
    last = out[-1]
    assert isinstance(last, DataIn) and last.overflow and last.residual == 512
    assert len(last.data) == 512
    _, out = peer.command(read10(0, 1), read=True, edtl=0)
    resp = out[-1]
    assert isinstance(resp, ScsiResponse) and resp.overflow and resp.residual == 512


def test_check_condition_carries_sense_with_length_prefix() -> None:
    peer, _ = logged_in()
    _, out = peer.command(read10(1000, 1), read=True, edtl=512)
    resp = out[-1]
    assert isinstance(resp, ScsiResponse) and resp.status == 2
    n = struct.unpack(">H", bytes(resp.data[:2]))[0]
    assert n == 18 and resp.data[2 + 12] == 0x21


def test_write_with_immediate_data_only() -> None:
    peer, lu = logged_in([("ImmediateData", "Yes"), ("InitialR2T", "Yes")])
    _, out = peer.command(write10(2, 1), write=True, edtl=512, data=b"\xaa" * 512)
    assert isinstance(out[-1], ScsiResponse) and out[-1].status == 0
    assert lu.data[1024:1536] == b"\xaa" * 512


def test_write_immediate_unsolicited_then_r2t() -> None:
    peer, lu = logged_in(
        [
            ("ImmediateData", "Yes"),
            ("InitialR2T", "No"),
            ("FirstBurstLength", "2048"),
            ("MaxBurstLength", "4096"),
            ("MaxRecvDataSegmentLength", "1024"),
            ("MaxOutstandingR2T", "4"),
        ]
    )
    payload = bytes(i % 251 for i in range(16 * 512))
    itt, out = peer.command(write10(0, 16), write=True, edtl=8192, data=payload[:1024], final=False)
    assert out == []
    out = peer.data_out(itt, ALL_ONES, 1024, payload[1024:2048], 0, True)
    r2ts = [p for p in out if isinstance(p, R2T)]
    assert [(r.buffer_offset, r.desired_length) for r in r2ts] == [(2048, 4096), (6144, 2048)]
    assert [r.r2tsn for r in r2ts] == [0, 1]
    final = []
    for r in r2ts:
        off = r.buffer_offset
        sn = 0
        while off < r.buffer_offset + r.desired_length:
            end = min(off + 1024, r.buffer_offset + r.desired_length)
            final += peer.data_out(
                itt, r.ttt, off, payload[off:end], sn, end == r.buffer_offset + r.desired_length
            )
            off, sn = end, sn + 1
    assert isinstance(final[-1], ScsiResponse) and final[-1].status == 0
    assert bytes(lu.data[:8192]) == payload


def test_write_r2t_limited_by_max_outstanding_r2t() -> None:
    peer, _lu = logged_in(
        [
            ("InitialR2T", "Yes"),
            ("ImmediateData", "No"),
            ("MaxBurstLength", "1024"),
            ("MaxOutstandingR2T", "2"),
        ]
    )
    itt, out = peer.command(write10(0, 8), write=True, edtl=4096)
    r2ts = [p for p in out if isinstance(p, R2T)]
    assert len(r2ts) == 2
    got = peer.data_out(itt, r2ts[0].ttt, 0, b"\x01" * 1024, 0, True)
    assert [p.buffer_offset for p in got if isinstance(p, R2T)] == [2048]


def test_write_data_sn_error_fails_the_command() -> None:
    peer, lu = logged_in(
        [("InitialR2T", "Yes"), ("ImmediateData", "No"), ("MaxRecvDataSegmentLength", "512")]
    )
    itt, out = peer.command(write10(0, 2), write=True, edtl=1024)
    r2t = out[0]
    assert isinstance(r2t, R2T)
    peer.data_out(itt, r2t.ttt, 0, b"\x01" * 512, 0, False)
    out = peer.data_out(itt, r2t.ttt, 512, b"\x01" * 512, 0, True)  # DataSN 0 twice
    resp = out[-1]
    assert isinstance(resp, ScsiResponse) and resp.status == 2
    assert bytes(lu.data[:1024]) == bytes(1024)  # nothing written


def test_write_residual_overflow_when_edtl_short() -> None:
    peer, _ = logged_in()
    _, out = peer.command(write10(0, 2), write=True, edtl=512, data=b"b" * 512)
    resp = out[-1]
    assert isinstance(resp, ScsiResponse) and resp.overflow and resp.residual == 512


def test_unknown_lun_gets_logical_unit_not_supported() -> None:
    peer, _ = logged_in()
    _, out = peer.command(read10(0, 1), read=True, edtl=512, lun=5)
    resp = out[-1]
    assert isinstance(resp, ScsiResponse) and resp.status == 2 and resp.data[2 + 12] == 0x25
    _, out = peer.command(bytes((0x12, 0, 0, 0, 36, 0)), read=True, edtl=36, lun=5)
    data_in = out[-1]
    assert isinstance(data_in, DataIn) and data_in.data[0] == 0x7F


def test_report_luns_answers_the_target_lun_map() -> None:
    lu = MiniLU()
    target = Target(TARGET, {0: lu, 3: lu, 300: lu})
    peer, _ = logged_in(targets=[target])
    cdb = bytes((0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0))
    _, out = peer.command(cdb, read=True, edtl=256, lun=7)
    data = bytes(out[-1].data)
    assert struct.unpack(">I", data[:4])[0] == 24
    assert data[8:16] == bytes(8) and data[16:18] == b"\x00\x03" and data[24:26] == b"\x41\x2c"


# --- CmdSN window -------------------------------------------------------------------------------


def test_cmdsn_out_of_order_is_queued_until_the_gap_fills() -> None:
    peer, _lu = logged_in()
    base = peer.cmdsn
    peer.cmdsn = base + 1
    _, out = peer.command(bytes(6), edtl=0)
    assert out == []
    peer.cmdsn = base
    _, out = peer.command(bytes(6), edtl=0)
    assert [type(p) for p in out] == [ScsiResponse, ScsiResponse]


def test_cmdsn_outside_window_is_ignored() -> None:
    peer, _lu = logged_in()
    exp, mx = peer.conn.session.window()  # type: ignore[union-attr]
    peer.cmdsn = (mx + 1) & 0xFFFFFFFF
    _, out = peer.command(bytes(6))
    assert out == []
    peer.cmdsn = (exp - 1) & 0xFFFFFFFF
    _, out = peer.command(bytes(6))
    assert out == []
    peer.cmdsn = exp
    _, out = peer.command(bytes(6))
    assert isinstance(out[0], ScsiResponse) and out[0].status == 0


def test_maxcmdsn_closes_while_tasks_are_in_flight() -> None:
    peer, _lu = logged_in(queue_depth=4)
    peer.auto_execute = False
    for _ in range(4):
        peer.command(bytes(6))
    exp, mx = peer.conn.session.window()  # type: ignore[union-attr]
    assert mx == (exp - 1) & 0xFFFFFFFF  # window closed
    _, out = peer.command(bytes(6))
    assert out == [] and len(peer.pending) == 4


# --- NOP ------------------------------------------------------------------------------------------


def test_nop_out_ping_is_echoed() -> None:
    peer, _ = logged_in()
    out = peer.send(NopOut(itt=9, cmdsn=peer.cmdsn, data=b"nopping\0", immediate=True))
    assert isinstance(out[0], NopIn) and out[0].itt == 9 and bytes(out[0].data) == b"nopping\0"


def test_target_pings_idle_initiator_and_drops_dead_one() -> None:
    group, _ = make_group(nop_interval=10.0, nop_timeout=5.0)
    peer = Peer(Connection(group, now=0.0))
    assert peer.login().status_class == 0
    peer.conn.tick(11.0)
    ping = peer.collect()[0]
    assert isinstance(ping, NopIn) and ping.itt == ALL_ONES and ping.ttt != ALL_ONES
    peer.send(NopOut(itt=ALL_ONES, ttt=ping.ttt, immediate=True))
    peer.conn.tick(17.0)
    assert peer.conn.state is ConnectionState.FULL_FEATURE
    peer.conn.tick(30.0)
    second = peer.collect()[0]
    assert isinstance(second, NopIn)
    peer.conn.tick(36.0)
    assert peer.conn.state is ConnectionState.CLOSING


# --- task management ----------------------------------------------------------------------------


def test_abort_task_of_a_running_command_waits_for_it() -> None:
    peer, lu = logged_in()
    peer.auto_execute = False
    itt, _ = peer.command(read10(0, 1), read=True, edtl=512)
    ready = peer.pending.pop()
    out = peer.send(
        TaskManagementRequest(
            itt=50,
            function=TmfFunction.ABORT_TASK,
            referenced_task_tag=itt,
            cmdsn=peer.cmdsn,
            ref_cmdsn=peer.cmdsn - 1,
        )
    )
    assert out == []  # waits until the running command stops
    peer.conn.complete(ready.task, lu.execute(ready.task.cdb, b"", ready.task.nexus))
    out = peer.collect()
    assert len(out) == 1
    assert (
        isinstance(out[0], TaskManagementResponse)
        and out[0].response == TmfResponse.FUNCTION_COMPLETE
    )


def test_abort_task_unknown_tag_does_not_exist() -> None:
    peer, _ = logged_in()
    peer.command(bytes(6))
    out = peer.send(
        TaskManagementRequest(
            itt=50,
            function=TmfFunction.ABORT_TASK,
            referenced_task_tag=1234,
            cmdsn=peer.cmdsn,
            ref_cmdsn=peer.cmdsn - 1,
        )
    )
    assert (
        isinstance(out[0], TaskManagementResponse)
        and out[0].response == TmfResponse.TASK_DOES_NOT_EXIST
    )


def test_abort_task_not_yet_received_is_considered_received() -> None:
    peer, lu = logged_in()
    cmdsn = peer.cmdsn
    out = peer.send(
        TaskManagementRequest(
            itt=50,
            function=TmfFunction.ABORT_TASK,
            referenced_task_tag=77,
            cmdsn=cmdsn + 1,
            ref_cmdsn=cmdsn,
        )
    )
    assert out[0].response == TmfResponse.FUNCTION_COMPLETE  # type: ignore[union-attr]
    peer.send(ScsiCommand(itt=77, cdb=bytes(6), cmdsn=cmdsn))
    assert lu.executed == []  # the aborted command never runs


def test_lun_reset_aborts_and_tells_the_lu() -> None:
    peer, lu = logged_in()
    peer.auto_execute = False
    peer.command(read10(0, 1), read=True, edtl=512)
    out = peer.send(
        TaskManagementRequest(itt=60, function=TmfFunction.LOGICAL_UNIT_RESET, cmdsn=peer.cmdsn)
    )
    assert out == []
    ready = peer.pending.pop()
    peer.conn.complete(ready.task, lu.execute(ready.task.cdb, b"", ready.task.nexus))
    out = peer.collect()
    assert [type(p) for p in out] == [TaskManagementResponse]
    assert lu.tmfs[-1][0] is TaskManagement.LOGICAL_UNIT_RESET


@pytest.mark.parametrize(
    ("function", "lun", "expected"),
    [
        (TmfFunction.ABORT_TASK_SET, 9, TmfResponse.LUN_DOES_NOT_EXIST),
        (TmfFunction.TASK_REASSIGN, 0, TmfResponse.TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED),
        (TmfFunction.CLEAR_ACA, 0, TmfResponse.FUNCTION_NOT_SUPPORTED),
        (TmfFunction.TARGET_WARM_RESET, 0, TmfResponse.FUNCTION_COMPLETE),
        (TmfFunction.CLEAR_TASK_SET, 0, TmfResponse.FUNCTION_COMPLETE),
        (TmfFunction.I_T_NEXUS_RESET, 0, TmfResponse.FUNCTION_COMPLETE),
        (TmfFunction.QUERY_TASK, 0, TmfResponse.FUNCTION_NOT_SUPPORTED),
        (14, 0, TmfResponse.FUNCTION_NOT_SUPPORTED),
    ],
)
def test_tmf_responses(function: int, lun: int, expected: TmfResponse) -> None:
    peer, _ = logged_in()
    out = peer.send(TaskManagementRequest(itt=70, function=function, lun=lun, cmdsn=peer.cmdsn))
    assert isinstance(out[0], TaskManagementResponse) and out[0].response == expected


def test_target_cold_reset_answers_then_drops() -> None:
    peer, _lu = logged_in()
    out = peer.send(
        TaskManagementRequest(itt=70, function=TmfFunction.TARGET_COLD_RESET, cmdsn=peer.cmdsn)
    )
    assert isinstance(out[0], TaskManagementResponse)
    assert peer.conn.state is ConnectionState.CLOSING


# --- logout, reject, async ------------------------------------------------------------------------


def test_logout_closes_session() -> None:
    peer, lu = logged_in()
    out = peer.send(LogoutRequest(itt=80, cmdsn=peer.cmdsn, immediate=True))
    assert isinstance(out[0], LogoutResponse) and out[0].response == 0
    assert peer.closed == "logout"
    assert not peer.conn.group.sessions
    assert lu.lost


def test_logout_for_recovery_not_supported() -> None:
    peer, _ = logged_in()
    out = peer.send(LogoutRequest(itt=80, reason=2, cmdsn=peer.cmdsn, immediate=True))
    assert isinstance(out[0], LogoutResponse) and out[0].response == 2


def test_unknown_opcode_is_rejected_and_session_survives() -> None:
    peer, _ = logged_in()
    raw = bytearray(encode_pdu(NopOut(itt=5, immediate=True))[0])
    raw[0] = 0x40 | 0x1C
    out = peer.send_raw(bytes(raw))
    assert isinstance(out[0], Reject) and out[0].reason == RejectReason.COMMAND_NOT_SUPPORTED
    assert bytes(out[0].data)[:1] == bytes((0x5C,))
    _, out = peer.command(bytes(6))
    assert isinstance(out[0], ScsiResponse)


def test_data_segment_beyond_mrdsl_is_refused_without_buffering() -> None:
    peer, _ = logged_in()
    header = bytearray(encode_pdu(NopOut(itt=5, immediate=True))[0])
    header[5:8] = (1 << 24 - 1).to_bytes(3, "big")
    out = peer.send_raw(bytes(header))
    assert isinstance(out[0], Reject)
    assert peer.conn.state is ConnectionState.CLOSING
    assert peer.conn.buffered <= 48


def test_header_digest_mismatch_closes() -> None:
    peer, _ = logged_in([("HeaderDigest", "CRC32C")])
    raw = bytearray(
        b"".join(bytes(b) for b in encode_pdu(NopOut(itt=5, immediate=True), header_digest=True))
    )
    raw[-1] ^= 1
    peer.send_raw(bytes(raw))
    assert peer.conn.state is ConnectionState.CLOSING


def test_digests_protect_commands_after_login() -> None:
    peer, lu = logged_in([("HeaderDigest", "CRC32C"), ("DataDigest", "CRC32C")])
    peer.framer.header_digest = peer.framer.data_digest = True
    out = peer.send(
        ScsiCommand(
            itt=3,
            cdb=write10(0, 1),
            write=True,
            expected_length=512,
            cmdsn=peer.cmdsn,
            data=b"z" * 512,
        ),
        header_digest=True,
        data_digest=True,
    )
    assert isinstance(out[0], ScsiResponse) and out[0].status == 0
    assert lu.data[:512] == b"z" * 512


def test_async_logout_request_on_shutdown() -> None:
    peer, _ = logged_in()
    peer.conn.group.request_logout(3)
    out = peer.collect()
    assert isinstance(out[0], AsyncMessage) and out[0].event == 1 and out[0].parameter3 == 3


def test_one_byte_at_a_time_full_exchange() -> None:
    peer, _lu = logged_in([("MaxRecvDataSegmentLength", "512")], one_byte=True)
    _, out = peer.command(write10(1, 2), write=True, edtl=1024, data=b"q" * 1024)
    assert isinstance(out[-1], ScsiResponse) and out[-1].status == 0
    _, out = peer.command(read10(1, 2), read=True, edtl=1024)
    assert b"".join(bytes(p.data) for p in out) == b"q" * 1024


def test_write_r2ts_wait_for_the_connection_write_budget() -> None:
    peer, lu = logged_in(
        [("InitialR2T", "Yes"), ("ImmediateData", "No"), ("MaxBurstLength", "4096")],
        write_buffer_budget=4096,
    )
    a, out_a = peer.command(write10(0, 16), write=True, edtl=8192)
    b, out_b = peer.command(write10(16, 16), write=True, edtl=8192)
    assert [p.itt for p in out_a if isinstance(p, R2T)] == [a]
    assert out_b == []  # the budget is taken: b's data is not solicited yet
    r2t = out_a[0]
    assert isinstance(r2t, R2T)
    more = peer.data_out(a, r2t.ttt, 0, b"\x01" * 4096, 0, True)
    r2t2 = next(p for p in more if isinstance(p, R2T))
    done = peer.data_out(a, r2t2.ttt, 4096, b"\x02" * 4096, 0, True)
    # a completes, which releases its budget and solicits b
    assert isinstance(done[0], R2T) and done[0].itt == b
    assert any(isinstance(p, ScsiResponse) and p.itt == a for p in done)
    assert lu.data[:8192] == b"\x01" * 4096 + b"\x02" * 4096


# --- data-out refused before it is solicited (LogicalUnit.data_out_refusal) -----------------


def _caw_logged_in(keys: list[tuple[str, str]]) -> tuple[Peer, LogicalUnit]:
    """A session on a real LogicalUnit (512-byte blocks), its power-on unit attention cleared."""
    lu = LogicalUnit(MemoryBackend(64, 512), Identity.for_slice(TARGET, "caw"))
    peer, _ = logged_in(keys, targets=[Target(TARGET, {0: lu})])
    _, out = peer.command(bytes(6))  # TEST UNIT READY: reports and clears POWER ON
    assert isinstance(out[-1], ScsiResponse) and out[-1].status == 2
    return peer, lu


def _caw_zero_blocks() -> bytes:
    """COMPARE AND WRITE (SBC-4 5.2) at LBA 4 with NUMBER OF LOGICAL BLOCKS 0."""
    return struct.pack(">BBQ3xBBB", 0x89, 0, 4, 0, 0, 0)


def _assert_invalid_field_in_cdb(pdu: object) -> None:
    assert isinstance(pdu, ScsiResponse) and pdu.status == 2, pdu
    sense = bytes(pdu.data[2:])
    assert (sense[2] & 0x0F, sense[12], sense[13]) == (0x5, 0x24, 0x00)
    assert sense[15] & 0x80 and sense[15] & 0x40  # SKSV, C/D = CDB
    assert int.from_bytes(sense[16:18], "big") == 13  # NUMBER OF LOGICAL BLOCKS


def _assert_next_command_works(peer: Peer, lu: LogicalUnit) -> None:
    lu.write_blocks(0, b"\x5a" * 512)
    _, out = peer.command(read10(0, 1), read=True, edtl=512)
    last = out[-1]
    assert isinstance(last, DataIn) and last.status_present and last.status == 0
    assert bytes(last.data) == b"\x5a" * 512


def test_compare_and_write_zero_blocks_with_edtl_refused_without_r2t() -> None:
    peer, lu = _caw_logged_in([("ImmediateData", "No"), ("InitialR2T", "Yes")])
    _, out = peer.command(_caw_zero_blocks(), write=True, edtl=1024)
    assert not any(isinstance(p, R2T) for p in out)
    assert len(out) == 1
    _assert_invalid_field_in_cdb(out[0])
    assert lu.refusals[-1].command == "COMPARE AND WRITE"
    _assert_next_command_works(peer, lu)


def test_compare_and_write_zero_blocks_immediate_data_discarded() -> None:
    peer, lu = _caw_logged_in([("ImmediateData", "Yes"), ("InitialR2T", "Yes")])
    _, out = peer.command(_caw_zero_blocks(), write=True, edtl=1024, data=b"\xee" * 1024)
    assert not any(isinstance(p, R2T) for p in out)
    assert len(out) == 1
    _assert_invalid_field_in_cdb(out[0])
    assert lu.backend.read(0, 64) == bytes(64 * 512)  # nothing written
    _assert_next_command_works(peer, lu)


def test_compare_and_write_zero_blocks_unsolicited_data_consumed() -> None:
    """InitialR2T=No: the unsolicited burst still arrives; it is read and dropped,
    the status follows it, and the connection stays in step."""
    peer, lu = _caw_logged_in([("ImmediateData", "Yes"), ("InitialR2T", "No")])
    itt, out = peer.command(
        _caw_zero_blocks(), write=True, edtl=1024, data=b"\xee" * 512, final=False
    )
    assert out == []
    out = peer.data_out(itt, ALL_ONES, 512, b"\xee" * 512, 0, True)
    assert not any(isinstance(p, R2T) for p in out)
    assert len(out) == 1
    _assert_invalid_field_in_cdb(out[0])
    assert lu.backend.read(0, 64) == bytes(64 * 512)
    _assert_next_command_works(peer, lu)
