"""sgguard.lab.guest and sgguard.lab.tools on the host: strace parsing, tool rows, matrix runner."""

from __future__ import annotations

import os

import pytest

from sgguard.lab import guest, tools

STRACE = """\
812   openat(AT_FDCWD, "/dev/sdc1", O_RDONLY|O_NONBLOCK|O_CLOEXEC) = 3
812   ioctl(3, SG_IO, {interface_id='S', dxfer_direction=SG_DXFER_FROM_DEV, cmd_len=6, cmdp="\\x12\\x00\\x00\\x00\\x24\\x00", mx_sb_len=32, iovec_count=0, dxfer_len=36, timeout=60000, flags=SG_FLAG_DIRECT_IO}) = -1 ENOTTY (Inappropriate ioctl for device)
812   openat(AT_FDCWD, "/dev/sdc", O_RDWR|O_NONBLOCK) = -1 EACCES (Permission denied)
812   ioctl(4, CDROM_LOCKDOOR, 0) = -1 EINVAL (Invalid argument)
812   ioctl(4, CDROMEJECT) = 0
812   +++ exited with 0 +++
"""


def test_parse_strace_ioctls_and_opens() -> None:
    calls = guest.parse_strace(STRACE)
    assert [c["ioctl"] for c in calls] == ["open", "SG_IO", "open", "CDROM_LOCKDOOR", "CDROMEJECT"]
    assert calls[0]["path"] == "/dev/sdc1" and calls[0]["ret"] == 3
    assert calls[1]["errno"] == "ENOTTY" and calls[1]["ret"] == -1
    assert calls[2]["errno"] == "EACCES"
    assert calls[4]["errno"] is None and calls[4]["ret"] == 0


def test_tool_rows_name_the_refused_ioctl_and_nodes() -> None:
    plan = [
        t for t in tools.plan_tools() if t["id"] in ("sg_inq.partition.user", "hdparm.disk.user")
    ]
    results = [
        {"id": "sg_inq.partition.user", "exit": 75, "ioctls": guest.parse_strace(STRACE)[:2]},
        {
            "id": "hdparm.disk.user",
            "exit": 0,
            "ioctls": [{"ioctl": "SG_IO", "ret": -1, "errno": "EPERM"}],
        },
    ]
    names = tools.node_names({"tools": {"block": "sdc", "sg": "sg2", "partitions": ["sdc1"]}})
    rows = {r["id"]: r for r in tools.summarize(plan, results, names)}
    sg_inq = rows["sg_inq.partition.user"]
    assert not sg_inq["works"] and sg_inq["failing_ioctl"] == "SG_IO"
    assert sg_inq["failing_errno"] == "ENOTTY" and sg_inq["opened_nodes"] == ["partition1"]
    # exit 0 after a refused SG_IO does not count as working
    assert rows["hdparm.disk.user"]["exit"] == 0 and not rows["hdparm.disk.user"]["works"]


def test_plan_tools_covers_every_tool_node_user() -> None:
    plan = tools.plan_tools()
    assert len(plan) == len(tools.TOOLS) * 2 * 2
    names = {t["tool"] for t in plan}
    for needed in ("eject", "sg_inq", "sg_readcap", "sg_vpd", "sg_raw", "sg_turs", "sg_start"):
        assert needed in names
    assert {"smartctl", "hdparm", "sdparm", "qemu-scsi-block-probe"} <= names
    # eject last within each node/user group: it removes the medium
    for i in range(0, len(plan), len(tools.TOOLS)):
        assert plan[i + len(tools.TOOLS) - 1]["tool"] == "eject"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop CAP_SYS_RAWIO in a child")
def test_run_matrix_groups_cases_and_drops_the_capability() -> None:
    cases = [
        {"i": i, "node": node, "open": mode, "cap_sys_rawio": cap, "ioctl": ioctl, "cdb": cdb}
        for i, (node, mode, cap, ioctl, cdb) in enumerate(
            [
                ("disk", "ro", False, "SG_IO", "12000000ff00"),
                ("disk", "rw", True, "SG_GET_VERSION_NUM", None),
                ("sg", "ro", False, "CDROMEJECT", None),
                ("sg", "ro", True, "SCSI_IOCTL_SEND_COMMAND", "00" * 6),
            ]
        )
    ]
    # /dev/null answers every SCSI ioctl with ENOTTY: the runner's plumbing is what is tested
    res = guest.run_matrix(cases, {"disk": "/dev/null", "sg": "/dev/null"})
    assert sorted(r["i"] for r in res) == [0, 1, 2, 3]
    assert {r["errno"] for r in res} == {"ENOTTY"}
