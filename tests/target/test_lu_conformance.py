"""The slice logical unit through a real initiator: libiscsi's iscsi-test-cu SBC suites.

A `LogicalUnit` on a slice in the middle of a memory image (outside filled with
a marker) is served by `sgguard.iscsi.server` on 127.0.0.1; libiscsi's
conformance tool runs the SBC/SPC command suites against it with --dataloss,
then the bytes outside the slice are checked unchanged.

CompareAndWrite.Simple/.Miscompare loop up to 256 blocks; 256 wraps the one-byte
NUMBER OF LOGICAL BLOCKS to 0 while 512 blocks of data-out follow: the unit
refuses the disagreement (INVALID FIELD IN CDB), as libiscsi expects beyond the
MAXIMUM COMPARE AND WRITE LENGTH of 255. iSCSIResiduals: writes with EDTL above
or below the transfer length write the whole blocks received.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

import pytest

from sgguard.iscsi.connection import PortalGroup
from sgguard.iscsi.server import IscsiServer
from sgguard.iscsi.target import Target
from sgguard.policy import Refusal
from sgguard.target.api import Nexus
from sgguard.target.backend import MemoryBackend, SliceBackend
from sgguard.target.copymanager import CopyManager
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit
from sgguard.target.passthrough import PassthroughLogicalUnit

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(shutil.which("iscsi-test-cu") is None, reason="libiscsi-bin not installed"),
]

TARGET = "iqn.2026-11.test.sgguard:conformance"
INIT1 = "iqn.2026-11.test.sgguard:cu1"
INIT2 = "iqn.2026-11.test.sgguard:cu2"
BS = 512
SLICE_FIRST = 8192
SLICE_BLOCKS = 16384
MARK = b"\xa5\x5a"

SUITES = (
    "ALL.Read6*,ALL.Read10*,ALL.Read12*,ALL.Read16*,"
    "ALL.Write10*,ALL.Write12*,ALL.Write16*,ALL.WriteVerify*,"
    "ALL.Verify10*,ALL.Verify12*,ALL.Verify16*,"
    "ALL.WriteSame10*,ALL.WriteSame16*,ALL.Unmap*,ALL.GetLBAStatus*,"
    "ALL.CompareAndWrite*,ALL.iSCSIResiduals*,"
    "ALL.OrWrite*,ALL.Prefetch10*,ALL.Prefetch16*,ALL.ReadCapacity10*,ALL.ReadCapacity16*,"
    "ALL.TestUnitReady*,ALL.Inquiry.Standard,ALL.Inquiry.AllocLength,ALL.Inquiry.EVPD,ALL.Inquiry.BlockLimits,"
    "ALL.Inquiry.MandatoryVPDSBC,ALL.Inquiry.SupportedVPD,ALL.Inquiry.VersionDescriptors,"
    "ALL.Mandatory*,ALL.ReportSupportedOpcodes*,"
    "ALL.ExtendedCopy*,ALL.ReceiveCopyResults*,"
    "ALL.ModeSense6*,ALL.Sanitize*,ALL.ReadDefectData*"
)
REMOVABLE_SUITES = "ALL.PreventAllow*,ALL.StartStopUnit*,ALL.TestUnitReady*,ALL.NoMedia*"


@dataclass(frozen=True)
class _SgResult:
    status: int
    sense: bytes
    data: bytes
    resid: int
    host_status: int = 0
    driver_status: int = 0
    errno_name: str | None = None


class DiskDevice:
    """A whole disk answering `sgguard.sgio.SgDevice.execute` calls (an SBC-4 LU over memory)."""

    NEXUS = Nexus("sgguard-passthrough", "device", 0)

    def __init__(self, base: MemoryBackend) -> None:
        self.unit = LogicalUnit(base, Identity.for_slice("device", "whole"))
        self.unit.execute(bytes(6), b"", self.NEXUS)

    def execute(
        self, cdb: bytes, data_out: bytes = b"", data_in_len: int = 0, timeout_ms: int = 0
    ) -> _SgResult:
        resp = self.unit.execute(cdb, data_out, self.NEXUS)
        data = bytes(resp.data_in)[:data_in_len]
        return _SgResult(int(resp.status), resp.sense, data, data_in_len - len(data))


class Served:
    """The slice unit on a memory image, served on 127.0.0.1:0 from its own loop thread.

    `passthrough`: the unit is a `PassthroughLogicalUnit` whose "device" is the
    whole image behind an SG_IO-shaped interface.
    """

    def __init__(
        self,
        *,
        removable: bool = False,
        read_only: bool = False,
        passthrough: bool = False,
        version: int | None = None,
    ) -> None:
        self.base = MemoryBackend(SLICE_FIRST * 2 + SLICE_BLOCKS, BS)
        self.base.buffer[:] = MARK * (len(self.base.buffer) // 2)
        lo, hi = SLICE_FIRST * BS, (SLICE_FIRST + SLICE_BLOCKS) * BS
        self.base.buffer[lo:hi] = bytes(hi - lo)
        self.lo, self.hi = lo, hi
        self.refusals: list[Refusal] = []
        units: list[LogicalUnit] = []
        identity = Identity.for_slice(TARGET, "slice0", removable=removable)
        if version is not None:
            identity = dataclasses.replace(identity, version=version)
        if passthrough:
            self.lu: LogicalUnit = PassthroughLogicalUnit(
                DiskDevice(self.base),
                SLICE_FIRST,
                SLICE_BLOCKS,
                BS,
                identity,
                read_only=read_only,
                log=self.refusals.append,
            )
        else:
            self.lu = LogicalUnit(
                SliceBackend(self.base, lo, hi - lo),
                identity,
                read_only=read_only,
                log=self.refusals.append,
                copy_manager=CopyManager(lambda nexus: units),
            )
        units.append(self.lu)
        self.outside = self.outside_hash()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.server: IscsiServer | None = None
        self.port = 0

    def outside_hash(self) -> str:
        buf = bytes(self.base.buffer)
        return hashlib.sha256(buf[: self.lo] + buf[self.hi :]).hexdigest()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _start(self) -> int:
        group = PortalGroup([Target(TARGET, {0: self.lu})], portals=["127.0.0.1:0"])
        self.server = IscsiServer(group, [("127.0.0.1", 0)])
        addresses = await self.server.start()
        return int(addresses[0][1])

    def __enter__(self) -> Served:
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.shutdown(2.0), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def test_cu(self, pattern: str) -> tuple[int, int, str]:
        out = subprocess.run(
            [
                "iscsi-test-cu",
                "--dataloss",
                f"--test={pattern}",
                f"--initiator-name={INIT1}",
                f"--initiator-name-2={INIT2}",
                f"iscsi://127.0.0.1:{self.port}/{TARGET}/0",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        text = out.stdout + out.stderr
        m = re.search(r"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", text)
        assert m is not None, text
        return int(m.group(2)), int(m.group(4)), text


def test_libiscsi_sbc_suites_on_a_slice() -> None:
    with Served() as srv:
        ran, failed, text = srv.test_cu(SUITES)
        assert srv.outside_hash() == srv.outside, "libiscsi's writes escaped the slice"
    failures = "\n".join(line for line in text.splitlines() if "FAILED" in line)
    assert failed == 0, failures or text[-4000:]
    assert ran >= 120, text[-2000:]
    assert srv.lu.internal_errors == 0


def test_libiscsi_removable_suites_on_a_slice() -> None:
    with Served(removable=True) as srv:
        ran, failed, text = srv.test_cu(REMOVABLE_SUITES)
    failures = "\n".join(line for line in text.splitlines() if "FAILED" in line)
    assert failed == 0, failures or text[-4000:]
    assert ran >= 12, text[-2000:]


def test_libiscsi_read_only_suite_on_a_slice() -> None:
    with Served(read_only=True) as srv:
        ran, failed, text = srv.test_cu("ALL.ReadOnly*")
        assert srv.outside_hash() == srv.outside
    assert failed == 0 and ran == 1, text[-4000:]
    assert any(r.rule == "read-only slice" for r in srv.refusals)


PASSTHROUGH_SUITES = (
    "ALL.Read10*,ALL.Read12*,ALL.Read16*,ALL.Write10*,ALL.Write12*,ALL.Write16*,"
    "ALL.WriteVerify*,ALL.Verify10*,ALL.Verify12*,ALL.Verify16*,ALL.WriteSame10*,"
    "ALL.WriteSame16*,ALL.Unmap*,ALL.GetLBAStatus*,ALL.CompareAndWrite*,ALL.iSCSIResiduals*,"
    "ALL.OrWrite*,ALL.Prefetch10*,ALL.Prefetch16*,"
    "ALL.ReadCapacity10*,ALL.ReadCapacity16*,ALL.Inquiry.EVPD,ALL.Inquiry.MandatoryVPDSBC,"
    "ALL.Inquiry.SupportedVPD,ALL.TestUnitReady*"
)


def test_libiscsi_sbc_suites_through_the_passthrough_unit() -> None:
    """The SG_IO flavour: every media command rewritten and run by the whole-disk device."""
    with Served(passthrough=True) as srv:
        ran, failed, text = srv.test_cu(PASSTHROUGH_SUITES)
        assert srv.outside_hash() == srv.outside, "rewritten commands escaped the slice"
    failures = "\n".join(line for line in text.splitlines() if "FAILED" in line)
    assert failed == 0, failures or text[-4000:]
    assert ran >= 90, text[-2000:]
    assert srv.lu.internal_errors == 0


def test_libiscsi_inquiry_standard_with_version_spc4() -> None:
    """The default Identity.version 06h (SPC-4): libiscsi 1.19 rejects 07h."""
    with Served() as srv:
        ran, failed, text = srv.test_cu("ALL.Inquiry.Standard,ALL.Inquiry.AllocLength")
    assert failed == 0 and ran == 2, text[-4000:]
    assert "SKIPPED" not in text, text[-4000:]
