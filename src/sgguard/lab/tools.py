"""The lab's real-tool corpus: which programs run on which node, as whom, and what failed.

Owns the regression corpus the 2012 discussion asked for: Debian's eject,
sg3-utils (sg_inq, sg_readcap, sg_vpd, sg_raw, sg_turs, sg_start), smartctl,
hdparm, sdparm and QEMU scsi-block's probe (SG_GET_VERSION_NUM then INQUIRY, done
by sgguard's own code), each on the removable GPT disk's whole-disk node and on
its first partition, as root (all capabilities) and as the unprivileged `lab`
user (uid 1000, group disk, no capabilities). The guest runs each under
`strace -f -e trace=ioctl`; `summarize` turns a run into a table row with the
exit status and the first ioctl the kernel refused; a run "works" when it exits 0
and the kernel refused none of its ioctls. Pure functions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OWN_CODE", "TOOLS", "node_names", "plan_tools", "summarize"]

Json = dict[str, Any]

# name -> argv ({dev} is replaced by the node's path in the guest)
TOOLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sg_inq", ("sg_inq", "{dev}")),
    ("sg_readcap", ("sg_readcap", "{dev}")),
    ("sg_vpd", ("sg_vpd", "{dev}")),
    ("sg_raw", ("sg_raw", "-r", "36", "{dev}", "12", "00", "00", "00", "24", "00")),
    ("sg_turs", ("sg_turs", "{dev}")),
    ("sg_start", ("sg_start", "--start", "{dev}")),
    ("smartctl", ("smartctl", "-i", "{dev}")),
    ("hdparm", ("hdparm", "-I", "{dev}")),
    ("sdparm", ("sdparm", "{dev}")),
    ("qemu-scsi-block-probe", ()),
    # The 2012-era eject: CDROMEJECT on the node it was given (util-linux's eject
    # opens the whole disk instead); done by sgguard.sgio. Both remove the medium,
    # the guest reloads it after each.
    ("cdromeject-ioctl", ()),
    ("eject", ("eject", "{dev}")),
)
OWN_CODE = {
    "qemu-scsi-block-probe": "(sgguard.sgio: open O_RDWR, SG_GET_VERSION_NUM, INQUIRY)",
    "cdromeject-ioctl": "(sgguard.sgio: open O_RDONLY, CDROMEJECT)",
}

NODES: tuple[tuple[str, str], ...] = (("disk", "disk:tools"), ("partition", "part:tools:1"))
USERS: tuple[str, ...] = ("root", "user")

# The pass-through policy's answers. EACCES is not among them: eject's BLKRRPART
# needs CAP_SYS_ADMIN and fails after a successful eject.
_POLICY_ERRNOS = ("EPERM", "ENOTTY")


def plan_tools() -> list[Json]:
    """Every tool x node x user, in the order the guest runs them."""
    out: list[Json] = []
    for node, ref in NODES:
        for user in USERS:
            for name, argv in TOOLS:
                out.append(
                    {
                        "id": f"{name}.{node}.{user}",
                        "tool": name,
                        "argv": list(argv),
                        "node": node,
                        "node_ref": ref,
                        "disk_role": "tools",
                        "user": user,
                    }
                )
    return out


def node_names(disks: Json, role: str = "tools") -> dict[str, str]:
    """Guest /dev paths of one disk -> `disk`, `partitionN`, `sg` (sd names vary per boot)."""
    info = disks.get(role) or {}
    block = info.get("block")
    names: dict[str, str] = {}
    if block:
        names[f"/dev/{block}"] = "disk"
        for part in info.get("partitions", []):
            names[f"/dev/{part}"] = "partition" + part[len(block) :]
    if info.get("sg"):
        names[f"/dev/{info['sg']}"] = "sg"
    return names


def summarize(
    plan: list[Json], results: list[Json], names: dict[str, str] | None = None
) -> list[Json]:
    """Rows: tool, node, user, exit status, works, the refused ioctls, the nodes opened."""
    names = names or {}
    by_id = {r["id"]: r for r in results}
    rows: list[Json] = []
    for t in plan:
        r = by_id.get(t["id"])
        if r is None:
            rows.append(
                {**_head(t), "exit": None, "works": False, "failing_ioctl": None, "note": "not run"}
            )
            continue
        calls = [c for c in r.get("ioctls", []) if c.get("ioctl") != "open"]
        opened = sorted(
            {
                c["path"]
                for c in r.get("ioctls", [])
                if c.get("ioctl") == "open" and c.get("ret", -1) >= 0
            }
        )
        refused = [c for c in calls if c.get("errno") in _POLICY_ERRNOS]
        failed = [c for c in calls if c.get("errno")]
        first = (refused or failed or [None])[0]
        rows.append(
            {
                **_head(t),
                "exit": r["exit"],
                # exit 0 is not enough: hdparm -I exits 0 after its SG_IO was refused
                "works": r["exit"] == 0 and not refused,
                "failing_ioctl": first["ioctl"] if first else None,
                "failing_errno": first["errno"] if first else None,
                "refused": sorted({f"{c['ioctl']}:{c['errno']}" for c in refused}),
                "ioctl_count": len(calls),
                "opened": opened,
                "opened_nodes": [names.get(o, o) for o in opened],
                "ioctls": [
                    f"{c['ioctl']}={c.get('ret')}{':' + c['errno'] if c.get('errno') else ''}"
                    for c in calls
                ],
                "stderr": (r.get("stderr") or "").strip()[-300:],
                "stdout": (r.get("stdout") or "").strip()[:300],
                "elapsed": r.get("elapsed"),
            }
        )
    return rows


def _head(t: Json) -> Json:
    return {
        "id": t["id"],
        "tool": t["tool"],
        "node": t["node"],
        "user": t["user"],
        "argv": " ".join(t["argv"]) if t["argv"] else OWN_CODE.get(t["tool"], ""),
    }
