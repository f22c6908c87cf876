"""Acceptance (issue 5, "VM isolation, end to end"): a QEMU guest on two slices of one image.

`sgguard serve` (a subprocess on a free loopback port) exports GPT partitions 1 and 2
of ONE image as two targets. One lab guest (Debian 6.1, TCG) gets both LUNs through
QEMU's iscsi driver as `scsi-block` pass-through disks, so every SG_IO command of the
guest (root, all capabilities: the guest kernel lets everything through) reaches
sgguard. Inside, the lab's attack corpus and sg_raw go for blocks beyond the first
slice; the real tools (sg_inq, sg_vpd, sg_readcap, sg_persist, eject, sg_start) and
in-slice I/O check that the slice works. The host then hashes the image: the second
slice, the gaps and the GPT areas are byte-for-byte unchanged, and every changed
block of the first slice is one the guest wrote, at partition 1's offset + its LBA.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sgguard.lab import attacks, disks, runner
from sgguard.lab.guest_vm import block_pattern
from sgguard.lab.kernels import KernelTree, default_cache_dir
from sgguard.target.identity import Identity

pytestmark = [pytest.mark.qemu, pytest.mark.network]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "lab" / "vm-isolation"
PREFIX = "iqn.2026-11.io.sgguard.lab"
TARGET_A, TARGET_B = f"{PREFIX}:vm-a", f"{PREFIX}:vm-b"
MIB = 2048
LAYOUT = disks.DiskLayout(
    "vm",
    0,
    "gpt",
    64 * MIB,
    (disks.Partition(1, MIB, 24 * MIB), disks.Partition(2, 26 * MIB, 24 * MIB)),
)
P1, P2 = LAYOUT.partition(1), LAYOUT.partition(2)
N = P1.blocks  # capacity of the guest's own disk (slice 1)
W10_LBA, PR_LBA = 100, 300
WS0_LBA = N - 16  # WRITE SAME (16) with 0 blocks from here: to the end of the slice
UNMAP_LBA, UNMAP_BLOCKS = 8192, 2048
PR_KEY = "0x5347475644"
LBA_OUT_OF_RANGE = (0x05, 0x21, 0x00)
CONFIG = """
[server]
queue_depth = 32

[[backing]]
name = "shared"
path = "{image}"

[[slice]]
name = "part1"
backing = "shared"
select = "1"

[[slice]]
name = "part2"
backing = "shared"
select = "2"

[[target]]
name = "{a}"
  [[target.lun]]
  lun = 0
  slice = "part1"
  removable = true

[[target]]
name = "{b}"
  [[target.lun]]
  lun = 0
  slice = "part2"
