"""Differential tests: the connection's fast paths (in-order SCSI Command PDUs,
single-PDU read answers) produce byte-identical output, events and unit effects
to the general path (`Connection(fast_path=False)`), over scripted and random
command sequences and every negotiated parameter that changes the PDUs."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgguard.iscsi.connection import CommandReady, Connection, ConnectionClosed, SessionEvent
from sgguard.iscsi.pdu import ALL_ONES, ScsiCommand, encode_pdu

from .helpers import MiniLU, Peer, make_group, read10, write10


@dataclass(frozen=True)
class Step:
    op: str  # read / write / tur / inquiry / bad
    lba: int
    blocks: int
    edtl_delta: int  # EDTL = blocks * 512 + delta (never below 0)
    lun: int
    cmdsn_delta: int  # 0 in order, 1 a gap, -1 a duplicate/old CmdSN, 500 outside the window
    immediate: bool
    itt: str  # fresh / repeat / ones
    imm_data: str  # write: all / part / none
    final: bool
    flush: bool  # end of a receive_data batch
    defer: bool  # complete the batch's commands in reverse order


def _cdb(step: Step) -> bytes:
    if step.op == "read":
        return read10(step.lba, step.blocks)
    if step.op == "write":
        return write10(step.lba, step.blocks)
    if step.op == "tur":
        return bytes(6)
    if step.op == "inquiry":
        return struct.pack(">BBBHB", 0x12, 0, 0, step.blocks * 8, 0)
    return bytes((0xEE,)) + bytes(9)


def _run(keys: list[tuple[str, str]], steps: list[Step], *, fast: bool) -> tuple[object, ...]:
    group, lu = make_group()
    conn = Connection(group, peer="diff", fast_path=fast)
    peer = Peer(conn)
    resp = peer.login(keys)
    assert resp.status_class == 0, resp
    hd = conn.params.header_digest
    dd = conn.params.data_digest
    wire: list[bytes] = [b"".join(bytes(b) for b in conn.data_to_send())]
    events: list[tuple[object, ...]] = []
    cmdsn = peer.cmdsn
    itt = 10
    batch: list[bytes] = []
    defer = False

    def pump() -> None:
        conn.receive_data(b"".join(batch))
        batch.clear()
        ready: list[CommandReady] = []
        while True:
            for ev in conn.events():
                if isinstance(ev, CommandReady):
                    events.append(
                        ("ready", ev.task.itt, bytes(ev.task.cdb), bytes(ev.task.data_out))
                    )
                    ready.append(ev)
                elif isinstance(ev, SessionEvent):
                    events.append(("session", ev.kind, ev.detail))
                elif isinstance(ev, ConnectionClosed):
                    events.append(("closed", ev.reason))
            if not ready:
                break
            order = list(reversed(ready)) if defer else ready
            ready = []
            for r in order:
                task = r.task
                assert task.lu is not None
                conn.complete(task, task.lu.execute(task.cdb, task.data_out, task.nexus))
        wire.append(b"".join(bytes(b) for b in conn.data_to_send()))

    for step in steps:
        if step.itt == "fresh":
            itt += 1
        tag = ALL_ONES if step.itt == "ones" else itt
        sn = (cmdsn + step.cmdsn_delta) & 0xFFFFFFFF
        length = max(0, step.blocks * 512 + step.edtl_delta)
        data = b""
        if step.op == "write":
            full = bytes((step.lba + i) & 0xFF for i in range(length))
            data = {"all": full, "part": full[: len(full) // 2], "none": b""}[step.imm_data]
        pdu = ScsiCommand(
            itt=tag,
            cdb=_cdb(step).ljust(16, b"\0"),
            lun=step.lun,
            read=step.op in ("read", "inquiry"),
            write=step.op == "write",
            final=step.final,
            expected_length=0 if step.op == "tur" else length,
            cmdsn=sn,
            exp_statsn=conn.statsn,
            immediate=step.immediate,
            data=data,
        )
        if not step.immediate and step.cmdsn_delta == 0:
            cmdsn = (cmdsn + 1) & 0xFFFFFFFF
        batch.append(b"".join(bytes(b) for b in encode_pdu(pdu, header_digest=hd, data_digest=dd)))
        defer = step.defer
        if step.flush:
            pump()
    if batch:
        pump()
    assert isinstance(lu, MiniLU)
    return tuple(wire), tuple(events), bytes(lu.data), tuple(lu.executed), conn.state


def _same(keys: list[tuple[str, str]], steps: list[Step]) -> None:
    fast = _run(keys, steps, fast=True)
    slow = _run(keys, steps, fast=False)
    assert fast[0] == slow[0]  # every byte sent, batch by batch
    assert fast[1:] == slow[1:]


KEYS = [
    [],
    [("ImmediateData", "Yes"), ("InitialR2T", "No")],
    [("HeaderDigest", "CRC32C"), ("DataDigest", "CRC32C")],
    [("MaxRecvDataSegmentLength", "512"), ("MaxBurstLength", "1024")],
    [("ImmediateData", "No"), ("InitialR2T", "Yes")],
]


def test_fastpath_reads_in_order_are_byte_identical() -> None:
    steps = [
        Step("read", lba, blocks, 0, 0, 0, False, "fresh", "none", True, lba % 3 == 0, False)
        for lba, blocks in ((0, 8), (3, 1), (8, 3), (60, 4), (63, 2), (10, 0))
    ]
    for keys in KEYS:
        _same(keys, steps)


def test_fastpath_residuals_and_errors_are_byte_identical() -> None:
    steps = [
        Step("read", 1, 4, -512, 0, 0, False, "fresh", "none", True, False, False),  # overflow
        Step("read", 1, 4, 512, 0, 0, False, "fresh", "none", True, False, False),  # underflow
        Step("read", 70, 1, 0, 0, 0, False, "fresh", "none", True, False, False),  # out of range
        Step("read", 0, 1, 0, 5, 0, False, "fresh", "none", True, False, False),  # unknown LUN
        Step("bad", 0, 1, 0, 0, 0, False, "fresh", "none", True, False, False),
        Step("tur", 0, 0, 0, 0, 0, False, "fresh", "none", True, False, False),
        Step("inquiry", 0, 4, 0, 0, 0, False, "fresh", "none", True, True, False),
        Step("read", 0, 1, 0, 0, 0, False, "repeat", "none", True, False, False),  # ITT reuse
        Step("read", 0, 1, 0, 0, 0, False, "ones", "none", True, True, False),
    ]
    for keys in KEYS:
        _same(keys, steps)


def test_fastpath_cmdsn_gaps_window_and_writes_are_byte_identical() -> None:
    steps = [
        Step("read", 0, 1, 0, 0, 1, False, "fresh", "none", True, False, False),  # gap
        Step("read", 1, 1, 0, 0, 0, False, "fresh", "none", True, True, False),  # fills it
        Step("write", 2, 2, 0, 0, 0, False, "fresh", "all", True, False, False),
        Step("write", 4, 2, 0, 0, 0, False, "fresh", "part", True, False, False),
        Step("write", 6, 2, 0, 0, 0, False, "fresh", "none", True, True, False),
        Step("write", 8, 2, 512, 0, 0, False, "fresh", "all", True, False, False),  # underflow
        Step("write", 10, 2, -512, 0, 0, False, "fresh", "all", True, True, False),  # overflow
        Step("read", 2, 2, 0, 0, 500, False, "fresh", "none", True, False, False),  # window
        Step("read", 2, 2, 0, 0, -1, False, "fresh", "none", True, False, False),  # old
        Step("read", 2, 2, 0, 0, 0, True, "fresh", "none", True, True, True),  # immediate
    ]
    for keys in KEYS:
        _same(keys, steps)


_STEPS = st.builds(
    Step,
    op=st.sampled_from(["read", "read", "read", "write", "write", "tur", "inquiry", "bad"]),
    lba=st.integers(0, 66),
    blocks=st.integers(0, 9),
    edtl_delta=st.sampled_from([0, 0, 0, -512, 512, -3, 5]),
    lun=st.sampled_from([0, 0, 0, 1]),
    cmdsn_delta=st.sampled_from([0, 0, 0, 0, 1, -1, 500]),
    immediate=st.booleans(),
    itt=st.sampled_from(["fresh", "fresh", "fresh", "repeat", "ones"]),
    imm_data=st.sampled_from(["all", "part", "none"]),
    final=st.sampled_from([True, True, True, False]),
    flush=st.booleans(),
    defer=st.booleans(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=st.sampled_from(KEYS), steps=st.lists(_STEPS, min_size=1, max_size=40))
def test_fastpath_random_sequences_are_byte_identical(
    keys: list[tuple[str, str]], steps: list[Step]
) -> None:
    _same(keys, steps)


def test_fastpath_is_taken_for_in_order_reads() -> None:
    """The differential tests only mean something if the fast path runs: count it."""
    group, _lu = make_group()
    conn = Connection(group, peer="diff")
    peer = Peer(conn)
    peer.login([])
    calls = 0
    original = conn._fast_command

    def counting(header: bytes, data: object) -> bool:
        nonlocal calls
        taken = original(header, data)  # type: ignore[arg-type]
        calls += taken
        return taken

    conn._fast_command = counting  # type: ignore[method-assign]
    for lba in range(4):
        _itt, out = peer.command(read10(lba, 1), read=True, edtl=512)
        assert len(out) == 1 and out[0].opcode == 0x25 and out[0].status_present  # type: ignore[attr-defined]
    assert calls == 4
