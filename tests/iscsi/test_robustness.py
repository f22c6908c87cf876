"""The server under hostile or broken clients: it stays up and other sessions keep working."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from sgguard.iscsi.pdu import (
    R2T,
    DataIn,
    NopIn,
    NopOut,
    ScsiCommand,
    ScsiResponse,
    encode_header,
)

from .conftest import InProcess, SocketPeer

pytestmark = pytest.mark.network


def read10(lba: int, blocks: int) -> bytes:
    return bytes((0x28, 0, 0, 0, lba >> 8 & 0xFF, lba & 0xFF, 0, 0, blocks, 0))


def healthy(srv: InProcess, isid: bytes = b"\x80\0\0\0\0\x09") -> None:
    """A fresh session logs in and reads."""
    peer = SocketPeer(srv.host, srv.port)
    try:
        assert peer.login(isid=isid).status_class == 0
        for _ in range(2):  # the first read may report the power-on unit attention
            peer.send(
                ScsiCommand(
                    itt=peer.itt, cdb=read10(0, 1), read=True, expected_length=512, cmdsn=peer.cmdsn
                )
            )
            peer.itt += 1
            peer.cmdsn += 1
            resp = peer.recv()
            assert isinstance(resp, DataIn | ScsiResponse)
        assert isinstance(resp, DataIn) and resp.status_present and resp.status == 0
    finally:
        peer.close()


def test_robust_garbage_closes_only_that_connection(in_process: InProcess) -> None:
    good = SocketPeer(in_process.host, in_process.port)
    assert good.login(isid=b"\x80\0\0\0\0\x02").status_class == 0
    bad = socket.create_connection((in_process.host, in_process.port))
    bad.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
    bad.settimeout(5)
    data = b""
    try:
        while chunk := bad.recv(4096):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    bad.close()
    good.send(NopOut(itt=7, cmdsn=0, data=b"ping", immediate=True))
    pong = good.recv()
    assert isinstance(pong, NopIn) and bytes(pong.data) == b"ping"
    good.close()
    healthy(in_process)


def test_robust_wrong_opcode_in_full_feature_phase(in_process: InProcess) -> None:
    peer = SocketPeer(in_process.host, in_process.port)
    assert peer.login().status_class == 0
    raw = bytearray(encode_header(NopOut(itt=1)))
    raw[0] = 0x21  # a target opcode (SCSI Response) sent by an initiator
    peer.sock.sendall(bytes(raw))
    assert peer.closed()
    healthy(in_process)


def test_robust_huge_data_segment_refused_without_allocating(in_process: InProcess) -> None:
    peer = SocketPeer(in_process.host, in_process.port)
    assert peer.login().status_class == 0
    raw = bytearray(encode_header(NopOut(itt=1, immediate=True)))
    raw[5:8] = ((1 << 24) - 1).to_bytes(3, "big")
    peer.sock.sendall(bytes(raw) + b"x" * 1000)
    assert peer.closed()
    healthy(in_process)


def test_robust_truncated_pdu_then_vanish(in_process: InProcess) -> None:
    s = socket.create_connection((in_process.host, in_process.port))
    s.sendall(encode_header(NopOut(itt=1))[:30])
    s.close()
    healthy(in_process)


def test_robust_slow_sender_and_silent_login_time_out(in_process: InProcess) -> None:
    silent = SocketPeer(in_process.host, in_process.port)
    slow = SocketPeer(in_process.host, in_process.port)
    assert slow.login(isid=b"\x80\0\0\0\0\x03").status_class == 0
    slow.sock.sendall(encode_header(NopOut(itt=1))[:20])  # and never the rest
    t0 = time.monotonic()
    assert silent.closed(10)  # login timeout (2 s here)
    assert slow.closed(10)  # partial PDU timeout (1.5 s here)
    assert time.monotonic() - t0 < 9
    healthy(in_process)


def test_robust_client_vanishes_mid_write(in_process: InProcess) -> None:
    peer = SocketPeer(in_process.host, in_process.port)
    assert peer.login().status_class == 0
    cdb = bytes((0x2A, 0, 0, 0, 0, 0, 0, 0, 128, 0))  # 64 KiB, solicited by R2T
    peer.send(ScsiCommand(itt=1, cdb=cdb, write=True, expected_length=65536, cmdsn=0, final=True))
    r2t = peer.recv()
    assert isinstance(r2t, R2T | ScsiResponse)
    peer.sock.sendall(b"\x05" + bytes(30))  # half a Data-Out header, then gone
    peer.sock.close()
    time.sleep(0.2)
    healthy(in_process)


def test_robust_connection_flood_is_bounded(in_process: InProcess) -> None:
    keeper = SocketPeer(in_process.host, in_process.port)
    assert keeper.login(isid=b"\x80\0\0\0\0\x04").status_class == 0
    flood = []
    t0 = time.monotonic()
    for _ in range(60):  # max_connections is 16
        with contextlib.suppress(OSError):
            flood.append(socket.create_connection((in_process.host, in_process.port), timeout=5))
    closed = 0
    for s in flood:
        s.settimeout(0.5)
        try:
            if s.recv(1) == b"":
                closed += 1
        except (ConnectionResetError, BrokenPipeError):
            closed += 1
        except (TimeoutError, OSError):
            pass
    assert closed >= 60 - 16
    assert len(in_process.server.protocols) <= 16
    keeper.send(NopOut(itt=3, data=b"still here", immediate=True))
    pong = keeper.recv()
    assert isinstance(pong, NopIn) and bytes(pong.data) == b"still here"
    for s in flood:
        s.close()
    keeper.close()
    time.sleep(0.3)
    healthy(in_process)
    assert time.monotonic() - t0 < 60


def test_robust_nop_answered_while_commands_queue(in_process: InProcess) -> None:
    peer = SocketPeer(in_process.host, in_process.port)
    assert peer.login().status_class == 0
    for i in range(32):
        peer.send(
            ScsiCommand(itt=100 + i, cdb=read10(i, 64), read=True, expected_length=32768, cmdsn=i)
        )
    peer.send(NopOut(itt=5, data=b"under load", immediate=True, cmdsn=32))
    seen_nop = False
    statuses = 0
    while statuses < 32 or not seen_nop:
        pdu = peer.recv()
        assert pdu is not None
        if isinstance(pdu, NopIn):
            seen_nop = True
        elif isinstance(pdu, ScsiResponse) or (isinstance(pdu, DataIn) and pdu.status_present):
            statuses += 1
    peer.close()
