"""A small synthetic lab profile for host-side tests (no QEMU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Json = dict[str, Any]


def case(
    node: str, mode: str, cap: bool, ioctl: str, cdb: str | None, outcome: str, kernel: str = "6.1"
) -> Json:
    c: Json = {"kernel": kernel, "node": node, "open": mode, "cap_sys_rawio": cap, "ioctl": ioctl}
    if cdb is not None:
        c["cdb"] = cdb
    c["outcome"] = outcome
    if outcome != "allowed":
        c["errno"] = outcome
    return c


# Outcomes a 6.1 kernel gives (kernel-eras.md, measured).
CASES_61: list[Json] = [
    case("disk", "ro", False, "SG_IO", "28000000000000000000", "allowed"),
    case("disk", "ro", False, "SG_IO", "2a000000000000000000", "EPERM"),
    case("disk", "rw", False, "SG_IO", "2a000000000000000000", "allowed"),
    case("partition", "ro", False, "SG_IO", "28000000000000000000", "ENOTTY"),
    case("partition", "ro", True, "SG_IO", "28000000000000000000", "allowed"),
    case("partition", "rw", True, "SG_IO", "2a000000000000000000", "allowed"),
    case("dm-partial", "ro", False, "SG_IO", "42000000000000000000", "ENOTTY"),
    case("sg", "ro", False, "CDROMEJECT", None, "EPERM"),
    case("disk", "ro", False, "SG_GET_VERSION_NUM", None, "allowed"),
    case("partition", "ro", False, "SG_GET_VERSION_NUM", None, "ENOTTY"),
]


def attack(aid: str, cap: bool, escape: bool, outcome: str) -> Json:
    return {
        "id": aid,
        "attack": aid.split(".")[-1],
        "kind": "write",
        "source": "partition",
        "source_label": "atk p1 (MBR)",
        "disk": "atk",
        "cap_sys_rawio": cap,
        "ioctl": "SG_IO",
        "cdb": "2a000000890000000100",
        "target_lba": 35088,
        "target_region": "p3",
        "outcome": outcome,
        "errno": None if outcome == "allowed" else outcome,
        "scsi_status": 0 if outcome == "allowed" else None,
        "sense_key": None,
        "host_status": 0,
        "bytes_read": 0,
        "bytes_changed": 512 if escape else 0,
        "changed_lbas": [[35088, 1]] if escape else [],
        "changed_regions": ["p3"] if escape else [],
        "escape": escape,
    }


def tool(tid: str, exit_status: int, failing: str | None) -> Json:
    name, node, user = tid.split(".")
    return {
        "id": tid,
        "tool": name,
        "node": node,
        "user": user,
        "argv": f"{name} {{dev}}",
        "exit": exit_status,
        "works": exit_status == 0 and failing is None,
        "failing_ioctl": failing.split(":")[0] if failing else None,
        "failing_errno": failing.split(":")[1] if failing else None,
        "refused": [failing] if failing else [],
        "opened": ["/dev/sdc1" if node == "partition" else "/dev/sdc"],
    }


def write_profile(
    path: Path,
    cases: list[Json],
    attacks: list[Json] | None = None,
    tools: list[Json] | None = None,
    kernel: str = "6.1",
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    with (path / "cases.jsonl").open("w") as f:
        for c in cases:
            f.write(json.dumps(c) + "\n")
    with (path / "attacks.jsonl").open("w") as f:
        for a in (
            attacks
            if attacks is not None
            else [
                attack("cap.0.WRITE_10", True, True, "allowed"),
                attack("nocap.0.WRITE_10", False, False, "ENOTTY"),
            ]
        ):
            f.write(json.dumps(a) + "\n")
    with (path / "tools.jsonl").open("w") as f:
        for t in (
            tools
            if tools is not None
            else [
                tool("sg_inq.disk.user", 0, None),
                tool("sg_inq.partition.user", 75, "SG_IO:ENOTTY"),
            ]
        ):
            f.write(json.dumps(t) + "\n")
    (path / "kernel.json").write_text(
        json.dumps(
            {
                "kernel": kernel,
                "release": f"{kernel}.0-test-amd64",
                "uname": ["Linux", "(none)", f"{kernel}.0-test-amd64", "#1", "x86_64"],
                "package": "linux-image-test",
                "package_version": "1",
            }
        )
    )
    return path
