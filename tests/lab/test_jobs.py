"""sgguard.lab guest jobs on the host: slice attack plans and verdicts, QEMU arguments,
the job initramfs layer and the step executor (no guest boot)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from sgguard.errors import InputError, UsageError
from sgguard.lab import attacks, guest_vm, initramfs, runner
from sgguard.lab.disks import DiskLayout, Partition
from sgguard.lab.initramfs import read_cpio

MIB = 2048
DISK = DiskLayout("vm", 0, "gpt", 64 * MIB, (Partition(1, MIB, 24 * MIB), Partition(2, 26 * MIB, 24 * MIB)))  # fmt: skip


def test_plan_slice_attacks_aims_past_the_unit_end() -> None:
    plan = attacks.plan_slice_attacks(DISK, 1, "disk:a")
    rows = plan.attacks
    assert len(rows) == 2 * len(attacks.ATTACKS) + len(attacks.TAIL_ATTACKS)
    assert len({a["id"] for a in rows}) == len(rows)
    p1, p2 = DISK.partition(1), DISK.partition(2)
    for a in rows:
        assert a["target_lba"] >= p1.blocks  # every target is outside the unit
        assert a["image_lba"] == p1.start + a["target_lba"]
        if a["style"] == "into-next":
            # an unchecked shift by the partition start would hit partition 2
            assert p2.start <= a["image_lba"] < p2.end
    r10 = next(a for a in rows if a["id"] == "past-end.READ_10")
    assert bytes.fromhex(r10["cdb"])[2:6] == struct.pack(">I", p1.blocks)
    ws0 = next(a for a in rows if a["id"] == "past-end.WRITE_SAME_16_ZERO_BLOCKS")
    assert ws0["to_end"] and struct.unpack(">I", bytes.fromhex(ws0["cdb"])[10:14]) == (0,)
    with pytest.raises(ValueError, match="no partition after it"):
        attacks.plan_slice_attacks(DISK, 2, "disk:b")


def _sense(key: int, asc: int, ascq: int = 0) -> str:
    s = bytearray(18)
    s[0], s[2], s[7], s[12], s[13] = 0x70, key, 10, asc, ascq
    return s.hex()


def test_judge_slice_attacks_classifies_answers() -> None:
    plan = attacks.plan_slice_attacks(DISK, 1, "disk:a")
    ids = [a["id"] for a in plan.attacks[:6]]
    results: list[dict[str, Any]] = [
        {"id": ids[0], "status": 2, "sense": _sense(5, 0x21), "errno": None},
        {"id": ids[1], "status": 2, "sense": _sense(5, 0x20), "errno": None},
        {"id": ids[2], "status": 2, "sense": _sense(0x0A, 0x0D, 2), "errno": None},
        {"id": ids[3], "status": 0, "sense": "", "errno": None, "host_status": 0},
        {"id": ids[4], "errno": "EIO"},
    ]
    rows = {r["id"]: r for r in attacks.judge_slice_attacks(plan, results)}
    assert [rows[i]["verdict"] for i in ids] == [
        "lba-out-of-range",
        "refused",
        "refused",
        "accepted",
        "not-delivered",
        "not-run",
    ]
    assert rows[ids[0]]["asc"] == [0x21, 0] and rows[ids[0]]["sense_key"] == 5


def test_iscsi_block_args_and_extra_qemu_arguments(tmp_path: Path) -> None:
    args = runner.iscsi_block_args("iscsi://127.0.0.1:3260/iqn.2026-11.x:a/0", 1, 4)
    assert args == [
        "-drive",
        "file=iscsi://127.0.0.1:3260/iqn.2026-11.x:a/0,format=raw,if=none,id=iscsi1,cache=none",
        "-device",
        "scsi-block,drive=iscsi1,bus=scsi0.0,scsi-id=4,lun=0",
    ]
    argv = runner.qemu_command(tmp_path / "k", tmp_path / "i", [], tmp_path / "r", extra=args)
    # after the controller, before the results disk (which stays /dev/vda)
    assert argv.index("virtio-scsi-pci,id=scsi0") < argv.index(args[1])
    assert argv.index(args[3]) < argv.index(f"file={tmp_path / 'r'},format=raw,if=virtio,cache=unsafe")  # fmt: skip
    with pytest.raises(InputError, match="iscsi:// URL"):
        runner.iscsi_block_args("/tmp/x.img", 0, 0)


def test_run_job_refuses_a_module_that_is_not_a_job(tmp_path: Path) -> None:
    job = runner.GuestJob(module="os", input={}, disks={})
    with pytest.raises(UsageError, match="not a lab job module"):
        runner.run_job(None, job, out_dir=tmp_path, cache_dir=tmp_path)  # type: ignore[arg-type]


def test_job_layer_holds_what_the_jobs_import_beyond_the_base(tmp_path: Path) -> None:
    layer = initramfs.build_job(tmp_path)
    names = set(read_cpio(layer.path.read_bytes()))
    for needed in ("lab/guest_vm.py", "lab/guest_passthrough.py", "target/passthrough.py"):
        assert f"opt/sgguard/sgguard/{needed}" in names
    assert "opt/sgguard/sgguard/sgio.py" not in names  # in the base layer already
    assert not any("/cli/" in n or "/iscsi/" in n for n in names)
    assert initramfs.build_job(tmp_path) == layer  # cached by content hash
    _exe, stdlib, root = initramfs.python_files(Path(initramfs.__file__).parents[2])
    assert "struct.py" in {str(f.relative_to(root)) for f in stdlib}


def test_run_steps_executes_files_tools_and_records_failures(tmp_path: Path) -> None:
    path = str(tmp_path / "p.bin")
    steps = [
        {"id": "f", "kind": "file", "path": path, "pattern": {"tag": "t", "lba": 5, "blocks": 2}},
        {"id": "r", "kind": "read_file", "path": path},
        {"id": "t", "kind": "tool", "argv": ["sh", "-c", "echo hi; exit 3"]},
        {"id": "n", "kind": "sgio", "node": "/dev/null", "cdb": "000000000000"},
        {"id": "x", "kind": "nope"},
        {"id": "m", "kind": "read_file", "path": str(tmp_path / "missing")},
    ]
    res = {r["id"]: r for r in guest_vm.run_steps(steps, {}, {})}
    data = bytes.fromhex(res["r"]["data"])
    assert data == guest_vm.block_pattern("t", 5) + guest_vm.block_pattern("t", 6)
    assert b"SGGVM t lba=00000006|" in data and len(guest_vm.block_pattern("t", 5)) == 512
    assert res["t"]["exit"] == 3 and res["t"]["stdout"] == "hi\n"
    assert res["n"]["errno"] == "ENOTTY"  # /dev/null answers SG_IO with ENOTTY
    assert "unknown step kind" in res["x"]["error"]
    assert res["m"]["error"].startswith("FileNotFoundError")
