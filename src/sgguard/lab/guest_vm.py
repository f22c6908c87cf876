"""A lab guest job: run a host-described list of steps against the guest's SCSI disks.

Owns the step executor that `sgguard.lab.guest` calls for config
`"job": {"module": "sgguard.lab.guest_vm", ...}` (see `runner.run_job`): the host
decides every command (what, on which node, with which data) and the guest only
executes and records. Step kinds:

- `sgio`: one CDB through SG_IO (`sgguard.sgio.SgDevice.execute`) on a node
  (`disk:ROLE`, `sg:ROLE`, `part:ROLE:N`), data-out given as hex or as a
  `pattern` (`block_pattern(tag, lba)` per block), data-in kept as hex;
- `attack`: one row of the lab's attack corpus (`sgguard.lab.attacks`), sent
  exactly as the lab's attack phase sends it (SG_IO or SCSI_IOCTL_SEND_COMMAND);
- `tool`: a real program (sg3-utils, eject, ...) with `{disk:ROLE}`-style node
  placeholders in its arguments: exit status, stdout, stderr;
- `file`: write a file in the guest (a pattern or hex) for tools that read data;
  `read_file`: a file a tool wrote, as hex.

Runs as root with every capability: the guest kernel lets whole-disk SG_IO
through, so what is measured is the device (for example an iSCSI LUN behind
QEMU's `scsi-block`), not the guest kernel's policy. Imports only the standard
library, `sgguard.sgio` and the guest program.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import time
from typing import Any

from sgguard import sgio
from sgguard.lab import guest

__all__ = ["BLOCK", "block_pattern", "run_job", "run_steps"]

Json = dict[str, Any]
BLOCK = 512


def block_pattern(tag: str, lba: int) -> bytes:
    """One 512-byte block that names its writer and its LBA (so it can be found in an image)."""
    unit = f"SGGVM {tag} lba={lba:08d}|".encode()
    return (unit * (BLOCK // len(unit) + 1))[:BLOCK]


def _data_out(step: Json) -> bytes:
    pat = step.get("pattern")
    if pat:
        return b"".join(
            block_pattern(pat["tag"], pat["lba"] + i) for i in range(int(pat["blocks"]))
        )
    return bytes.fromhex(step.get("data_out", ""))


def _node(ref: str, disks: dict[str, Json], dm: dict[str, str]) -> str:
    return ref if ref.startswith("/") else guest.node_path(ref, disks, dm)


def _fill(text: str, disks: dict[str, Json], dm: dict[str, str]) -> str:
    for role, info in disks.items():
        for kind in ("disk", "sg"):
            key = "{" + f"{kind}:{role}" + "}"
            if key in text and info.get("block" if kind == "disk" else "sg"):
                text = text.replace(key, guest.node_path(f"{kind}:{role}", disks, dm))
    return text


def _sgio(step: Json, disks: dict[str, Json], dm: dict[str, str]) -> Json:
    path = _node(step["node"], disks, dm)
    try:
        dev = sgio.SgDevice(path, write=True)
    except OSError as exc:
        return {"open_errno": sgio.errno_name_of(exc.errno or 0), "path": path}
    with dev:
        res = dev.execute(
            bytes.fromhex(step["cdb"]),
            data_out=_data_out(step),
            data_in_len=int(step.get("data_in_len", 0)),
            timeout_ms=int(step.get("timeout_ms", 20_000)),
        )
    return {
        "path": path,
        "errno": res.errno_name,
        "status": res.status,
        "sense": res.sense.hex(),
        "host_status": res.host_status,
        "driver_status": res.driver_status,
        "resid": res.resid,
        "data": res.data.hex(),
    }


def _send_command(a: Json, path: str) -> Json:
    """An attack through SCSI_IOCTL_SEND_COMMAND, keeping the sense data the kernel returns.

    On a non-GOOD status the kernel copies the sense data over the argument's
    data area (drivers/scsi/scsi_ioctl.c, sg_scsi_ioctl), where data-in would go.
    """
    cdb = bytes.fromhex(a["cdb"])
    data_out = bytes.fromhex(a.get("data_out", ""))
    data_in_len = int(a.get("data_in_len", 0))
    room = max(len(cdb) + len(data_out), data_in_len, 96)
    buf = bytearray(struct.pack("=II", len(data_out), data_in_len)) + cdb + data_out
    buf += bytes(8 + room - len(buf))
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError as exc:
        return {"id": a["id"], "open_errno": sgio.errno_name_of(exc.errno or 0)}
    try:
        value = fcntl.ioctl(fd, sgio.SCSI_IOCTL_SEND_COMMAND, buf, True)
    except OSError as exc:
        return {"id": a["id"], "errno": sgio.errno_name_of(exc.errno or 0)}
    finally:
        os.close(fd)
    status = value & 0xFF
    return {
        "id": a["id"],
        "errno": None,
        "value": value,
        "status": status,
        "sense": bytes(buf[8:40]).hex() if status else "",
        "data": bytes(buf[8 : 8 + data_in_len]).hex() if not status else "",
    }


def _tool(step: Json, disks: dict[str, Json], dm: dict[str, str]) -> Json:
    argv = [_fill(a, disks, dm) for a in step["argv"]]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=float(step.get("timeout", 60)))
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -9, exc.stdout or b"", (exc.stderr or b"") + b"\n(timeout)"
    except OSError as exc:
        code, out, err = 127, b"", str(exc).encode()
    return {
        "argv": argv,
        "exit": code,
        "stdout": out.decode("utf-8", "replace")[-8000:],
        "stderr": err.decode("utf-8", "replace")[-4000:],
    }


def _file(step: Json) -> Json:
    data = _data_out(step)
    with open(step["path"], "wb") as f:
        f.write(data)
    return {"path": step["path"], "bytes": len(data)}


def run_steps(
    steps: list[Json],
    disks: dict[str, Json],
    dm: dict[str, str],
    extra: dict[str, Any] | None = None,
) -> list[Json]:
    """Execute `steps` in order; one result per step, keyed by the step's `id`.

    `extra` maps further step kinds to callables `(step) -> JSON` (job modules
    such as `sgguard.lab.guest_passthrough` add theirs).
    """
    results: list[Json] = []
    for n, step in enumerate(steps):
        t = time.monotonic()
        kind = step["kind"]
        try:
            if kind == "sgio":
                res = _sgio(step, disks, dm)
            elif kind == "attack":
                a = step["attack"]
                path = _node(a["node_ref"], disks, dm)
                if a["ioctl"] == "SCSI_IOCTL_SEND_COMMAND":
                    res = _send_command(a, path)
                else:
                    res = guest._attack_one(a, path)
            elif kind == "tool":
                res = _tool(step, disks, dm)
            elif kind == "file":
                res = _file(step)
            elif kind == "read_file":
                with open(step["path"], "rb") as f:
                    res = {"path": step["path"], "data": f.read().hex()}
            elif extra and kind in extra:
                res = extra[kind](step)
            else:
                res = {"error": f"unknown step kind {kind!r}"}
        except Exception as exc:  # one step's failure is recorded, the next still runs
            res = {"error": f"{type(exc).__name__}: {exc}"}
        res["id"] = step["id"]
        res["kind"] = kind
        res["elapsed"] = round(time.monotonic() - t, 3)
        results.append(res)
        if (n + 1) % 10 == 0 or n + 1 == len(steps):
            guest.say("progress", "steps", n + 1, len(steps))
    return results


def run_job(job: Json, disks: dict[str, Json], dm: dict[str, str]) -> Json:
    """The job entry point (`sgguard.lab.guest`): {"steps": [...]} -> {"steps": results}."""
    return {"disks": disks, "steps": run_steps(job["steps"], disks, dm)}
