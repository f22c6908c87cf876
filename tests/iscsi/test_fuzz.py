"""Fuzzing: >= 100,000 mutated PDUs against the core, a smaller run over a socket."""

from __future__ import annotations

import contextlib
import random
import struct
import time

import pytest

from sgguard.iscsi.connection import Connection, ConnectionState
from sgguard.iscsi.pdu import (
    DataOut,
    LogoutRequest,
    NopOut,
    Pdu,
    ScsiCommand,
    TaskManagementRequest,
    TextRequest,
    encode_pdu,
)
from sgguard.iscsi.text import encode_text

from .conftest import InProcess, SocketPeer
from .helpers import MiniLU, Peer, make_group, read10, write10

SEED = 7143


def corpus() -> list[bytes]:
    pdus: list[Pdu] = [
        ScsiCommand(itt=1, cdb=read10(0, 1), read=True, expected_length=512, cmdsn=0),
        ScsiCommand(itt=2, cdb=write10(1, 2), write=True, expected_length=1024, cmdsn=1, data=b"w" * 1024),
        DataOut(itt=2, final=True, buffer_offset=512, data=b"d" * 512),
        ScsiCommand(itt=3, cdb=bytes(range(32)), read=True, write=True, expected_length=64, bidi_read_length=64, cmdsn=2),
        ScsiCommand(itt=4, cdb=bytes((0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0)), read=True, expected_length=256, cmdsn=3),
        NopOut(itt=5, data=b"ping", immediate=True),
        NopOut(itt=0xFFFFFFFF, ttt=1, immediate=True),
        TaskManagementRequest(itt=6, function=1, referenced_task_tag=2, cmdsn=4, ref_cmdsn=1),
        TaskManagementRequest(itt=7, function=5, cmdsn=4),
        TextRequest(itt=8, data=encode_text([("SendTargets", "All")]), cmdsn=4),
        TextRequest(itt=9, data=encode_text([("MaxRecvDataSegmentLength", "4096")]), cmdsn=4),
        LogoutRequest(itt=10, cmdsn=5, reason=1),
    ]  # fmt: skip
    return [b"".join(bytes(b) for b in encode_pdu(p)) for p in pdus]


def mutate(rng: random.Random, raw: bytes) -> bytes:
    b = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choices(range(7), weights=(30, 30, 5, 5, 5, 10, 15))[0]
        if len(b) < 48 and kind != 4:
            kind = 0
        if kind == 0:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1:
            i = rng.randrange(min(len(b), 48))
            b[i] = rng.randrange(256)
        elif kind == 2:
            b[5:8] = rng.choice((0, 1, 4, 511, 8192, 65535, (1 << 24) - 1)).to_bytes(3, "big")
        elif kind == 3:
            b[4] = rng.choice((0, 1, 2, 5, 255))
        elif kind == 4:
            del b[rng.randrange(len(b)) :]
        elif kind == 5:
            b[0] = (b[0] & 0x40) | rng.randrange(64)
        else:
            pos = rng.choice((16, 20, 24, 28, 32, 36, 40, 44))
            b[pos : pos + 4] = rng.choice((0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)).to_bytes(
                4, "big"
            )
        if not b:
            b = bytearray(raw[:1])
    return bytes(b)


def stamped(raw: bytes, itt: int, cmdsn: int) -> bytes:
    """A corpus PDU with a fresh ITT and the session's next CmdSN (Data-Out keeps its ITT)."""
    b = bytearray(raw)
    if b[0] & 0x3F != 0x05:
        b[16:20] = itt.to_bytes(4, "big")
        b[24:28] = cmdsn.to_bytes(4, "big")
    return bytes(b)


def fresh(group_lu: tuple[object, MiniLU] | None = None) -> tuple[Peer, MiniLU]:
    group, lu = make_group(queue_depth=64)
    peer = Peer(Connection(group))
    assert (
        peer.login([("MaxRecvDataSegmentLength", "8192"), ("InitialR2T", "No")]).status_class == 0
    )
    return peer, lu


@pytest.mark.slow
def test_fuzz_core_100k_mutated_pdus() -> None:
    rng = random.Random(SEED)
    seeds = corpus()
    peer, lu = fresh()
    group = peer.conn.group
    marker = bytes(range(256)) * 2
    sent = 0
    sessions = 1
    executed = 0
    while sent < 100_000:
        session = peer.conn.session
        assert session is not None
        raw = stamped(rng.choice(seeds), 0x1000 + sent, session.exp_cmdsn)
        if rng.random() < 0.8:
            raw = mutate(rng, raw)
        peer.conn.receive_data(raw)
        before = len(lu.executed)
        peer.collect()  # never raises; executes commands on the MiniLU
        executed += len(lu.executed) - before
        sent += 1
        if peer.conn.buffered:
            # a mutated length left the stream waiting for bytes that never come:
            # what a real initiator's connection would do next is time out
            peer.conn.close("test: stream out of sync")
        if peer.conn.state is not ConnectionState.FULL_FEATURE:
            # a new connection with the same ISID: session reinstatement each time
            peer = Peer(Connection(group))
            assert peer.login([("InitialR2T", "No")]).status_class == 0
            sessions += 1
    # another session, untouched by the fuzzing, still works end to end
    other = Peer(Connection(group))
    assert other.login(isid=b"\x40\0\0\0\0\x01").status_class == 0
    _, out = other.command(write10(60, 1), write=True, edtl=512, data=marker)
    assert out[-1].status == 0  # type: ignore[union-attr]
    _, out = other.command(read10(60, 1), read=True, edtl=512)
    assert bytes(out[-1].data) == marker
    assert sessions > 10  # the fuzzer really broke connections and the group recovered
    print("sessions", sessions, "executed", executed)
    assert executed > 10_000  # and most PDUs reached command execution


@pytest.mark.slow
@pytest.mark.network
def test_fuzz_socket_mutated_pdus(in_process: InProcess) -> None:
    rng = random.Random(SEED + 1)
    seeds = corpus()
    outside = in_process.outside_hash()
    keeper = SocketPeer(in_process.host, in_process.port)
    assert keeper.login(isid=b"\x80\0\0\0\0\x0a").status_class == 0
    t0 = time.monotonic()
    sent = 0
    while sent < 3000 and time.monotonic() - t0 < 60:
        peer = SocketPeer(in_process.host, in_process.port)
        s = peer.sock
        peer.login(isid=b"\x80\0\0\0" + struct.pack(">H", rng.randrange(65536)))
        batch = b"".join(mutate(rng, stamped(rng.choice(seeds), 0x100 + i, i)) for i in range(100))
        with contextlib.suppress(OSError):
            s.sendall(batch)
        sent += 100
        s.close()
    keeper.send(NopOut(itt=3, data=b"alive", immediate=True))
    pong = keeper.recv()
    assert pong is not None and bytes(pong.data) == b"alive"
    keeper.close()
    assert in_process.outside_hash() == outside
