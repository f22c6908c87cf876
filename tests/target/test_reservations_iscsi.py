"""Reservations and mode pages through a real initiator: libiscsi against our iSCSI server.

Runs libiscsi's conformance suite `iscsi-test-cu` (PERSISTENT RESERVE IN/OUT, RESERVE
(6), MODE SENSE (6) suites) against a `LogicalUnit` served by `sgguard.iscsi.server`
on 127.0.0.1, and checks that an APTPL registration and reservation survive a server
restart (a new `Reservations` from the stored file) using raw CDBs sent through
libiscsi (ctypes on libiscsi.so.7, package libiscsi7, a dependency of libiscsi-bin).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from sgguard.iscsi.connection import PortalGroup
from sgguard.iscsi.server import IscsiServer
from sgguard.iscsi.target import Target
from sgguard.target.backend import MemoryBackend
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit
from sgguard.target.reservations import open_persisted

pytestmark = pytest.mark.network

TARGET = "iqn.2026-11.test.sgguard:pr"
INIT1 = "iqn.2026-11.test.sgguard:init1"
INIT2 = "iqn.2026-11.test.sgguard:init2"


class ServerThread:
    """An IscsiServer on 127.0.0.1:0 serving one LU, on its own event loop thread."""

    def __init__(self, lu: LogicalUnit) -> None:
        self.lu = lu
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.server: IscsiServer | None = None
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)  # IscsiServer() asks the policy for the loop
        self.loop.run_forever()

    async def _start(self) -> int:
        group = PortalGroup([Target(TARGET, {0: self.lu})], portals=["127.0.0.1:0"])
        self.server = IscsiServer(group, [("127.0.0.1", 0)])
        addresses = await self.server.start()
        return addresses[0][1]

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.shutdown(2.0), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"iscsi://127.0.0.1:{self.port}/{TARGET}/0"


def make_lu(state: Path) -> LogicalUnit:
    prs, store = open_persisted(state)
    prs.store = store
    return LogicalUnit(MemoryBackend(4096), Identity.for_slice(TARGET, "pr0"), reservations=prs)


def run_test_cu(url: str, pattern: str) -> tuple[int, int, str]:
    out = subprocess.run(
        [
            "iscsi-test-cu",
            "--dataloss",
            f"--test={pattern}",
            f"--initiator-name={INIT1}",
            f"--initiator-name-2={INIT2}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = out.stdout + out.stderr
    m = re.search(r"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", text)
    assert m is not None, text
    ran, failed = int(m.group(2)), int(m.group(4))
    assert out.returncode == 0 or failed, text
    return ran, failed, text


needs_test_cu = pytest.mark.skipif(
    shutil.which("iscsi-test-cu") is None, reason="iscsi-test-cu (libiscsi-bin) is not installed"
)


# The RESERVE (6) tests around resets and nexus loss sleep 3 s each inside libiscsi; their
# behaviour is covered by test_reservations.py (test_reserve6_reset, ..._itnexus_loss).
SUITES = "ALL.Prin*,ALL.Prout*,ALL.Reserve6.Simple,ALL.Reserve6.2Initiators,ALL.Reserve6.Logout"


@needs_test_cu
def test_libiscsi_reservation_suites(tmp_path: Path) -> None:
    with ServerThread(make_lu(tmp_path / "pr.json")) as srv:
        ran, failed, text = run_test_cu(srv.url, SUITES)
    assert failed == 0, text
    assert ran >= 20, text  # 4 PR IN + 17 PR OUT + 3 RESERVE (6) tests in libiscsi 1.19


@needs_test_cu
def test_libiscsi_modesense6_suite(tmp_path: Path) -> None:
    with ServerThread(make_lu(tmp_path / "pr.json")) as srv:
        ran, failed, text = run_test_cu(srv.url, "ALL.ModeSense6*")
    assert failed == 0, text
    assert ran == 5, text


# -- APTPL across a restart, with raw CDBs through libiscsi ----------------------------------


class ScsiTask(ctypes.Structure):
    """The leading fields of libiscsi's struct scsi_task (include/scsi-lowlevel.h)."""

    _fields_ = [
        ("status", ctypes.c_int),
        ("cdb_size", ctypes.c_int),
        ("xfer_dir", ctypes.c_int),
        ("expxferlen", ctypes.c_int),
        ("cdb", ctypes.c_ubyte * 16),
        ("residual_status", ctypes.c_int),
        ("residual", ctypes.c_size_t),
        ("sense_error_type", ctypes.c_ubyte),
        ("sense_key", ctypes.c_int),
        ("sense_ascq", ctypes.c_int),
    ]


class IscsiData(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("data", ctypes.c_char_p)]


def _libiscsi() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("iscsi") or "libiscsi.so.7"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.iscsi_create_context.restype = ctypes.c_void_p
    lib.iscsi_create_context.argtypes = [ctypes.c_char_p]
    lib.iscsi_set_targetname.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.iscsi_set_session_type.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.iscsi_set_isid_random.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
    lib.iscsi_full_connect_sync.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.iscsi_get_error.restype = ctypes.c_char_p
    lib.iscsi_get_error.argtypes = [ctypes.c_void_p]
    lib.scsi_create_task.restype = ctypes.POINTER(ScsiTask)
    lib.scsi_create_task.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    lib.iscsi_scsi_command_sync.restype = ctypes.POINTER(ScsiTask)
    lib.iscsi_scsi_command_sync.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(ScsiTask),
        ctypes.POINTER(IscsiData),
    ]
    lib.scsi_free_scsi_task.argtypes = [ctypes.POINTER(ScsiTask)]
    lib.iscsi_logout_sync.argtypes = [ctypes.c_void_p]
    lib.iscsi_destroy_context.argtypes = [ctypes.c_void_p]
    return lib


