"""Acceptance (issue 4): `PassthroughLogicalUnit` over a real SCSI disk, inside a lab guest.

One guest boot (Debian 6.1, TCG): the guest opens the /dev/sg node of a virtio-scsi
disk whose GPT has three partitions and runs sgguard's SG_IO pass-through unit with
the slice = partition 2. In-slice commands are rewritten and reach the disk;
out-of-slice commands are refused by the unit. The host then checks the image: the
writes landed at partition 2's offset + LBA, nothing outside partition 2 changed,
and the unit described the slice (capacity, NAA), not the disk.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from sgguard.lab import disks, runner
from sgguard.lab.guest_vm import block_pattern
from sgguard.lab.kernels import KernelTree, default_cache_dir
from sgguard.target.identity import derive_naa

pytestmark = [pytest.mark.qemu]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "lab" / "passthrough"
TARGET = "iqn.2026-11.io.sgguard.lab:pt"
MIB = 2048
LAYOUT = disks.DiskLayout(
    "pt",
    0,
    "gpt",
    32 * MIB,
    (
        disks.Partition(1, MIB, 6 * MIB),
        disks.Partition(2, 8 * MIB, 8 * MIB),
        disks.Partition(3, 17 * MIB, 13 * MIB),
    ),
)
P2 = LAYOUT.partition(2)
P3_START = LAYOUT.partition(3).start
N = P2.blocks  # the slice's capacity in blocks
UNMAP_LBA, UNMAP_BLOCKS = 4096, 2048  # 1 MiB, 4 KiB-aligned in the image (hole punch)
WCE0_LBA = 30
WS0_LBA = N - 8  # WRITE SAME (10) with 0 blocks from here: to the end of the SLICE
LBA_OUT_OF_RANGE = (0x05, 0x21, 0x00)
Json = dict[str, Any]


def _rw10(op: int, lba: int, blocks: int) -> str:
    return struct.pack(">BBIBHB", op, 0, lba, 0, blocks, 0).hex()


def _rw16(op: int, lba: int, blocks: int, flags: int = 0) -> str:
    return struct.pack(">BBQIBB", op, flags, lba, blocks, 0, 0).hex()


def _rw6(op: int, lba: int, blocks: int) -> str:
    return bytes([op, (lba >> 16) & 0x1F, (lba >> 8) & 0xFF, lba & 0xFF, blocks, 0]).hex()


def _unmap(lba: int, blocks: int) -> tuple[str, str]:
    params = struct.pack(">HH4xQI4x", 22, 16, lba, blocks)
    return struct.pack(">BBIBHB", 0x42, 0, 0, 0, len(params), 0).hex(), params.hex()


def _lu(sid: str, cdb: str, **kw: Any) -> Json:
    return {"id": sid, "kind": "lu", "cdb": cdb, **kw}


def _pat(tag: str, lba: int, blocks: int) -> Json:
    return {"tag": tag, "lba": lba, "blocks": blocks}


def _steps() -> list[Json]:
    um_cdb, um_params = _unmap(UNMAP_LBA, UNMAP_BLOCKS)
    oos_cdb, oos_params = _unmap(N - 4, 8)
    return [
        _lu("tur-ua", "00" * 6),  # the power-on unit attention
        _lu("tur", "00" * 6),
        _lu("read-capacity-10", "25" + "00" * 9),
        _lu("read-capacity-16", struct.pack(">BBQIBB", 0x9E, 0x10, 0, 32, 0, 0).hex()),
        _lu("inquiry", "120000006000"),
        _lu("vpd-00", "120100004000"),
        _lu("vpd-83", "120183010000"),
        _lu("vpd-b0", "1201b0004000"),
        # in-slice media commands (slice LBAs; the tag names the slice LBA)
        _lu("write-10", _rw10(0x2A, 10, 4), pattern=_pat("w10", 10, 4)),
        _lu("read-10", _rw10(0x28, 10, 4)),
        _lu("write-6", _rw6(0x0A, 20, 1), pattern=_pat("w6", 20, 1)),
        _lu("read-6", _rw6(0x08, 20, 1)),
        _lu("write-same-16", _rw16(0x93, 100, 4), pattern=_pat("ws16", 100, 1)),
        _lu("write-same-10-zero", _rw10(0x41, WS0_LBA, 0), pattern=_pat("ws0", WS0_LBA, 1)),
        _lu("write-16-last", _rw16(0x8A, N - 1, 1), pattern=_pat("w16", N - 1, 1)),
        _lu("read-16-last", _rw16(0x88, N - 1, 1)),
        _lu(
            "write-unmap-area",
            _rw10(0x2A, UNMAP_LBA, UNMAP_BLOCKS),
            pattern=_pat("um", UNMAP_LBA, UNMAP_BLOCKS),
        ),
        _lu("unmap", um_cdb, data_out=um_params),
        _lu("get-lba-status", struct.pack(">BBQIBB", 0x9E, 0x12, UNMAP_LBA, 64, 0, 0).hex()),
        _lu("read-unmapped", _rw10(0x28, UNMAP_LBA, 8)),
        _lu("synchronize-cache", "35" + "00" * 9),
        # out of the slice: every one refused with LBA OUT OF RANGE, nothing sent
        _lu("oos-read-10", _rw10(0x28, N, 1)),
        _lu("oos-read-6", _rw6(0x08, N + 5, 1)),
        _lu("oos-read-16-far", _rw16(0x88, P2.blocks + P3_START - P2.start, 1)),
        _lu("oos-write-10", _rw10(0x2A, N, 1), pattern=_pat("x10", N, 1)),
        _lu("oos-write-16-straddle", _rw16(0x8A, N - 1, 2), pattern=_pat("x16", N - 1, 2)),
        _lu("oos-write-16-wrap", _rw16(0x8A, 2**64 - 1, 2), pattern=_pat("xwrap", 0, 2)),
        _lu("oos-write-same-16", _rw16(0x93, N + 100, 2), pattern=_pat("xws", N + 100, 1)),
        _lu("oos-write-same-16-zero", _rw16(0x93, N + 1, 0), pattern=_pat("xws0", N + 1, 1)),
        _lu("oos-unmap-straddle", oos_cdb, data_out=oos_params),
        _lu(
            "oos-compare-and-write",
            struct.pack(">BBQ3xBBB", 0x89, 0, N, 1, 0, 0).hex(),
            pattern=_pat("xcaw", N, 2),
        ),
        _lu("oos-get-lba-status", struct.pack(">BBQIBB", 0x9E, 0x12, N, 64, 0, 0).hex()),
        _lu("oos-write-6-to-p3", _rw6(0x0A, P3_START - P2.start, 1), pattern=_pat("x6", 0, 1)),
        # the emulated Caching mode page with WCE=0: each write is made durable first
        _lu("mode-select-wce0", "151000001800", data_out="00000000" + "0812" + "00" * 18),
        _lu("mode-sense-caching", "1a0008006000"),
        _lu("write-10-wce0", _rw10(0x2A, WCE0_LBA, 1), pattern=_pat("wce0", WCE0_LBA, 1)),
        _lu("read-10-wce0", _rw10(0x28, WCE0_LBA, 1)),
        # the raw disk, read directly: the pass-through wrote at partition 2's offset
        {
            "id": "raw-read-p2-10",
            "kind": "sgio",
            "node": "sg:pt",
            "cdb": _rw10(0x28, P2.start + 10, 1),
            "data_in_len": 512,
        },
        # what the emulated disk itself answers (context for the unit's answers)
        {
            "id": "raw-get-lba-status",
            "kind": "sgio",
            "node": "sg:pt",
            "cdb": struct.pack(">BBQIBB", 0x9E, 0x12, P2.start + UNMAP_LBA, 64, 0, 0).hex(),
            "data_in_len": 64,
        },
        {
            "id": "raw-synchronize-cache-16",
            "kind": "sgio",
            "node": "sg:pt",
            "cdb": _rw16(0x91, P2.start, N),
        },
    ]


@pytest.fixture(scope="module")
def passthrough_run(lab_kernel: KernelTree, tmp_path_factory: pytest.TempPathFactory) -> Json:
    tmp = tmp_path_factory.mktemp("pt")
    image = tmp / "pt.img"
    disks.make_image(LAYOUT, image)
    before = image.read_bytes()
    job = runner.GuestJob(
        module="sgguard.lab.guest_passthrough",
        input={
            "device": "sg:pt",
            "first": P2.start,
            "blocks": N,
            "block_size": 512,
            "target": TARGET,
            "slice": "p2",
            "steps": _steps(),
        },
        disks={"pt": {"scsi_id": LAYOUT.scsi_id, "partitions": 3}},
        images=((LAYOUT, image),),
    )
    run = runner.run_job(lab_kernel, job, out_dir=ARTIFACTS, cache_dir=default_cache_dir())
    after = image.read_bytes()
    steps = {s["id"]: s for s in run.result["steps"]}
    record = {
        "steps": steps,
        "refusals": run.result["refusals"],
        "flush_error": run.result["flush_error"],
        "timings": run.timings,
        "changed": [
            [lba, LAYOUT.region_of(lba).name] for lba in disks.changed_blocks(before, after)
        ],
    }
    (ARTIFACTS / "results.json").write_text(json.dumps(record, indent=1))
    return {**record, "before": before, "after": after, "image": image}


def _sense(step: Json) -> tuple[int, int, int]:
    s = bytes.fromhex(step["sense"])
    if s[0] & 0x7F in (0x72, 0x73):
        return s[1] & 0x0F, s[2], s[3]
    return s[2] & 0x0F, s[12], s[13]


def _block(image: bytes, lba: int) -> bytes:
    return image[lba * 512 : (lba + 1) * 512]


def test_passthrough_in_guest_in_slice_commands_succeed(passthrough_run: Json) -> None:
    steps = passthrough_run["steps"]
    assert steps["tur-ua"]["status"] == 2 and _sense(steps["tur-ua"])[0] == 0x06
    for sid in (
        "tur",
        "read-capacity-10",
        "read-capacity-16",
        "inquiry",
        "vpd-00",
        "vpd-83",
        "vpd-b0",
        "write-10",
        "read-10",
        "write-6",
        "read-6",
        "write-same-16",
        "write-same-10-zero",
        "write-16-last",
        "read-16-last",
        "write-unmap-area",
        "unmap",
        "read-unmapped",
        "synchronize-cache",
    ):
        assert "error" not in steps[sid], (sid, steps[sid])
        assert steps[sid]["status"] == 0, (sid, steps[sid])
    # reads give back what the writes put there
    r10 = bytes.fromhex(steps["read-10"]["data"])
    assert r10 == b"".join(block_pattern("w10", 10 + i) for i in range(4))
    assert bytes.fromhex(steps["read-6"]["data"]) == block_pattern("w6", 20)
    assert bytes.fromhex(steps["read-16-last"]["data"]) == block_pattern("w16", N - 1)
    assert bytes.fromhex(steps["read-unmapped"]["data"]) == bytes(8 * 512)
    # the raw disk, read at partition 2's offset, holds the slice's LBA 10
    raw = passthrough_run["steps"]["raw-read-p2-10"]
    assert raw["status"] == 0 and bytes.fromhex(raw["data"]) == block_pattern("w10", 10)


def test_passthrough_in_guest_describes_the_slice(passthrough_run: Json) -> None:
    steps = passthrough_run["steps"]
    rc10 = bytes.fromhex(steps["read-capacity-10"]["data"])
    assert struct.unpack(">II", rc10[:8]) == (N - 1, 512)
    rc16 = bytes.fromhex(steps["read-capacity-16"]["data"])
    assert struct.unpack(">QI", rc16[:12]) == (N - 1, 512)
    inq = bytes.fromhex(steps["inquiry"]["data"])
    assert inq[0] & 0x1F == 0 and inq[8:16].decode().strip() == "QEMU"
    vpd83 = bytes.fromhex(steps["vpd-83"]["data"])
    assert vpd83[1] == 0x83
    naa = derive_naa(TARGET, "p2")
    assert naa in vpd83, vpd83.hex()
    # QEMU's own designators for the disk (its serial, "QEMU HARDDISK") are not passed on
    assert b"QEMU" not in vpd83 and b"SGGPT" not in vpd83
    pages = bytes.fromhex(steps["vpd-00"]["data"])
    assert pages[1] == 0 and {0x00, 0x80, 0x83} <= set(pages[4:])


def test_passthrough_in_guest_get_lba_status_is_the_devices_answer(passthrough_run: Json) -> None:
    gls = passthrough_run["steps"]["get-lba-status"]
    if gls["status"] == 0:
        data = bytes.fromhex(gls["data"])
        lba, _blocks, state = struct.unpack_from(">QIB", data, 8)
        assert lba == UNMAP_LBA and state & 0x0F in (1, 2)  # deallocated / anchored
    else:
        # QEMU 7.2's emulated disk (scsi-hd) has no GET LBA STATUS: the device's own
        # ILLEGAL REQUEST comes back through the unit (translated, nothing invented)
        assert gls["status"] == 2 and _sense(gls)[0] == 0x05, gls


def test_passthrough_in_guest_flush_works_on_the_emulated_disk(passthrough_run: Json) -> None:
    # QEMU 7.2's scsi-hd answers SYNCHRONIZE CACHE (16) with INVALID COMMAND OPERATION
    # CODE and SYNCHRONIZE CACHE (10) with GOOD: a flush of a slice that fits 32-bit
    # LBAs must not depend on the 16-byte form (the kernel's sd uses the 10-byte one)
    steps = passthrough_run["steps"]
    assert _sense(steps["raw-synchronize-cache-16"]) == (0x05, 0x20, 0x00)
    assert steps["synchronize-cache"]["status"] == 0
    assert passthrough_run["flush_error"] is None


def test_passthrough_in_guest_write_with_wce0(passthrough_run: Json) -> None:
    steps = passthrough_run["steps"]
    assert steps["mode-select-wce0"]["status"] == 0, steps["mode-select-wce0"]
    caching = bytes.fromhex(steps["mode-sense-caching"]["data"])
    page = caching[4 + caching[3] :]
    assert page[0] & 0x3F == 0x08 and not page[2] & 0x04  # WCE=0 now
    # the write reached the disk (image test) and must be GOOD: the unit follows it
    # with a SYNCHRONIZE CACHE the device supports
    assert steps["write-10-wce0"]["status"] == 0, steps["write-10-wce0"]
    assert bytes.fromhex(steps["read-10-wce0"]["data"]) == block_pattern("wce0", WCE0_LBA)


def test_passthrough_in_guest_out_of_slice_refused(passthrough_run: Json) -> None:
    steps = passthrough_run["steps"]
    oos = [s for sid, s in steps.items() if sid.startswith("oos-")]
    assert len(oos) == 12
    for s in oos:
        assert "error" not in s, s
        assert s["status"] == 2 and _sense(s) == LBA_OUT_OF_RANGE, s


def test_passthrough_in_guest_image_changed_only_where_written(passthrough_run: Json) -> None:
    before, after = passthrough_run["before"], passthrough_run["after"]
    b = disks.region_hashes(LAYOUT, before)
    a = disks.region_hashes(LAYOUT, after)
    assert {k: v for k, v in a.items() if k != "p2"} == {k: v for k, v in b.items() if k != "p2"}
    first = P2.start
    expected: dict[int, bytes] = {}
    for i in range(4):
        expected[first + 10 + i] = block_pattern("w10", 10 + i)
        expected[first + 100 + i] = block_pattern("ws16", 100)
    expected[first + 20] = block_pattern("w6", 20)
    expected[first + WCE0_LBA] = block_pattern("wce0", WCE0_LBA)
    for lba in range(WS0_LBA, N - 1):
        expected[first + lba] = block_pattern("ws0", WS0_LBA)
    expected[first + N - 1] = block_pattern("w16", N - 1)
    for lba in range(UNMAP_LBA, UNMAP_LBA + UNMAP_BLOCKS):
        expected[first + lba] = bytes(512)
    changed = set(disks.changed_blocks(before, after))
    assert changed == set(expected), sorted(changed ^ set(expected))[:20]
    for lba, block in expected.items():
        assert _block(after, lba) == block, lba
    # the UNMAP punched a hole in the image file (QEMU discard=unmap)
    fd = os.open(passthrough_run["image"], os.O_RDONLY)
    try:
        start = (first + UNMAP_LBA) * 512
        nxt = os.lseek(fd, start, os.SEEK_DATA)
    finally:
        os.close(fd)
    assert nxt >= start + UNMAP_BLOCKS * 512