"""
Json = dict[str, Any]


def _rw10(op: int, lba: int, blocks: int) -> str:
    return struct.pack(">BBIBHB", op, 0, lba, 0, blocks, 0).hex()


def _rw16(op: int, lba: int, blocks: int) -> str:
    return struct.pack(">BBQIBB", op, 0, lba, blocks, 0, 0).hex()


def _sgio(sid: str, node: str, cdb: str, **kw: Any) -> Json:
    return {"id": sid, "kind": "sgio", "node": node, "cdb": cdb, **kw}


def _tool(sid: str, *argv: str) -> Json:
    return {"id": sid, "kind": "tool", "argv": list(argv)}


def _pat(tag: str, lba: int, blocks: int) -> Json:
    return {"tag": tag, "lba": lba, "blocks": blocks}


def _raw_args(cdb_hex: str) -> list[str]:
    return [cdb_hex[i : i + 2] for i in range(0, len(cdb_hex), 2)]


def _persist(sid: str, node: str, *args: str) -> Json:
    return _tool(sid, "sg_persist", *args, "{" + node + "}")


# sg_raw (real tool) commands that reach beyond the slice or the whole device:
# CDB, data direction ("out": 512 bytes from a file, "in": 512 bytes, "": none),
# sg3_utils exit status (22 SG_LIB_LBA_OUT_OF_RANGE, 9 SG_LIB_CAT_INVALID_OP,
# 5 SG_LIB_CAT_ILLEGAL_REQ) and the words of the sense sg_raw prints.
SG_RAW_OUTSIDE: dict[str, tuple[str, str, tuple[int, ...], str]] = {
    "write-10-past-end": (_rw10(0x2A, N, 1), "out", (22,), "Logical block address out of range"),
    "read-16-into-p2": (
        _rw16(0x88, P2.start - P1.start + 7, 1),
        "in",
        (22,),
        "Logical block address out of range",
    ),
    "write-same-16-into-p2": (
        _rw16(0x93, P2.start - P1.start, 8),
        "out",
        (22,),
        "Logical block address out of range",
    ),
    "write-buffer-microcode": (
        "3b05000000000002" + "0000",
        "out",
        (9,),
        "Invalid command operation code",
    ),
    "security-protocol-out": (
        "b5ef0000" + "0000" + "00000200" + "0000",
        "out",
        (9,),
        "Invalid command operation code",
    ),
    # SANITIZE CRYPTOGRAPHIC ERASE cannot be confined to a slice (no key of its own):
    # refused, as an unsupported service action (5) or opcode (9)
    "sanitize-crypto-erase": ("48" + "03" + "00" * 8, "", (5, 9), "Illegal Request"),
}


def _steps(plan: attacks.AttackPlan) -> list[Json]:
    um_params = struct.pack(">HH4xQI4x", 22, 16, UNMAP_LBA, UNMAP_BLOCKS)
    unmap_cdb = struct.pack(">BBIBHB", 0x42, 0, 0, 0, len(um_params), 0).hex()
    steps: list[Json] = [
        # who the guest's disks say they are
        _tool("sg_inq.a", "sg_inq", "{sg:a}"),
        _tool("sg_inq.b", "sg_inq", "{sg:b}"),
        _tool("sg_vpd-di.a", "sg_vpd", "--page=di", "{sg:a}"),
        _tool("sg_readcap.a", "sg_readcap", "--long", "{sg:a}"),
        _sgio("inquiry.a", "sg:a", "120000006000", data_in_len=96),
        _sgio("vpd-83.a", "sg:a", "120183010000", data_in_len=256),
        _sgio("vpd-83.b", "sg:b", "120183010000", data_in_len=256),
        _sgio("vpd-80.a", "sg:a", "120180010000", data_in_len=256),
        _sgio(
            "read-capacity-16.a",
            "sg:a",
            struct.pack(">BBQIBB", 0x9E, 0x10, 0, 32, 0, 0).hex(),
            data_in_len=32,
        ),
        # in-slice I/O
        _sgio("write-10", "sg:a", _rw10(0x2A, W10_LBA, 4), pattern=_pat("w10", W10_LBA, 4)),
        _sgio("read-10", "sg:a", _rw10(0x28, W10_LBA, 4), data_in_len=4 * 512),
        _sgio(
            "write-same-16-zero", "sg:a", _rw16(0x93, WS0_LBA, 0), pattern=_pat("ws0", WS0_LBA, 1)
        ),
        _sgio("write-16-last", "sg:a", _rw16(0x8A, N - 1, 1), pattern=_pat("w16", N - 1, 1)),
        _sgio("read-16-last", "sg:a", _rw16(0x88, N - 1, 1), data_in_len=512),
        _tool(
            "sg_raw-read-in-slice",
            "sg_raw",
            "-r",
            "512",
            "-o",
            "/tmp/r.bin",
            "{sg:a}",
            *_raw_args(_rw10(0x28, W10_LBA, 1)),
        ),
        {"id": "sg_raw-read-in-slice.data", "kind": "read_file", "path": "/tmp/r.bin"},
        {"id": "pattern-file", "kind": "file", "path": "/tmp/p.bin", "pattern": _pat("raw", 0, 1)},
    ]
    for name, (cdb, direction, _exits, _words) in SG_RAW_OUTSIDE.items():
        io = {"out": ["-s", "512", "-i", "/tmp/p.bin"], "in": ["-r", "512"], "": []}[direction]
        steps.append(_tool(f"sg_raw.{name}", "sg_raw", "-v", *io, "{sg:a}", *_raw_args(cdb)))
    steps += [{"id": a["id"], "kind": "attack", "attack": a} for a in plan.attacks]
    steps += [
        # UNMAP inside the slice deallocates
        _sgio(
            "write-unmap-area",
            "sg:a",
            _rw10(0x2A, UNMAP_LBA, UNMAP_BLOCKS),
            pattern=_pat("um", UNMAP_LBA, UNMAP_BLOCKS),
        ),
        _sgio("unmap", "sg:a", unmap_cdb, data_out=um_params.hex()),
        _sgio(
            "get-lba-status",
            "sg:a",
            struct.pack(">BBQIBB", 0x9E, 0x12, UNMAP_LBA, 64, 0, 0).hex(),
            data_in_len=64,
        ),
        _sgio("read-unmapped", "sg:a", _rw10(0x28, UNMAP_LBA, 8), data_in_len=8 * 512),
        # persistent reservations on the guest's own slice
        _persist("pr-register", "sg:a", "--out", "--register", f"--param-sark={PR_KEY}"),
        _persist(
            "pr-reserve", "sg:a", "--out", "--reserve", f"--param-rk={PR_KEY}", "--prout-type=1"
        ),
        _persist("pr-read-keys.a", "sg:a", "--in", "--read-keys"),
        _persist("pr-read-reservation.a", "sg:a", "--in", "--read-reservation"),
        _persist("pr-read-keys.b", "sg:b", "--in", "--read-keys"),
        _persist("pr-read-reservation.b", "sg:b", "--in", "--read-reservation"),
        _sgio("pr-holder-write", "sg:a", _rw10(0x2A, PR_LBA, 1), pattern=_pat("pr", PR_LBA, 1)),
        _persist(
            "pr-release", "sg:a", "--out", "--release", f"--param-rk={PR_KEY}", "--prout-type=1"
        ),
        _persist(
            "pr-unregister", "sg:a", "--out", "--register", f"--param-rk={PR_KEY}", "--param-sark=0"
        ),
        _persist("pr-read-keys-after.a", "sg:a", "--in", "--read-keys"),
        # eject touches nobody else; sg_start --load brings the medium back
        _tool("eject.a", "eject", "{disk:a}"),
        _sgio("tur-ejected.a", "sg:a", "00" * 6),
        _sgio("tur.b", "sg:b", "00" * 6),
        _sgio("read-10.b", "sg:b", _rw10(0x28, 7, 1), data_in_len=512),
        _tool("sg_start-load.a", "sg_start", "--load", "{sg:a}"),
        _sgio("tur-loaded-1.a", "sg:a", "00" * 6),
        _sgio("tur-loaded-2.a", "sg:a", "00" * 6),
        _sgio("read-10-after-load.a", "sg:a", _rw10(0x28, W10_LBA, 4), data_in_len=4 * 512),
    ]
    return steps


def _start_serve(tmp: Path, image: Path) -> tuple[subprocess.Popen[str], int, Path]:
    cfg = tmp / "sgguard.toml"
    cfg.write_text(CONFIG.format(image=image, a=TARGET_A, b=TARGET_B))
    log = tmp / "serve.log"
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
            "--data-dir",
            str(tmp / "state"),
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
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
        raise AssertionError(f"sgguard serve did not start: {log.read_text()[-2000:]}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, port, log


def _stop_serve(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9
    return proc.returncode


@pytest.fixture(scope="module")
def vm_run(lab_kernel: KernelTree, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Json]:
    tmp = tmp_path_factory.mktemp("vm")
    image = tmp / "shared.img"
    disks.make_image(LAYOUT, image)
    before = image.read_bytes()
    plan = attacks.plan_slice_attacks(LAYOUT, 1, "disk:a")
    proc, port, log = _start_serve(tmp, image)
    try:
        job = runner.GuestJob(
            module="sgguard.lab.guest_vm",
            input={"steps": _steps(plan)},
            disks={"a": {"scsi_id": 0, "partitions": 0}, "b": {"scsi_id": 1, "partitions": 0}},
            qemu_args=(
                *runner.iscsi_block_args(f"iscsi://127.0.0.1:{port}/{TARGET_A}/0", 0, 0),
                *runner.iscsi_block_args(f"iscsi://127.0.0.1:{port}/{TARGET_B}/0", 1, 1),
            ),
        )
        run = runner.run_job(lab_kernel, job, out_dir=ARTIFACTS, cache_dir=default_cache_dir())
    finally:
        status = _stop_serve(proc)
    after = image.read_bytes()
    steps = {s["id"]: s for s in run.result["steps"]}
    rows = attacks.judge_slice_attacks(plan, [steps[a["id"]] for a in plan.attacks])
    serve_log = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    record = {
        "attacks": rows,
        "steps": {k: v for k, v in steps.items() if v["kind"] != "attack"},
        "guest_disks": run.result["disks"],
        "changed": [
            [lba, LAYOUT.region_of(lba).name] for lba in disks.changed_blocks(before, after)
        ],
        "region_hashes_before": disks.region_hashes(LAYOUT, before),
        "region_hashes_after": disks.region_hashes(LAYOUT, after),
        "serve_exit": status,
        "refusals": [r for r in serve_log if r.get("event") == "refused"],
        "timings": run.timings,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "results.json").write_text(json.dumps(record, indent=1))
    yield {**record, "before": before, "after": after, "image": image}


def _sense(step: Json) -> tuple[int, int, int]:
    s = bytes.fromhex(step["sense"])
    if s[0] & 0x7F in (0x72, 0x73):
        return s[1] & 0x0F, s[2], s[3]
    return s[2] & 0x0F, s[12], s[13]


def _ok(step: Json) -> bool:
    return step.get("errno") is None and step.get("status") == 0 and "error" not in step


def test_vm_isolation_attacks_refused_by_sgguard(vm_run: Json) -> None:
    rows = vm_run["attacks"]
    assert len(rows) == 2 * len(attacks.ATTACKS) + len(attacks.TAIL_ATTACKS)
    by_verdict: dict[str, list[str]] = {}
    for r in rows:
        by_verdict.setdefault(r["verdict"], []).append(r["id"])
    print("verdicts:", {k: len(v) for k, v in by_verdict.items()})
    assert set(by_verdict) <= {"lba-out-of-range", "refused"}, by_verdict
    # media commands past the end: LBA OUT OF RANGE (SBC-4 4.5), not some other error;
    # the 32-byte forms are refused before their range is looked at (no type 2
    # protection on a slice), ATA PASS-THROUGH and EXTENDED COPY by policy
    media = ("READ_", "WRITE_", "UNMAP", "COMPARE_AND_WRITE", "SEND_COMMAND_")
    for r in rows:
        if r["attack"].startswith(media) and not r["attack"].endswith("_32"):
            assert r["verdict"] == "lba-out-of-range", r
        elif r["attack"] == "EXTENDED_COPY":
            assert (r["sense_key"], r["asc"]) == (0x0A, [0x0D, 0x02]), r  # COPY ABORTED
        else:
            assert (r["sense_key"], r["asc"]) == (0x05, [0x20, 0x00]), r
    # sgguard logged every refusal that was not an LBA range check, with its reason
    logged = [(int(x["opcode"]), x["rule"]) for x in vm_run["refusals"]]
    for r in rows:
        if r["verdict"] == "refused":
            assert any(op == int(r["cdb"][:2], 16) and rule for op, rule in logged), r


def test_vm_isolation_out_of_slice_attempts_logged(vm_run: Json) -> None:
    # issue 5: one log line per refused command (who, what, why); an attempt to
    # reach past the slice is the refusal an operator most needs to see
    # QEMU's scsi-block emulates READ/WRITE (6/10/12/16) and WRITE AND VERIFY
    # itself (scsi_disk_dma_command) and checks their range against the capacity
    # sgguard reported before sending anything: those never reach sgguard. Every
    # other out-of-range attack is forwarded as is and must be in sgguard's log.
    qemu_checks_range = {0x08, 0x0A, 0x28, 0x2A, 0xA8, 0xAA, 0x88, 0x8A, 0x2E, 0xAE, 0x8E}
    out_of_range = [r for r in vm_run["attacks"] if r["verdict"] == "lba-out-of-range"]
    forwarded = [r for r in out_of_range if int(r["cdb"][:2], 16) not in qemu_checks_range]
    assert len(forwarded) >= 6, forwarded  # WRITE SAME, UNMAP, COMPARE AND WRITE, VERIFY ...
    logged = [x for x in vm_run["refusals"] if "outside the slice" in x["rule"]]
    logged_ops = {int(x["opcode"]) for x in logged}
    missing = [r["id"] for r in forwarded if int(r["cdb"][:2], 16) not in logged_ops]
    assert missing == [], f"{len(missing)} LBA OUT OF RANGE refusals not logged: {missing[:5]}"


def test_vm_isolation_sg_raw_outside_refused(vm_run: Json) -> None:
    steps = vm_run["steps"]
    for name, (_cdb, _direction, exits, words) in SG_RAW_OUTSIDE.items():
        s = steps[f"sg_raw.{name}"]
        text = s["stderr"] + s["stdout"]
        assert s["exit"] in exits and "Illegal Request" in text and words in text, s
    logged = {int(x["opcode"]) for x in vm_run["refusals"]}
    assert {0x3B, 0xB5, 0x48} <= logged  # policy refusals are in the log, with the rule


def test_vm_isolation_other_slice_gaps_and_gpt_unchanged(vm_run: Json) -> None:
    before, after = vm_run["region_hashes_before"], vm_run["region_hashes_after"]
    assert set(before) == {"gpt-primary", "gap0", "p1", "gap1", "p2", "tail", "gpt-backup"}
    for region in before:
        if region != "p1":
            assert after[region] == before[region], region
    assert {name for _lba, name in vm_run["changed"]} == {"p1"}
    assert vm_run["serve_exit"] == 0


def test_vm_isolation_own_slice_writes_land_at_partition_offset(vm_run: Json) -> None:
    steps, img = vm_run["steps"], vm_run["after"]
    for sid in ("write-10", "read-10", "write-same-16-zero", "write-16-last", "read-16-last"):
        assert _ok(steps[sid]), (sid, steps[sid])
    w10 = b"".join(block_pattern("w10", W10_LBA + i) for i in range(4))
    assert bytes.fromhex(steps["read-10"]["data"]) == w10
    assert bytes.fromhex(steps["read-16-last"]["data"]) == block_pattern("w16", N - 1)
    raw = steps["sg_raw-read-in-slice"]
    assert raw["exit"] == 0, raw
    assert bytes.fromhex(steps["sg_raw-read-in-slice.data"]["data"]) == w10[:512]
    expected: dict[int, bytes] = {}
    for i in range(4):
        expected[P1.start + W10_LBA + i] = block_pattern("w10", W10_LBA + i)
    for lba in range(WS0_LBA, N - 1):
        expected[P1.start + lba] = block_pattern("ws0", WS0_LBA)
    expected[P1.start + N - 1] = block_pattern("w16", N - 1)
    expected[P1.start + PR_LBA] = block_pattern("pr", PR_LBA)
    for lba in range(UNMAP_LBA, UNMAP_LBA + UNMAP_BLOCKS):
        expected[P1.start + lba] = bytes(512)
    changed = {lba for lba, _name in vm_run["changed"]}
    assert changed == set(expected), sorted(changed ^ set(expected))[:20]
    for lba, block in expected.items():
        assert img[lba * 512 : (lba + 1) * 512] == block, lba


def test_vm_isolation_identity_is_sgguards(vm_run: Json) -> None:
    steps = vm_run["steps"]
    ida = Identity.for_slice(TARGET_A, "part1", removable=True)
    idb = Identity.for_slice(TARGET_B, "part2")
    inq = steps["sg_inq.a"]
    assert inq["exit"] == 0, inq
    assert re.search(r"Vendor identification:\s*SGGUARD", inq["stdout"]), inq["stdout"]
    assert re.search(r"Product identification:\s*SLICE", inq["stdout"])
    assert ida.serial in inq["stdout"] and idb.serial in steps["sg_inq.b"]["stdout"]
    assert re.search(r"RMB=1", inq["stdout"])
    assert steps["sg_vpd-di.a"]["exit"] == 0
    assert ida.naa.hex() in steps["sg_vpd-di.a"]["stdout"].replace(" ", "").lower()
    vpd_a = bytes.fromhex(steps["vpd-83.a"]["data"])
    vpd_b = bytes.fromhex(steps["vpd-83.b"]["data"])
    assert ida.naa in vpd_a and idb.naa in vpd_b and ida.naa not in vpd_b
    rc16 = bytes.fromhex(steps["read-capacity-16.a"]["data"])
    assert struct.unpack(">QI", rc16[:12]) == (N - 1, 512)
    assert steps["sg_readcap.a"]["exit"] == 0
    assert f"Last LBA={N - 1}" in steps["sg_readcap.a"]["stdout"]


def test_vm_isolation_unmap_deallocates(vm_run: Json) -> None:
    steps = vm_run["steps"]
    for sid in ("write-unmap-area", "unmap", "get-lba-status", "read-unmapped"):
        assert _ok(steps[sid]), (sid, steps[sid])
    gls = bytes.fromhex(steps["get-lba-status"]["data"])
    lba, blocks, state = struct.unpack_from(">QIB", gls, 8)
    assert lba == UNMAP_LBA and blocks >= UNMAP_BLOCKS and state & 0x0F == 1, gls.hex()
    assert bytes.fromhex(steps["read-unmapped"]["data"]) == bytes(8 * 512)
    fd = os.open(vm_run["image"], os.O_RDONLY)
    try:
        start = (P1.start + UNMAP_LBA) * 512
        nxt = os.lseek(fd, start, os.SEEK_DATA)
    finally:
        os.close(fd)
    assert nxt >= start + UNMAP_BLOCKS * 512  # a hole in the shared image


def test_vm_isolation_persistent_reservations(vm_run: Json) -> None:
    steps = vm_run["steps"]
    for sid in ("pr-register", "pr-reserve", "pr-read-keys.a", "pr-read-reservation.a"):
        assert steps[sid]["exit"] == 0, (sid, steps[sid])
    assert PR_KEY in steps["pr-read-keys.a"]["stdout"].lower()
    res_a = steps["pr-read-reservation.a"]["stdout"]
    assert PR_KEY in res_a.lower() and "Write Exclusive" in res_a, res_a
    # the other slice's unit knows nothing of it
    assert steps["pr-read-keys.b"]["exit"] == 0
    assert "there are NO registered reservation keys" in steps["pr-read-keys.b"]["stdout"]
    assert "there is NO reservation held" in steps["pr-read-reservation.b"]["stdout"]
    assert _ok(steps["pr-holder-write"])
    for sid in ("pr-release", "pr-unregister", "pr-read-keys-after.a"):
        assert steps[sid]["exit"] == 0, (sid, steps[sid])
    assert "there are NO registered reservation keys" in steps["pr-read-keys-after.a"]["stdout"]


def test_vm_isolation_eject_and_load_touch_nobody_else(vm_run: Json) -> None:
    steps = vm_run["steps"]
    assert steps["eject.a"]["exit"] == 0, steps["eject.a"]
    ejected = steps["tur-ejected.a"]
    assert ejected["status"] == 2 and _sense(ejected)[:2] == (0x02, 0x3A), ejected
    assert _ok(steps["tur.b"]) and _ok(steps["read-10.b"])
    assert steps["sg_start-load.a"]["exit"] == 0, steps["sg_start-load.a"]
    assert _ok(steps["tur-loaded-2.a"]), steps["tur-loaded-2.a"]
    after_load = bytes.fromhex(steps["read-10-after-load.a"]["data"])
    assert after_load == b"".join(block_pattern("w10", W10_LBA + i) for i in range(4))
