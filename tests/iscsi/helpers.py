"""Test helpers: a tiny logical unit, a scripted initiator, and a back-to-back pump.

`MiniLU` is a deliberately small SBC disk (READ/WRITE 10, TEST UNIT READY,
INQUIRY) so the protocol tests do not depend on the target core; the server
tests use the real `sgguard.target.lu.LogicalUnit`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sgguard.iscsi.connection import (
    CommandReady,
    Connection,
    ConnectionClosed,
    PortalGroup,
    SessionEvent,
)
from sgguard.iscsi.pdu import (
    DataOut,
    LoginRequest,
    LoginResponse,
    Pdu,
    PduFramer,
    ScsiCommand,
    decode_pdu,
    encode_pdu,
)
from sgguard.iscsi.target import Target
from sgguard.iscsi.text import decode_text, encode_text
from sgguard.target.api import Nexus, Response, Status, TaskManagement

ISID = bytes.fromhex("80123456789a")
INITIATOR = "iqn.2026-11.test:initiator"
TARGET = "iqn.2026-11.test:disk"


def sense(key: int, asc: int, ascq: int = 0) -> bytes:
    return bytes((0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0))


class MiniLU:
    """A minimal in-memory disk for protocol tests."""

    def __init__(self, blocks: int = 64, block_size: int = 512) -> None:
        self.bs = block_size
        self.blocks = blocks
        self.data = bytearray(blocks * block_size)
        self.tmfs: list[tuple[TaskManagement, Nexus]] = []
        self.lost: list[Nexus] = []
        self.executed: list[bytes] = []

    def expected_data_out(self, cdb: bytes) -> int:
        if cdb[0] == 0x2A:
            return int(struct.unpack_from(">H", cdb, 7)[0]) * self.bs
        return 0

    def execute(self, cdb: bytes, data_out: bytes | memoryview, nexus: Nexus) -> Response:
        self.executed.append(bytes(cdb))
        op = cdb[0]
        if op == 0x00:
            return Response(Status.GOOD)
        if op == 0x12:
            alloc = struct.unpack_from(">H", cdb, 3)[0]
            data = bytes((0, 0, 6, 2, 31, 0, 0, 2)) + b"TEST    MINI            0001"
            return Response(Status.GOOD, data_in=data[:alloc], data_length=len(data[:alloc]))
        if op in (0x28, 0x2A):
            lba = struct.unpack_from(">I", cdb, 2)[0]
            n = struct.unpack_from(">H", cdb, 7)[0]
            if lba + n > self.blocks:
                return Response(
                    Status.CHECK_CONDITION, sense=sense(5, 0x21), data_length=n * self.bs
                )
            a, b = lba * self.bs, (lba + n) * self.bs
            if op == 0x28:
                return Response(Status.GOOD, data_in=bytes(self.data[a:b]), data_length=b - a)
            got = bytes(data_out)[: b - a]
            self.data[a : a + len(got)] = got
            return Response(Status.GOOD, data_length=b - a)
        return Response(Status.CHECK_CONDITION, sense=sense(5, 0x20))

    def task_management(self, function: TaskManagement, nexus: Nexus) -> None:
        self.tmfs.append((function, nexus))

    def nexus_lost(self, nexus: Nexus) -> None:
        self.lost.append(nexus)

    def flush(self) -> None:
        pass


def make_group(**kw: object) -> tuple[PortalGroup, MiniLU]:
    lu = MiniLU()
    targets = kw.pop("targets", None) or [Target(TARGET, {0: lu})]
    group = PortalGroup(targets, random_bytes=lambda n: bytes(range(1, n + 1)), **kw)  # type: ignore[arg-type]
    return group, lu


def read10(lba: int, blocks: int) -> bytes:
    return struct.pack(">BBIBHB", 0x28, 0, lba, 0, blocks, 0)


def write10(lba: int, blocks: int) -> bytes:
    return struct.pack(">BBIBHB", 0x2A, 0, lba, 0, blocks, 0)


@dataclass
class Peer:
    """Drives a Connection as an initiator would; decodes what it answers."""

    conn: Connection
    lu: object = None
    one_byte: bool = False
    auto_execute: bool = True
    framer: PduFramer = field(default_factory=lambda: PduFramer(max_data_segment=1 << 24))
    itt: int = 1
    cmdsn: int = 0
    exp_statsn: int = 0
    closed: str = ""
    pending: list[CommandReady] = field(default_factory=list)
    log: list[SessionEvent] = field(default_factory=list)

    def send(self, pdu: Pdu, **digests: bool) -> list[Pdu]:
        raw = b"".join(bytes(b) for b in encode_pdu(pdu, **digests))
        return self.send_raw(raw)

    def send_raw(self, raw: bytes) -> list[Pdu]:
        if self.one_byte:
            for i in range(len(raw)):
                self.conn.receive_data(raw[i : i + 1])
        else:
            self.conn.receive_data(raw)
        return self.collect()

    def collect(self) -> list[Pdu]:
        while True:
            progressed = False
            for ev in self.conn.events():
                if isinstance(ev, CommandReady):
                    if self.auto_execute:
                        task = ev.task
                        assert task.lu is not None
                        self.conn.complete(
                            task, task.lu.execute(task.cdb, task.data_out, task.nexus)
                        )
                        progressed = True
                    else:
                        self.pending.append(ev)
                elif isinstance(ev, SessionEvent):
                    self.log.append(ev)
                elif isinstance(ev, ConnectionClosed):
                    self.closed = ev.reason
            if not progressed:
                break
        out: list[Pdu] = []
        for buf in self.conn.data_to_send():
            self.framer.feed(bytes(buf))
        while (frame := self.framer.next_frame()) is not None:
            pdu = decode_pdu(frame.header, frame.data)
            if hasattr(pdu, "statsn") and pdu.opcode in (0x21, 0x22, 0x23, 0x24, 0x26, 0x20):
                self.exp_statsn = (pdu.statsn + 1) & 0xFFFFFFFF
            out.append(pdu)
        return out

    def next_itt(self) -> int:
        self.itt += 1
        return self.itt

    def login(
        self,
        keys: list[tuple[str, str]] | None = None,
        *,
        target: str = TARGET,
        discovery: bool = False,
        isid: bytes = ISID,
        tsih: int = 0,
        initiator: str = INITIATOR,
        extra_steps: list[list[tuple[str, str]]] | None = None,
    ) -> LoginResponse:
        """Log in, security stage skipped unless `extra_steps` (CSG 0 PDUs) given."""
        first = [("InitiatorName", initiator)]
        if discovery:
            first.append(("SessionType", "Discovery"))
        else:
            first.append(("TargetName", target))
        resp: LoginResponse | None = None
        if extra_steps is not None:
            for i, step in enumerate(extra_steps):
                kv = (first if i == 0 else []) + step
                last = i == len(extra_steps) - 1
                out = self.send(
                    LoginRequest(
                        itt=self.itt,
                        isid=isid,
                        tsih=tsih,
                        transit=last,
                        csg=0,
                        nsg=1 if last else 0,
                        cmdsn=self.cmdsn,
                        exp_statsn=self.exp_statsn,
                        data=encode_text(kv),
                    )
                )
                resp = out[-1]  # type: ignore[assignment]
                assert isinstance(resp, LoginResponse)
                if resp.status_class:
                    return resp
            first = []
        out = self.send(
            LoginRequest(
                itt=self.itt,
                isid=isid,
                tsih=tsih,
                transit=True,
                csg=1,
                nsg=3,
                cmdsn=self.cmdsn,
                exp_statsn=self.exp_statsn,
                data=encode_text(first + (keys or [])),
            )
        )
        resp = out[-1]  # type: ignore[assignment]
        assert isinstance(resp, LoginResponse)
        return resp

    def command(
        self,
        cdb: bytes,
        *,
        read: bool = False,
        write: bool = False,
        edtl: int = 0,
        data: bytes = b"",
        final: bool = True,
        lun: int = 0,
        immediate: bool = False,
    ) -> tuple[int, list[Pdu]]:
        itt = self.next_itt()
        pdu = ScsiCommand(
            itt=itt,
            cdb=cdb,
            lun=lun,
            read=read,
            write=write,
            final=final,
            expected_length=edtl,
            cmdsn=self.cmdsn,
            exp_statsn=self.exp_statsn,
            immediate=immediate,
            data=data,
        )
        if not immediate:
            self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
        return itt, self.send(pdu)

    def data_out(
        self, itt: int, ttt: int, offset: int, data: bytes, datasn: int, final: bool
    ) -> list[Pdu]:
        return self.send(
            DataOut(
                itt=itt,
                ttt=ttt,
                final=final,
                datasn=datasn,
                buffer_offset=offset,
                exp_statsn=self.exp_statsn,
                data=data,
            )
        )


def text_of(pdu: Pdu) -> dict[str, str]:
    return dict(decode_text(bytes(pdu.data)))
