"""Acceptance: `sgguard lab run` on Debian's 6.1 and 6.12 kernels in QEMU, diff, report.

Both kernels boot once per test session (fixture `profiles`); every test below reads
the profile folders they wrote. Needs qemu-system-x86_64 and the Debian archive
(the kernel packages are downloaded once into ~/.cache/sgguard/kernels).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sgguard.lab.kernels import fetch_kernel
from sgguard.lab.profile import escape_if_allowed, load_profile, model_disagreements
from tests.lab.pngcheck import pixels
from tests.lab.test_report import RED, screenshot

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "lab"
KERNELS = {"6.1": "linux-image-amd64", "6.12": "linux-image-6.12-amd64"}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def profiles() -> dict[str, Path]:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is not installed (scripts/apt-packages.txt)")
    out: dict[str, Path] = {}
    for label, package in KERNELS.items():
        kernel_arg = package
        if label == "6.12":
            # the second kernel goes in as a .deb FILE (the first as a package name)
            tree = fetch_kernel(package)
            kernel_arg = str(tree.root.parent / f"{tree.root.name}.deb")
            assert Path(kernel_arg).is_file()
        prof = ARTIFACTS / f"profile-{label}"
        if prof.exists():
            shutil.rmtree(prof)
        t0 = time.monotonic()
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "sgguard",
                "lab",
                "run",
                "--kernel-deb",
                package,
                "--out",
                str(prof),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        wall = time.monotonic() - t0
        (ARTIFACTS / f"run-{label}.log").write_text(res.stdout + res.stderr)
        assert res.returncode == 0, res.stdout + res.stderr[-3000:]
        (prof / "wall.json").write_text(json.dumps({"wall_seconds": round(wall, 2)}))
        out[label] = prof
    return out


@pytest.mark.parametrize("label", list(KERNELS))
def test_lab_run_model_agrees_on_every_matrix_case(profiles: dict[str, Path], label: str) -> None:
    p = load_profile(str(profiles[label]))
    assert len(p.cases) == 5480
    assert all(c["outcome"] in ("allowed", "EPERM", "ENOTTY") for c in p.cases.values())
    dis = model_disagreements(p)
    (ARTIFACTS / f"model-disagreements-{label}.json").write_text(json.dumps(dis, indent=1))
    assert dis == [], f"{len(dis)} disagreements, first: {dis[:5]}"


@pytest.mark.parametrize("label", list(KERNELS))
def test_lab_run_no_escape_without_cap_sys_rawio(profiles: dict[str, Path], label: str) -> None:
    attacks = _jsonl(profiles[label] / "attacks.jsonl")
    nocap = [a for a in attacks if not a["cap_sys_rawio"]]
    assert len(nocap) == 69
    assert [a["id"] for a in nocap if a["escape"]] == []
    assert {a["outcome"] for a in nocap} == {"ENOTTY"}
    cases = _jsonl(profiles[label] / "cases.jsonl")
    assert [
        c
        for c in cases
        if not c["cap_sys_rawio"] and c["outcome"] == "allowed" and escape_if_allowed(c)
    ] == []
    disks = json.loads((profiles[label] / "disks.json").read_text())
    assert disks["unattributed_changes"] == {}


@pytest.mark.parametrize("label", list(KERNELS))
def test_lab_run_cap_sys_rawio_partition_attack_escapes(
    profiles: dict[str, Path], label: str
) -> None:
    rows = {a["id"]: a for a in _jsonl(profiles[label] / "attacks.jsonl")}
    for src in ("0", "1", "2"):  # atk p1 (MBR), dm over atk p2, tools p1 (GPT)
        read = rows[f"cap.{src}.READ_10"]
        assert read["outcome"] == "allowed" and read["escape"]
        assert read["bytes_read"] == 512 and read["target_region"] == "p3"
        write = rows[f"cap.{src}.WRITE_10"]
        assert write["escape"] and write["bytes_changed"] == 512
        assert write["changed_regions"] == ["p3"]
        assert rows[f"cap.{src}.UNMAP"]["bytes_changed"] == 8 * 512
        assert rows[f"cap.{src}.WRITE_SAME_16"]["bytes_changed"] == 2 * 512
        assert rows[f"cap.{src}.SEND_COMMAND_WRITE_10"]["escape"]
    # the data read back is the other partition's own fill (attributable)
    assert rows["cap.0.READ_10"]["read_sample"].startswith("SGGFILL disk=atk region=p3 lba=")


@pytest.mark.parametrize("label", list(KERNELS))
def test_lab_run_tools_fail_unprivileged_on_partition(
    profiles: dict[str, Path], label: str
) -> None:
    tools = {t["id"]: t for t in _jsonl(profiles[label] / "tools.jsonl")}
    assert tools["sg_inq.disk.user"]["works"]
    assert not tools["sg_inq.partition.user"]["works"]
    assert tools["sg_inq.partition.user"]["failing_ioctl"] == "SG_IO"
    assert tools["sg_inq.partition.user"]["failing_errno"] == "ENOTTY"
    assert tools["sg_inq.partition.root"]["works"]
    # eject as the ioctl on the node itself (what eject did in 2012)
    assert tools["cdromeject-ioctl.disk.user"]["works"]
    assert not tools["cdromeject-ioctl.partition.user"]["works"]
    assert tools["cdromeject-ioctl.partition.user"]["failing_ioctl"] == "CDROMEJECT"
    assert tools["cdromeject-ioctl.partition.user"]["failing_errno"] == "ENOTTY"
    # Debian 12's util-linux eject works on the whole disk; given the partition it
    # opens the whole disk instead (so it never meets the partition rule).
    assert tools["eject.disk.user"]["works"]
    assert tools["eject.partition.user"]["opened_nodes"] == ["disk"]
    assert tools["sg_inq.partition.user"]["opened_nodes"] == ["partition1"]
    assert not tools["qemu-scsi-block-probe.partition.user"]["works"]
    assert tools["qemu-scsi-block-probe.partition.user"]["failing_ioctl"] == "SG_GET_VERSION_NUM"
    assert tools["qemu-scsi-block-probe.disk.user"]["works"]
    for name in ("sg_readcap", "sg_vpd", "sg_raw", "sg_turs", "sg_start", "smartctl", "sdparm"):
        assert tools[f"{name}.partition.user"]["failing_errno"] == "ENOTTY", name


@pytest.mark.parametrize("label", list(KERNELS))
def test_lab_run_sgdevice_selftest_in_guest(profiles: dict[str, Path], label: str) -> None:
    st = json.loads((profiles[label] / "selftest.json").read_text())
    for node in ("disk", "sg"):
        r = st[node]
        inq = bytes.fromhex(r["inquiry"]["data"])
        assert r["inquiry"]["errno"] is None and r["inquiry"]["status"] == 0
        assert inq[0] & 0x1F == 0  # direct-access block device
        assert inq[8:16].decode().strip() == "QEMU"
        assert inq[16:32].decode().strip() == "QEMU HARDDISK"
        rc10 = bytes.fromhex(r["read_capacity10"]["data"])
        assert int.from_bytes(rc10[:4], "big") == 16 * 2048 - 1  # the 16 MiB matrix disk
        assert int.from_bytes(rc10[4:8], "big") == 512
        rc16 = bytes.fromhex(r["read_capacity16"]["data"])
        assert int.from_bytes(rc16[:8], "big") == 16 * 2048 - 1
        assert r["version_num"] >= 30000
    assert st["disk"]["path"].startswith("/dev/sd") and st["sg"]["path"].startswith("/dev/sg")


@pytest.mark.parametrize("label", list(KERNELS))
def test_lab_run_profile_identifies_the_kernel(profiles: dict[str, Path], label: str) -> None:
    prof = profiles[label]
    info = json.loads((prof / "kernel.json").read_text())
    assert info["kernel"] == label
    assert info["release"].startswith(label + ".")
    assert info["package"].startswith("linux-image-" + label)
    assert "@@SGG done" in (prof / "console.log").read_text()
    run = json.loads((prof / "run.json").read_text())
    assert run["errors"] == []
    print(
        f"lab run {label}: {json.loads((prof / 'wall.json').read_text())} timings {run['timings']}"
    )
    assert run["timings"]["total"] < 180  # target 60 s; bound generously on a shared machine


def test_lab_diff_between_6_1_and_6_12(profiles: dict[str, Path]) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "sgguard",
            "lab",
            "diff",
            str(profiles["6.1"]),
            str(profiles["6.12"]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    (ARTIFACTS / "diff-6.1-6.12.txt").write_text(res.stdout + res.stderr)
    total = int(res.stdout.rsplit("total differences:", 1)[1].split()[0])
    assert res.returncode == (1 if total else 0)
    assert "model disagreements in" in res.stdout
    # kernel-eras.md: 6.1 and 6.12 measured alike
    assert total == 0, res.stdout


def test_lab_diff_profile_against_model(profiles: dict[str, Path]) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "sgguard", "lab", "diff", str(profiles["6.1"]), "model:6.1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout
    assert "cases changed: 0" in res.stdout


def test_lab_report_real_profile_renders(profiles: dict[str, Path]) -> None:
    prof = profiles["6.1"]
    page = prof / "report.html"
    assert page.exists() and (prof / "report.md").exists()
    _w, _h, counts = pixels(screenshot(page, ARTIFACTS / "report-6.1.png", size="1600,1000"))
    # partition/dm-partial with CAP_SYS_RAWIO: ~988 escape cells of 5 x 14 px
    assert counts[RED] > 500 * 5 * 14
