"""The lab's guest program: runs inside the QEMU guest as a child of PID 1.

Owns everything the guest does after the modules are loaded: waiting for the
virtio-scsi disks (found by SCSI target id), device node permissions (group
`disk`), device-mapper linear maps (dmsetup, no udev), the SgDevice self-test,
and the three corpora handed in by the host under /run/lab: the policy matrix
(case lines of the kernel-cases spec), the attacks and the real tools; or a
custom job: config `"job": {"module": M, "input": FILE}` calls
`M.run_job(input, disks, dm)` (e.g. `sgguard.lab.guest_vm`) and its JSON result
goes back as `job`. Work
without CAP_SYS_RAWIO runs in a forked child that dropped it with capset(2);
the unprivileged user is uid 1000 in group `disk`. Progress goes to the console
as `@@SGG ...` lines; results go, gzip'd JSON behind a small header, to the raw
virtio-blk results disk, which the host reads after the guest powers off.

Imports only the standard library and `sgguard.sgio` (job modules bring their own
sgguard imports in the initramfs job layer).
"""

from __future__ import annotations

import functools
import gzip
import importlib
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from sgguard import sgio

__all__ = ["RESULTS_MAGIC", "main", "parse_strace"]

RESULTS_MAGIC = b"SGGRESULTS1\n"
DISK_GID = 6
USER_UID = 1000
_T0 = time.monotonic()

Json = dict[str, Any]


def say(*words: object) -> None:
    """One progress line on the console for the host to parse."""
    print("@@SGG", *words, f"t={time.monotonic() - _T0:.2f}", flush=True)


# --- devices -------------------------------------------------------------------


def _hctl(block: str) -> tuple[int, ...] | None:
    try:
        real = os.path.realpath(f"/sys/block/{block}/device")
    except OSError:
        return None
    m = re.fullmatch(r"(\d+):(\d+):(\d+):(\d+)", os.path.basename(real))
    return tuple(int(x) for x in m.groups()) if m else None


def ensure_node(name: str, *, char: bool = False) -> None:
    """mknod /dev/NAME from sysfs's major:minor when devtmpfs did not make it."""
    path = f"/dev/{name}"
    if os.path.exists(path):
        return
    sysdev = f"/sys/class/{'scsi_generic' if char else 'block'}/{name}/dev"
    try:
        with open(sysdev) as f:
            major, minor = (int(x) for x in f.read().split(":"))
        kind = stat.S_IFCHR if char else stat.S_IFBLK
        os.mknod(path, kind | 0o660, os.makedev(major, minor))
    except (OSError, ValueError):
        pass


def find_disks(wanted: dict[str, Json], timeout: float = 30.0) -> dict[str, Json]:
    """role -> {block, sg, partitions} for each disk, matched by SCSI target id."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Json] = {}
        for block in sorted(os.listdir("/sys/block")):
            if not block.startswith("sd"):
                continue
            hctl = _hctl(block)
            if hctl is None:
                continue
            for role, spec in wanted.items():
                if hctl[2] == spec["scsi_id"]:
                    parts = sorted(
                        p
                        for p in os.listdir(f"/sys/block/{block}")
                        if p.startswith(block) and p[len(block) :].isdigit()
                    )
                    sgdir = f"/sys/block/{block}/device/scsi_generic"
                    sgs = os.listdir(sgdir) if os.path.isdir(sgdir) else []
                    for name in [block, *parts]:
                        ensure_node(name)
                    for name in sgs:
                        ensure_node(name, char=True)
                    found[role] = {
                        "block": block,
                        "sg": sgs[0] if sgs else None,
                        "partitions": parts,
                    }
        ready = all(
            role in found
            and found[role]["sg"]
            and len(found[role]["partitions"]) >= spec.get("partitions", 0)
            and all(
                os.path.exists(f"/dev/{p}")
                for p in [found[role]["block"], *found[role]["partitions"]]
            )
            for role, spec in wanted.items()
        )
        if ready or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def set_permissions(disks: dict[str, Json]) -> None:
    """Give the disk nodes to group `disk` (0660), as Debian's udev rules do."""
    for info in disks.values():
        for name in [info["block"], info["sg"], *info["partitions"]]:
            if name and os.path.exists(f"/dev/{name}"):
                os.chown(f"/dev/{name}", 0, DISK_GID)
                os.chmod(f"/dev/{name}", 0o660)


