"""Benchmark a full lab run per kernel: boot, matrix, attacks, tools (after the first download).

For each kernel package (default: Debian's 6.1 via linux-image-amd64 and
linux-image-6.12-amd64) runs `sgguard.lab.runner.run_lab` with the whole corpus
and prints the host-side phases (initramfs layers, preparing images and initrd,
guest wall time, total) and the guest's own phase times from run.json. The first
run of a kernel downloads and unpacks it and builds the cached initramfs layers;
pass --warm to do one untimed run first so the figures are for cached runs.

Usage: .venv/bin/python bench/bench_lab.py [--kernel PKG ...] [--warm] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sgguard.lab import kernels, runner
from sgguard.lab.profile import kernel_label


def one(package: str, out: Path) -> dict[str, object]:
    tree = kernels.fetch_kernel(package)
    label = kernel_label(tree.release)
    cases = runner.matrix_for(label)
    t0 = time.monotonic()
    run = runner.run_lab(
        tree, out, cases, cache_dir=kernels.default_cache_dir(), kernel_label=label
    )
    wall = time.monotonic() - t0
    info = json.loads((out / "run.json").read_text())
    return {
        "package": tree.package,
        "release": tree.release,
        "cases": run.cases,
        "wall_s": round(wall, 2),
        "host": run.timings,
        "guest": info["guest_timings"],
        "guest_uptime_s": info["guest_uptime"],
        "errors": run.errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--kernel", action="append", help="kernel package (repeatable; default 6.1 and 6.12)"
    )
    ap.add_argument("--warm", action="store_true", help="one untimed run per kernel first")
    ap.add_argument("--out", type=Path, help="keep the profiles here")
    args = ap.parse_args()
    packages = args.kernel or ["linux-image-amd64", "linux-image-6.12-amd64"]
    with tempfile.TemporaryDirectory() as tmp:
        base = args.out or Path(tmp)
        for pkg in packages:
            if args.warm:
                one(pkg, base / "warm")
            res = one(pkg, base / pkg)
            print(json.dumps(res, sort_keys=True))


if __name__ == "__main__":
    main()