LIB = _libiscsi()
XFER_NONE, XFER_READ, XFER_WRITE = 0, 1, 2
GOOD, CHECK_CONDITION, RESERVATION_CONFLICT = 0x00, 0x02, 0x18


class Initiator:
    """One libiscsi session with a fixed ISID: the same I_T nexus on every login."""

    def __init__(self, name: str, isid_rnd: int, port: int) -> None:
        assert LIB is not None
        self.ctx = LIB.iscsi_create_context(name.encode())
        assert self.ctx
        LIB.iscsi_set_targetname(self.ctx, TARGET.encode())
        LIB.iscsi_set_session_type(self.ctx, 2)  # ISCSI_SESSION_NORMAL
        LIB.iscsi_set_isid_random(self.ctx, isid_rnd, 0)
        rc = LIB.iscsi_full_connect_sync(self.ctx, f"127.0.0.1:{port}".encode(), 0)
        assert rc == 0, LIB.iscsi_get_error(self.ctx)

    def command(self, cdb: bytes, data_out: bytes = b"", data_in: int = 0) -> tuple[int, int]:
        """Status and sense key (after retrying past unit attentions)."""
        assert LIB is not None
        for _ in range(4):
            direction = XFER_WRITE if data_out else (XFER_READ if data_in else XFER_NONE)
            task = LIB.scsi_create_task(len(cdb), cdb, direction, len(data_out) or data_in)
            buf = ctypes.create_string_buffer(data_out, len(data_out)) if data_out else None
            data = IscsiData(len(data_out), ctypes.cast(buf, ctypes.c_char_p)) if buf else None
            result = LIB.iscsi_scsi_command_sync(
                self.ctx, 0, task, ctypes.byref(data) if data is not None else None
            )
            assert result, LIB.iscsi_get_error(self.ctx)
            status, key = result.contents.status, result.contents.sense_key
            LIB.scsi_free_scsi_task(result)
            if not (status == CHECK_CONDITION and key == 0x06):  # UNIT ATTENTION
                return status, key
        raise AssertionError("unit attentions never cleared")

    def close(self) -> None:
        assert LIB is not None
        LIB.iscsi_logout_sync(self.ctx)
        LIB.iscsi_destroy_context(self.ctx)


def prout(sa: int, pr_type: int, key: int, sa_key: int, flags: int = 0) -> tuple[bytes, bytes]:
    cdb = bytes((0x5F, sa, pr_type, 0, 0, 0, 0, 0, 24, 0))
    params = key.to_bytes(8, "big") + sa_key.to_bytes(8, "big") + bytes(4) + bytes((flags, 0, 0, 0))
    return cdb, params


WRITE10 = bytes((0x2A, 0, 0, 0, 0, 8, 0, 0, 1, 0))
READ10 = bytes((0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0))
KEY = 0x5347_4755_4152_4401


@pytest.mark.skipif(LIB is None, reason="libiscsi.so.7 is not installed")
@pytest.mark.parametrize("aptpl", [True, False])
def test_aptpl_reservation_survives_server_restart(tmp_path: Path, aptpl: bool) -> None:
    state = tmp_path / "lun0.pr.json"
    with ServerThread(make_lu(state)) as srv:
        a = Initiator(INIT1, 0x1234, srv.port)
        b = Initiator(INIT2, 0x5678, srv.port)
        assert a.command(*prout(0x06, 0, 0, KEY, 0x01 if aptpl else 0x00)) == (GOOD, 0)
        assert a.command(*prout(0x01, 0x03, KEY, 0)) == (GOOD, 0)  # EXCLUSIVE ACCESS
        assert b.command(WRITE10, bytes(512))[0] == RESERVATION_CONFLICT
        a.close()
        b.close()
    assert state.exists() == aptpl
    # restart: a new logical unit restores its reservations from the file
    with ServerThread(make_lu(state)) as srv:
        a = Initiator(INIT1, 0x1234, srv.port)
        b = Initiator(INIT2, 0x5678, srv.port)
        try:
            if aptpl:
                assert b.command(WRITE10, bytes(512))[0] == RESERVATION_CONFLICT
                assert b.command(READ10, data_in=512)[0] == RESERVATION_CONFLICT
                assert a.command(WRITE10, bytes(512)) == (GOOD, 0)
                assert a.command(*prout(0x03, 0, KEY, 0)) == (GOOD, 0)  # CLEAR
            else:
                assert b.command(WRITE10, bytes(512)) == (GOOD, 0)
                assert a.command(*prout(0x01, 0x03, KEY, 0))[0] == RESERVATION_CONFLICT
            assert b.command(WRITE10, bytes(512)) == (GOOD, 0)
        finally:
            a.close()
            b.close()