def make_dm(maps: list[Json], disks: dict[str, Json]) -> dict[str, str]:
    """Create the dm-linear maps; name -> /dev/mapper/NAME."""
    env = dict(os.environ, DM_DISABLE_UDEV="1")
    nodes: dict[str, str] = {}
    for m in maps:
        dev = f"/dev/{disks[m['disk']]['block']}"
        table = f"0 {m['blocks']} linear {dev} {m['start']}"
        proc = subprocess.run(
            ["dmsetup", "create", m["name"], "--noudevsync", "--table", table],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode != 0:
            say("error", "dmsetup", m["name"], proc.stderr.strip().replace("\n", " "))
            continue
        nodes[m["name"]] = f"/dev/mapper/{m['name']}"
    subprocess.run(["dmsetup", "mknodes"], capture_output=True, env=env)
    for path in nodes.values():
        if os.path.exists(path):
            os.chown(path, 0, DISK_GID)
            os.chmod(path, 0o660)
    return nodes


def node_path(ref: str, disks: dict[str, Json], dm: dict[str, str]) -> str:
    """`disk:ROLE`, `part:ROLE:N`, `sg:ROLE`, `dm:NAME` -> a /dev path."""
    kind, _, rest = ref.partition(":")
    if kind == "disk":
        return f"/dev/{disks[rest]['block']}"
    if kind == "sg":
        return f"/dev/{disks[rest]['sg']}"
    if kind == "part":
        role, _, num = rest.partition(":")
        return f"/dev/{disks[role]['block']}{num}"
    if kind == "dm":
        return dm.get(rest, f"/dev/mapper/{rest}")
    raise ValueError(f"bad node reference {ref!r}")


# --- privilege ---------------------------------------------------------------------


def in_child(work: Callable[[], Any], *, cap_sys_rawio: bool, user: bool = False) -> Any:
    """Run `work` in a forked child with the given privileges; return its JSON result."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        status = 0
        try:
            demote(cap_sys_rawio=cap_sys_rawio, user=user)
            payload = json.dumps({"ok": work()}).encode()
        except BaseException as exc:  # report anything to the parent
            payload = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
            status = 1
        with os.fdopen(wfd, "wb") as w:
            w.write(payload)
        os._exit(status)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        data = r.read()
    os.waitpid(pid, 0)
    result = json.loads(data or b'{"error": "child died"}')
    if "error" in result:
        raise RuntimeError(result["error"])
    return result["ok"]


def demote(*, cap_sys_rawio: bool, user: bool = False) -> None:
    """Drop CAP_SYS_RAWIO (all sets + bounding set) and/or become the lab user."""
    if user:
        os.setgroups([DISK_GID])
        os.setgid(USER_UID)
        os.setuid(USER_UID)  # clears every capability
    elif not cap_sys_rawio:
        sgio.drop_capability(sgio.CAP_SYS_RAWIO)


# --- corpora -----------------------------------------------------------------------


def run_selftest(disks: dict[str, Json], role: str) -> Json:
    """SgDevice on the whole disk and its sg node: INQUIRY and READ CAPACITY."""
    out: Json = {}
    for kind in ("disk", "sg"):
        path = node_path(f"{kind}:{role}", disks, {})
        with sgio.SgDevice(path) as dev:
            inq = dev.inquiry()
            rc10 = dev.read_capacity10()
            rc16 = dev.read_capacity16()
            out[kind] = {
                "path": path,
                "version_num": dev.version_num(),
                "inquiry": {"errno": inq.errno_name, "status": inq.status, "data": inq.data.hex()},
                "read_capacity10": {
                    "errno": rc10.errno_name,
                    "status": rc10.status,
                    "data": rc10.data.hex(),
                },
                "read_capacity16": {
                    "errno": rc16.errno_name,
                    "status": rc16.status,
                    "data": rc16.data.hex(),
                },
            }
    return out


def _matrix_group(path: str, write: bool, cases: list[Json]) -> list[Json]:
    results: list[Json] = []
    try:
        dev = sgio.SgDevice(path, write=write)
    except OSError as exc:
        name = sgio.errno_name_of(exc.errno or 0)
        return [{"i": c["i"], "open_errno": name} for c in cases]
    with dev:
        for c in cases:
            cdb = bytes.fromhex(c["cdb"]) if c.get("cdb") else None
            r = dev.ioctl_case(c["ioctl"], cdb)
            results.append(
                {"i": c["i"], "errno": r.errno_name, "value": r.value, "scsi_status": r.scsi_status}
            )
    return results


def run_matrix(cases: list[Json], nodes: dict[str, str]) -> list[Json]:
    """Every case: open its node, issue its ioctl, record the errno (None = success)."""
    total = len(cases)
    done = 0
    results: list[Json] = []
    for cap in (True, False):
        groups: dict[tuple[str, str], list[Json]] = {}
        for c in cases:
            if bool(c["cap_sys_rawio"]) == cap:
                groups.setdefault((c["node"], c["open"]), []).append(c)

        def work(
            groups: dict[tuple[str, str], list[Json]] = groups, done: int = done
        ) -> list[Json]:
            out: list[Json] = []
            for (node, mode), group in sorted(groups.items()):
                out.extend(_matrix_group(nodes[node], mode == "rw", group))
                say("progress", "matrix", done + len(out), total)
            return out

        part = work() if cap else in_child(work, cap_sys_rawio=False)
        done += len(part)
        results.extend(part)
    return results


def _attack_one(a: Json, path: str) -> Json:
    cdb = bytes.fromhex(a["cdb"])
    data_out = bytes.fromhex(a.get("data_out", ""))
    data_in_len = int(a.get("data_in_len", 0))
    try:
        dev = sgio.SgDevice(path, write=True)
    except OSError as exc:
        return {"id": a["id"], "open_errno": sgio.errno_name_of(exc.errno or 0)}
    with dev:
        if a["ioctl"] == "SCSI_IOCTL_SEND_COMMAND":
            r = dev.send_command(cdb, data_out, data_in_len)
            data = bytes.fromhex(r.detail) if r.errno_name is None and data_in_len else b""
            return {
                "id": a["id"],
                "errno": r.errno_name,
                "status": r.scsi_status,
                "value": r.value,
                "data": data.hex(),
            }
        res = dev.execute(cdb, data_out=data_out, data_in_len=data_in_len)
        return {
            "id": a["id"],
            "errno": res.errno_name,
            "status": res.status,
            "sense": res.sense.hex(),
            "host_status": res.host_status,
            "driver_status": res.driver_status,
            "resid": res.resid,
            "data": res.data.hex(),
        }


def run_attacks(attacks: list[Json], disks: dict[str, Json], dm: dict[str, str]) -> list[Json]:
    results: list[Json] = []
    for cap in (False, True):
        mine = [a for a in attacks if bool(a["cap_sys_rawio"]) == cap]

        def work(mine: list[Json] = mine) -> list[Json]:
            out = [_attack_one(a, node_path(a["node_ref"], disks, dm)) for a in mine]
            os.sync()
            return out

        results.extend(work() if cap else in_child(work, cap_sys_rawio=False))
        say("progress", "attacks", len(results), len(attacks))
    return results


_STRACE_RE = re.compile(
    r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?ioctl\((\d+),\s*([A-Za-z0-9_|]+)(.*)\)\s+=\s+(-?\d+|\?)(?:\s+(E[A-Z0-9]+))?"
)


_OPEN_RE = re.compile(
    r'^(?:\[pid\s+\d+\]\s+|\d+\s+)?open(?:at)?\((?:[A-Z_]+|-?\d+),\s*"(/dev/[^"]*)",\s*([A-Z_|0-9]+)'
    r".*\)\s+=\s+(-?\d+)(?:\s+(E[A-Z0-9]+))?"
)


def parse_strace(text: str) -> list[Json]:
    """ioctl calls (and opens of /dev nodes) from `strace -f -e trace=ioctl,openat`.

    Each ioctl row has name, fd, return and errno; each open row has
    `ioctl: "open"`, the path, the flags, the returned fd and errno.
    """
    calls: list[Json] = []
    for line in text.splitlines():
        o = _OPEN_RE.match(line.strip())
        if o:
            ret = int(o.group(3))
            calls.append(
                {
                    "ioctl": "open",
                    "path": o.group(1),
                    "flags": o.group(2),
                    "ret": ret,
                    "errno": o.group(4),
                }
            )
            continue
        m = _STRACE_RE.match(line.strip())
        if not m:
            continue
        name = m.group(2)
        ret_text = m.group(4)
        calls.append(
            {
                "fd": int(m.group(1)),
                "ioctl": name,
                "ret": int(ret_text) if ret_text != "?" else None,
                "errno": m.group(5),
            }
        )
    return calls


def _reload_medium(disks: dict[str, Json], role: str) -> None:
    """After an eject: START STOP UNIT (LOEJ=1, START=1), then BLKRRPART."""
    sgp = node_path(f"sg:{role}", disks, {})
    with sgio.SgDevice(sgp, write=True) as dev:
        dev.execute(bytes([0x1B, 0, 0, 0, 0x03, 0]))
    block = node_path(f"disk:{role}", disks, {})
    for _ in range(50):
        try:
            with sgio.SgDevice(block) as dev:
                dev.reread_partitions()
            break
        except OSError:
            time.sleep(0.1)
    part = f"{block}1"
    for _ in range(100):
        if os.path.exists(part):
            break
        time.sleep(0.05)
    set_permissions({role: disks[role]})


def _qemu_probe(path: str) -> Json:
    """QEMU scsi-block's probe: open O_RDWR, SG_GET_VERSION_NUM, then INQUIRY."""
    calls: list[Json] = []
    try:
        dev = sgio.SgDevice(path, write=True)
    except OSError as exc:
        err = sgio.errno_name_of(exc.errno or 0)
        return {"exit": 1, "calls": [{"ioctl": "open", "path": path, "ret": -1, "errno": err}]}
    calls.append({"ioctl": "open", "path": path, "ret": dev.fd, "errno": None})
    with dev:
        r = dev.ioctl_case("SG_GET_VERSION_NUM")
        calls.append({"ioctl": "SG_GET_VERSION_NUM", "errno": r.errno_name, "ret": r.value})
        if r.errno_name is not None:
            return {"exit": 1, "calls": calls, "stderr": "cannot get SG_IO version number"}
        inq = dev.inquiry(36)
        calls.append({"ioctl": "SG_IO", "errno": inq.errno_name, "status": inq.status})
        ok = inq.errno_name is None and inq.status == 0
        return {"exit": 0 if ok else 1, "calls": calls, "stdout": inq.data[8:32].decode("latin-1")}


def _eject_ioctl(path: str) -> Json:
    """The old eject: CDROMEJECT on the node itself (read-only, non-blocking open)."""
    try:
        dev = sgio.SgDevice(path)
    except OSError as exc:
        err = sgio.errno_name_of(exc.errno or 0)
        return {"exit": 1, "calls": [{"ioctl": "open", "path": path, "ret": -1, "errno": err}]}
    opened = {"ioctl": "open", "path": path, "ret": dev.fd, "errno": None}
    with dev:
        r = dev.ioctl_case("CDROMEJECT")
    call = {"ioctl": "CDROMEJECT", "errno": r.errno_name, "ret": r.value}
    return {"exit": 0 if r.errno_name is None else 1, "calls": [opened, call]}


_OWN_TOOLS: dict[str, Callable[[str], Json]] = {
    "qemu-scsi-block-probe": _qemu_probe,
    "cdromeject-ioctl": _eject_ioctl,
}


def run_tools(tools: list[Json], disks: dict[str, Json], dm: dict[str, str]) -> list[Json]:
    results: list[Json] = []
    for n, t in enumerate(tools):
        path = node_path(t["node_ref"], disks, dm)
        user = t["user"] == "user"
        start = time.monotonic()
        if t["tool"] in _OWN_TOOLS:
            try:
                probe = in_child(
                    functools.partial(_OWN_TOOLS[t["tool"]], path),
                    cap_sys_rawio=not user,
                    user=user,
                )
            except RuntimeError as exc:
                probe = {"exit": 1, "calls": [], "stderr": str(exc)}
            calls = probe.get("calls", [])
            res: Json = {
                "id": t["id"],
                "exit": probe["exit"],
                "stdout": probe.get("stdout", ""),
                "stderr": probe.get("stderr", ""),
                "ioctls": calls,
            }
        else:
            argv = [a.replace("{dev}", path) for a in t["argv"]]
            trace = f"/tmp/strace.{n}"
            cmd = [
                "strace",
                "-f",
                "--seccomp-bpf",
                "-qq",
                "-e",
                "trace=ioctl,openat,open",
                "-o",
                trace,
                *argv,
            ]
            try:
                proc = subprocess.run(
                    cmd,
                    capture_output=True,
                    timeout=30,
                    preexec_fn=functools.partial(demote, cap_sys_rawio=not user, user=user),
                )
                code, out, err = proc.returncode, proc.stdout, proc.stderr
            except subprocess.TimeoutExpired as exc:
                code, out, err = -9, exc.stdout or b"", (exc.stderr or b"") + b"\n(timeout)"
            try:
                with open(trace) as f:
                    trace_text = f.read()
            except OSError:
                trace_text = ""
            calls = parse_strace(trace_text)
            res = {
                "id": t["id"],
                "exit": code,
                "stdout": out.decode("utf-8", "replace")[-2000:],
                "stderr": err.decode("utf-8", "replace")[-2000:],
                "ioctls": calls,
                "strace": trace_text[-4000:],
            }
        res["elapsed"] = round(time.monotonic() - start, 3)
        results.append(res)
        if t["tool"] in ("eject", "cdromeject-ioctl"):
            _reload_medium(disks, t["disk_role"])
        say("progress", "tools", n + 1, len(tools))
    return results


# --- main ------------------------------------------------------------------------


def write_results(device: str, payload: Json) -> None:
    blob = gzip.compress(json.dumps(payload).encode(), compresslevel=1)
    header = RESULTS_MAGIC + b"%016d\n" % len(blob)
    fd = os.open(device, os.O_WRONLY)
    try:
        os.write(fd, header + blob)
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        config: Json = json.load(f)
    base = os.path.dirname(argv[0])
    say("guest", "start")
    payload: Json = {"uname": list(os.uname()), "errors": []}
    disks = find_disks(config["disks"])
    payload["disks"] = disks
    missing = [r for r in config["disks"] if r not in disks]
    if missing:
        say("error", "disks missing:", ",".join(missing))
        payload["errors"].append(f"disks missing: {missing}")
    say("disks", json.dumps(disks, separators=(",", ":")))
    set_permissions(disks)
    dm = make_dm(config.get("dm", []), disks)
    payload["dm"] = dm
    say("dm", len(dm))
    phases: list[tuple[str, Callable[[], Any]]] = []
    if config.get("selftest"):
        phases.append(("selftest", lambda: run_selftest(disks, config["selftest"])))
    if config.get("attacks"):
        with open(os.path.join(base, config["attacks"])) as f:
            attacks = json.load(f)
        phases.append(("attacks", lambda: run_attacks(attacks, disks, dm)))
    if config.get("tools"):
        with open(os.path.join(base, config["tools"])) as f:
            tools = json.load(f)
        phases.append(("tools", lambda: run_tools(tools, disks, dm)))
    if config.get("matrix"):
        with open(os.path.join(base, config["matrix"])) as f:
            cases = [json.loads(line) for line in f if line.strip()]
        nodes = {k: node_path(v, disks, dm) for k, v in config["matrix_nodes"].items()}
        payload["matrix_nodes"] = nodes
        phases.append(("matrix", lambda: run_matrix(cases, nodes)))
    if config.get("job"):
        job = config["job"]
        with open(os.path.join(base, job["input"])) as f:
            job_input = json.load(f)
        module = importlib.import_module(job["module"])
        phases.append(("job", lambda: module.run_job(job_input, disks, dm)))
    for name, fn in phases:
        t = time.monotonic()
        say("phase", name, "start")
        try:
            payload[name] = fn()
        except Exception as exc:  # a phase's failure is reported, the others still run
            payload["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            say("error", name, f"{type(exc).__name__}: {exc}")
        payload.setdefault("timings", {})[name] = round(time.monotonic() - t, 3)
        say("phase", name, "done")
    payload["guest_elapsed"] = round(time.monotonic() - _T0, 3)
    with open("/proc/uptime") as f:
        payload["uptime"] = f.read().split()[0]
    write_results(config["results_device"], payload)
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
