"""`sgguard audit` through the real command line: formats, exit statuses, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Tree = Callable[[str], Path]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgguard", "audit", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def test_audit_this_host_says_plainly_what_is_missing() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
    assert "no SCSI devices found" in result.stdout
    assert "no device-mapper devices found" in result.stdout
    assert "Traceback" not in result.stderr


def test_audit_findings_exit_one_and_fail_on(tree: Tree) -> None:
    root = str(tree("disk-group-ro-6.12"))
    result = run("--root", root)
    assert result.returncode == 1
    assert "SGG005" in result.stdout and "group disk (members alice)" in result.stdout
    assert run("--root", root, "--fail-on", "critical").returncode == 0
    info = str(tree("two-vms-6.1"))
    assert run("--root", info).returncode == 0
    assert run("--root", info, "--fail-on", "info").returncode == 1


def test_audit_json(tree: Tree) -> None:
    result = run("--root", str(tree("two-vms-3.2")), "--json")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["kernel"]["release"] == "3.2.1"
    assert doc["summary"]["critical"] == 2
    f = doc["findings"][0]
    assert (f["id"], f["severity"], f["principal"]["kind"], f["principal"]["name"], f["node"]) == (
        "SGG001",
        "critical",
        "vm",
        "tenant-a",
        "/dev/sda1",
    )
    assert f["reaches"][-1] == "host filesystem /srv/data (ext4 on /dev/sda3)"
    sda = doc["disks"][0]
    assert (sda["disk"], sda["hctl"], sda["device_type"], sda["sg"]) == ("sda", "0:0:0:0", 0, "sg0")
    assert sda["users"][-1] == "host filesystem /srv/data (ext4 on /dev/sda3)"


def test_audit_sarif_shape(tree: Tree) -> None:
    result = run("--root", str(tree("bad-input-6.1")), "--sarif", "--fail-on", "info")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run_,) = doc["runs"]
    driver = run_["tool"]["driver"]
    ids = [r["id"] for r in driver["rules"]]
    assert ids == [f"SGG00{i}" for i in range(1, 10)]
    for rule in driver["rules"]:
        assert rule["help"]["text"] and rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
    (res,) = run_["results"]
    assert res["ruleId"] == "SGG004" and ids[res["ruleIndex"]] == "SGG004"
    assert res["level"] == "note"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "file:///dev/sda1"
    assert res["locations"][0]["logicalLocations"][0]["kind"] == "vm"
    notes = [n["message"]["text"] for n in run_["invocations"][0]["toolExecutionNotifications"]]
    assert (
        "skipped source libvirt XML /etc/libvirt/qemu/broken.xml: XML not well-formed at line 5 column 2"
        in notes
    )


def test_audit_capture_then_replay_tar(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "host.tar"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "sgguard",
            "audit",
            "capture",
            str(out),
            "--root",
            str(tree("dm-3.2")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"wrote {out}: ")
    result = run("--root", str(out), "--json")
    doc = json.loads(result.stdout)
    assert [(f["id"], f["node"]) for f in doc["findings"]] == [
        ("SGG001", "/dev/mapper/tenant-a"),
        ("SGG003", "/dev/mapper/shared-whole"),
    ]
    assert doc["root"] == str(out)


def test_audit_usage_errors_exit_two(tmp_path: Path) -> None:
    missing = run("--root", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"sgguard audit: error: --root {tmp_path / 'nope'}: no such folder or capture file"
    )
    assert run("--json", "--sarif").returncode == 2
    bad = run("--fail-on", "severe")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    lv = run("--libvirt", str(tmp_path / "none.xml"))
    assert lv.returncode == 2 and "no such file" in lv.stderr and "Traceback" not in lv.stderr


def test_audit_capture_live_host_replays(tmp_path: Path) -> None:
    out = tmp_path / "live.tar"
    made = subprocess.run(
        [sys.executable, "-m", "sgguard", "audit", "capture", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    live = json.loads(run("--json").stdout)
    replay = json.loads(run("--root", str(out), "--json").stdout)
    # Other work on this machine may add loop devices in between: compare what is stable.
    assert replay["kernel"] == live["kernel"]
    assert ("no SCSI devices found" in replay["notes"]) == (
        "no SCSI devices found" in live["notes"]
    )
    assert replay["findings"] == live["findings"] and replay["skipped"] == live["skipped"]


def test_audit_libvirt_file_option(tree: Tree, tmp_path: Path) -> None:
    root = tree("two-vms-6.1")
    xml = tmp_path / "extra.xml"
    xml.write_text(
        "<domain type='kvm'>\n  <name>extra</name>\n  <devices>\n"
        "    <disk type='block' device='lun' rawio='yes'>\n"
        "      <source dev='/dev/sda3'/>\n      <target dev='sdc' bus='scsi'/>\n"
        "    </disk>\n  </devices>\n</domain>\n"
    )
    doc = json.loads(run("--root", str(root), "--libvirt", str(xml), "--json").stdout)
    assert [(f["id"], f["principal"]["name"], f["node"]) for f in doc["findings"]] == [
        ("SGG002", "extra", "/dev/sda3"),
        ("SGG004", "tenant-a", "/dev/sda1"),
        ("SGG004", "tenant-b", "/dev/sda2"),
    ]
