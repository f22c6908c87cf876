"""Fixtures: `sgguard serve` as a subprocess over a GPT image, and an in-process server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sgguard.iscsi.connection import PortalGroup
from sgguard.iscsi.pdu import LoginRequest, LoginResponse, Pdu, PduFramer, decode_pdu, encode_pdu
from sgguard.iscsi.server import IscsiServer, ServerLimits
from sgguard.iscsi.target import Target
from sgguard.iscsi.text import encode_text
from sgguard.target.backend import MemoryBackend, SliceBackend
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit
from sgguard.topology import GptPartitionSpec, build_gpt_image

IMAGE_SIZE = 64 << 20
PREFIX = "iqn.2026-11.io.sgguard.test"
CHAP_USER, CHAP_SECRET = "alice", "alice-secret-1234"
MUTUAL_USER, MUTUAL_SECRET = "tgt", "target-secret-5678"
ALLOWED = "iqn.2026-11.test:allowed"


def need(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.fail(f"{t} is not installed (see scripts/apt-packages.txt)")


@dataclass
class Served:
    proc: subprocess.Popen[str]
    host: str
    port: int
    image: Path
    metrics_port: int
    config: Path
    stderr_path: Path
    slices: dict[str, tuple[int, int]] = field(default_factory=dict)

    def url(self, target: str, lun: int = 0, auth: str = "") -> str:
        return f"iscsi://{auth}{self.host}:{self.port}/{PREFIX}:{target}/{lun}"

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CONFIG = """
[server]
queue_depth = 64
login_timeout = 5

[[backing]]
name = "disk0"
path = "{image}"

[[slice]]
name = "part1"
backing = "disk0"
select = "1"

[[slice]]
name = "part2"
backing = "disk0"
select = "name=part2"

[[target]]
name = "{prefix}:part1"
  [[target.lun]]
  lun = 0
  slice = "part1"

[[target]]
name = "{prefix}:part2"
  [[target.lun]]
  lun = 0
  slice = "part2"
  [[target.lun]]
  lun = 3
  slice = "part1"
  read_only = true

[[target]]
name = "{prefix}:conf"
  [[target.lun]]
  lun = 0
  slice = "part1"
  removable = true

[[target]]
name = "{prefix}:chap"
chap = {{ user = "{chap_user}", secret = "{chap_secret}" }}
mutual_chap = {{ user = "{mutual_user}", secret = "{mutual_secret}" }}
  [[target.lun]]
  lun = 0
  slice = "part2"

[[target]]
name = "{prefix}:acl"
allowed_initiators = ["{allowed}"]
  [[target.lun]]
  lun = 0
  slice = "part2"
  [[target.lun]]
  lun = 3
  slice = "part1"
  read_only = true
"""


def start_serve(tmp: Path, image: Path, *extra: str) -> Served:
    cfg = tmp / "sgguard.toml"
    cfg.write_text(
        CONFIG.format(
            image=image,
            prefix=PREFIX,
            chap_user=CHAP_USER,
            chap_secret=CHAP_SECRET,
            mutual_user=MUTUAL_USER,
            mutual_secret=MUTUAL_SECRET,
            allowed=ALLOWED,
        )
    )
    mport = free_port()
    err = tmp / "serve.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sgguard",
            "serve",
            "--config",
            str(cfg),
            "--portal",
            "127.0.0.1:0",
            "--json-logs",
            "--metrics",
            f"127.0.0.1:{mport}",
            "--data-dir",
            str(tmp / "state"),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=err.open("w"),
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    port = 0
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if not port:
        proc.kill()
        raise AssertionError(f"sgguard serve did not start: {err.read_text()}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return Served(proc, "127.0.0.1", port, image, mport, cfg, err)


def stop_serve(served: Served) -> int:
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
        try:
            return served.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait()
            return -9
    return served.proc.returncode


def make_image(path: Path) -> dict[str, tuple[int, int]]:
    layout = build_gpt_image(
        path,
        IMAGE_SIZE,
        [GptPartitionSpec(32 << 20, name="part1"), GptPartitionSpec(None, name="part2")],
    )
    return {p.name: (p.start_byte, p.size_bytes) for p in layout.partitions}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    need("iscsi-ls", "iscsi-inq")
    tmp = tmp_path_factory.mktemp("serve")
    image = tmp / "disk0.img"
    slices = make_image(image)
    s = start_serve(tmp, image)
    s.slices = slices
    try:
        yield s
    finally:
        stop_serve(s)


# --- in-process server -----------------------------------------------------------------------


@dataclass
class InProcess:
    server: IscsiServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    host: str
    port: int
    backend: MemoryBackend  # the whole disk; the LU sees blocks 1024..9215 of it

    def outside_hash(self) -> str:
        buf = bytes(self.backend.buffer)
        return hashlib.sha256(buf[: 1024 * 512] + buf[(1024 + 8192) * 512 :]).hexdigest()

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.server.shutdown(2.0), self.loop)
        fut.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)


def start_in_process(limits: ServerLimits | None = None, **group_kw: Any) -> InProcess:
    backend = MemoryBackend(8192 + 2 * 1024, 512)
    backend.buffer[:] = b"\xee" * len(backend.buffer)  # everything outside the slice
    window = SliceBackend(backend, 1024 * 512, 8192 * 512)
    lu = LogicalUnit(window, Identity.for_slice(f"{PREFIX}:mem", "mem"))
    group = PortalGroup([Target(f"{PREFIX}:mem", {0: lu})], **group_kw)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = IscsiServer(group, [("127.0.0.1", 0)], limits=limits or ServerLimits())
        box["server"] = server
        box["addr"] = loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30)
    host, port = box["addr"][0]
    return InProcess(box["server"], loop, thread, host, port, backend)


@pytest.fixture
def in_process() -> Iterator[InProcess]:
    srv = start_in_process(
        ServerLimits(max_connections=16, partial_pdu_timeout=1.5), login_timeout=2.0
    )
    try:
        yield srv
    finally:
        srv.stop()


class SocketPeer:
    """A blocking-socket initiator speaking our PDU codec (for robustness tests)."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.framer = PduFramer(max_data_segment=1 << 24)
        self.cmdsn = 0
        self.itt = 0

    def send(self, pdu: Pdu) -> None:
        self.sock.sendall(b"".join(bytes(b) for b in encode_pdu(pdu)))

    def recv(self) -> Pdu | None:
        while True:
            frame = self.framer.next_frame()
            if frame is not None:
                return decode_pdu(frame.header, frame.data)
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError, OSError):
                return None
            if not data:
                return None
            self.framer.feed(data)

    def login(
        self, target: str = f"{PREFIX}:mem", isid: bytes = b"\x80\0\0\0\0\x01"
    ) -> LoginResponse:
        self.send(
            LoginRequest(
                itt=0,
                isid=isid,
                transit=True,
                csg=1,
                nsg=3,
                data=encode_text(
                    [("InitiatorName", "iqn.2026-11.test:sock"), ("TargetName", target)]
                ),
            )
        )
        resp = self.recv()
        assert isinstance(resp, LoginResponse), resp
        return resp

    def closed(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (TimeoutError, OSError):
            return False

    def close(self) -> None:
        self.sock.close()


def tools_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LIBISCSI_DEBUG", None)
    return env
