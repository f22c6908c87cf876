"""sgguard serve vs tgt on the same backing file with the same clients.

Clients: `qemu-img bench` over iscsi:// (reads and writes) and libiscsi's
`iscsi-perf` (reads). Workloads (issue 5): 4 KiB random read and write at queue
depth 32, 4 KiB read at depth 1, 128 KiB sequential read and write at depth 8.
"Random" for qemu-img bench (which only walks with a fixed step) is a step of
7919 blocks of 4 KiB, a prime stride that wraps around the image and so visits
offsets in a scattered order. Prints IOPS and MB/s per line and sgguard/tgt.

    .venv/bin/python bench/bench_iscsi.py [--size-mib 512] [--scale 1.0] [--json FILE]
        [--only TEXT ...] [--runs N] [--baseline-src DIR]

tgt: `tgtd -f --iscsi portal=127.0.0.1:PORT --control-port N`, a target with the
file as LUN 1 (LUN 0 is tgt's controller), stopped with SIGKILL (lab-notes.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

IQN_SG = "iqn.2026-11.io.sgguard.bench:disk"
IQN_TGT = "iqn.2026-11.org.tgt.bench:disk"
STRIDE = 7919 * 4096


@dataclass(frozen=True)
class Line:
    name: str
    tool: str  # qemu-img / iscsi-perf
    write: bool
    size: int
    depth: int
    count: int  # qemu-img: requests; iscsi-perf: seconds
    step: int


def lines(scale: float) -> list[Line]:
    def n(c: int) -> int:
        return max(100, int(c * scale))

    return [
        Line("4k-randread-qd32", "qemu-img", False, 4096, 32, n(60000), STRIDE),
        Line("4k-randwrite-qd32", "qemu-img", True, 4096, 32, n(60000), STRIDE),
        Line("4k-read-qd1", "qemu-img", False, 4096, 1, n(20000), 4096),
        Line("128k-seqread-qd8", "qemu-img", False, 131072, 8, n(8000), 131072),
        Line("128k-seqwrite-qd8", "qemu-img", True, 131072, 8, n(8000), 131072),
        Line("4k-read-qd32 (iscsi-perf)", "iscsi-perf", False, 4096, 32, 5, 0),
        Line("4k-read-qd1 (iscsi-perf)", "iscsi-perf", False, 4096, 1, 5, 0),
        Line("128k-read-qd8 (iscsi-perf)", "iscsi-perf", False, 131072, 8, 5, 0),
    ]


def settle(backing: Path) -> None:
    """Write back the backing file's dirty pages now, so that the next server does
    not run while the kernel flushes what the file's creation or the previous
    server's writes left behind (30 s later, dirty_expire_centisecs)."""
    fd = os.open(backing, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def run_line(line: Line, url: str) -> tuple[float, float]:
    """(IOPS, MB/s) of one workload."""
    if line.tool == "qemu-img":
        cmd = [
            "qemu-img",
            "bench",
            "-f",
            "raw",
            "-c",
            str(line.count),
            "-d",
            str(line.depth),
            "-s",
            str(line.size),
            "-S",
            str(line.step),
            "-n",
            url,
        ]
        if line.write:
            cmd.insert(2, "-w")
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
        if r.returncode:
            raise SystemExit(f"{' '.join(cmd)}: {r.stderr.strip()}")
        m = re.search(r"Run completed in ([\d.]+) seconds", r.stdout)
        secs = float(m.group(1)) if m else time.monotonic() - t0
        iops = line.count / secs
    else:
        blocks = line.size // 512
        cmd = ["iscsi-perf", "-m", str(line.depth), "-b", str(blocks), "-t", str(line.count), url]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        found = re.findall(r"iops average (\d+)", r.stdout)
        if not found:
            raise SystemExit(f"{' '.join(cmd)}: {r.stdout[-300:]} {r.stderr.strip()}")
        iops = float(found[-1])
    return iops, iops * line.size / 1e6


def start_tgt(backing: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    ctl = 100 + os.getpid() % 800  # tgtd's control "port" is a small socket index
    proc = subprocess.Popen(
        ["tgtd", "-f", "--iscsi", f"portal=127.0.0.1:{port}", "--control-port", str(ctl)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)

    def adm(*args: str) -> None:
        subprocess.run(
            ["tgtadm", "-C", str(ctl), "--lld", "iscsi", *args], check=True, capture_output=True
        )

    adm("--mode", "target", "--op", "new", "--tid", "1", "--targetname", IQN_TGT)
    adm(
        "--mode",
        "logicalunit",
        "--op",
        "new",
        "--tid",
        "1",
        "--lun",
        "1",
        "--backing-store",
        str(backing),
    )
    adm("--mode", "target", "--op", "bind", "--tid", "1", "-I", "ALL")
    return proc, f"iscsi://127.0.0.1:{port}/{IQN_TGT}/1"


def start_sgguard(
    backing: Path, tmp: Path, src: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`sgguard serve` on the backing file; `src`: run the sgguard package found
    there instead of the installed one (a baseline to compare with)."""
    port = free_port()
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(Path(src).resolve())
    cfg = tmp / "bench.toml"
    cfg.write_text(
        f'[server]\nworkers = 4\n\n[[backing]]\nname = "disk"\npath = "{backing}"\n\n'
        f'[[slice]]\nname = "all"\nbacking = "disk"\nselect = "all"\n\n'
        f'[[target]]\nname = "{IQN_SG}"\n  [[target.lun]]\n  lun = 0\n  slice = "all"\n'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sgguard",
            "serve",
            "--config",
            str(cfg),
            "--portal",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(tmp / ("state-base" if src else "state")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    wait_port(port)
    return proc, f"iscsi://127.0.0.1:{port}/{IQN_SG}/0"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=512, help="backing file size (default 512)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply request counts")
    ap.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="run only the workloads whose name contains TEXT (repeatable)",
    )
    ap.add_argument(
        "--runs",
        type=int,
        default=1,
        help="repeat tgt and sgguard side by side N times; report medians (default 1)",
    )
    ap.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="also run sgguard from this source tree (e.g. `git archive` of an older "
        "commit unpacked; DIR holds the sgguard package) as a third server, 'base'",
    )
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    work = [ln for ln in lines(args.scale) if not args.only or any(o in ln.name for o in args.only)]
    if not work:
        raise SystemExit(f"no workload matches {args.only}")
    names = ["tgt", "sgguard"] + (["base"] if args.baseline_src else [])
    with tempfile.TemporaryDirectory(prefix="sgguard-bench-") as td:
        tmp = Path(td)
        backing = tmp / "backing.img"
        with backing.open("wb") as f:  # written, so reads hit the page cache, not holes
            chunk = os.urandom(1 << 20)
            for _ in range(args.size_mib):
                f.write(chunk)
        settle(backing)
        # results[line][server] = one (IOPS, MB/s) per run
        results: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for run in range(args.runs):
            # odd runs start with the other server: neither always gets the fresher machine
            for name in names if run % 2 == 0 else names[::-1]:
                if name == "tgt":
                    proc, url = start_tgt(backing)
                else:
                    proc, url = start_sgguard(
                        backing, tmp, src=args.baseline_src if name == "base" else None
                    )
                try:
                    for line in work:
                        got = run_line(line, url)
                        results.setdefault(line.name, {}).setdefault(name, []).append(got)
                        print(
                            f"run {run + 1} {name:8} {line.name:28} {got[0]:10.0f} IOPS",
                            file=sys.stderr,
                            flush=True,
                        )
                finally:
                    if name == "tgt":
                        proc.send_signal(signal.SIGKILL)  # tgtd ignores SIGTERM with targets
                    else:
                        proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)
                    settle(backing)
    print(
        f"\n{'workload':30} {'tgt IOPS':>10} {'tgt MB/s':>9} {'sgguard IOPS':>13} "
        f"{'sgguard MB/s':>13} {'ratio':>6}"
        + (f" {'base IOPS':>10} {'base':>6}" if args.baseline_src else "")
    )
    summary: dict[str, dict[str, float]] = {}
    for name, r in results.items():
        t, s = r["tgt"], r["sgguard"]
        ratios = [si[0] / ti[0] for si, ti in zip(s, t, strict=True)]
        row = {
            "tgt_iops": statistics.median(x[0] for x in t),
            "tgt_mbs": statistics.median(x[1] for x in t),
            "sgguard_iops": statistics.median(x[0] for x in s),
            "sgguard_mbs": statistics.median(x[1] for x in s),
            "ratio": statistics.median(ratios),  # median of the per-run ratios
        }
        text = (
            f"{name:30} {row['tgt_iops']:10.0f} {row['tgt_mbs']:9.1f} {row['sgguard_iops']:13.0f} "
            f"{row['sgguard_mbs']:13.1f} {row['ratio']:6.2f}"
        )
        if "base" in r:
            b = r["base"]
            row["base_iops"] = statistics.median(x[0] for x in b)
            row["base_ratio"] = statistics.median(
                bi[0] / ti[0] for bi, ti in zip(b, t, strict=True)
            )
            text += f" {row['base_iops']:10.0f} {row['base_ratio']:6.2f}"
        summary[name] = row
        print(text)
    if args.runs > 1:
        print(f"({args.runs} runs; IOPS are medians, ratio is the median of per-run ratios)")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
