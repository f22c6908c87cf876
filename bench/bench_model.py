"""Benchmark the kernel policy model: cases evaluated per second on one core.

Runs (each the median of --runs timed passes, after one warm-up pass that builds
the per-release decision tables):

* matrix: `evaluate` over the lab's policy matrix (5,480 cases) for 6.1 and 6.12;
* eras: the same matrix for fourteen releases from 2.6.32 to 6.12 (76,720 cases);
  both also with the memoized outcomes dropped before each pass (the decision
  tables stay: they are per release, built once), so every case builds its Outcome;
* ranged: READ/WRITE (10) cases with node_start/node_blocks on partitions with
  CAP_SYS_RAWIO and random LBAs, so that each case decodes its CDB for escape
  (memoized outcomes dropped before each pass);
* json: the CLI path for one case line: json.loads, case_from_json, evaluate,
  outcome_to_json, json.dumps.

Usage: .venv/bin/python bench/bench_model.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from sgguard.kernel import Case, Ioctl, Node, OpenMode, evaluate, matrix_cases
from sgguard.kernel.cases import case_from_json, case_to_json, outcome_to_json
from sgguard.kernel.policy import clear_outcome_caches

ERAS = ["2.6.32", "3.0.17", "3.0.18", "3.2.1", "3.2.2", "3.3", "3.10", "4.9", "4.19", "5.4",
        "5.10", "5.15", "6.1", "6.12"]  # fmt: skip


def rate(
    fn: Callable[[], int], runs: int, before: Callable[[], None] | None = None
) -> tuple[float, float, float]:
    """(median cases per CPU second, per wall second, median CPU seconds per pass).

    One warm-up pass first; `before` runs untimed ahead of each pass (e.g. to drop
    the memoized outcomes). CPU time (time.process_time) is what one core spends on
    this process, so the figure holds on a machine shared with other work; wall
    time is reported beside it.
    """
    fn()
    cpu: list[float] = []
    wall: list[float] = []
    count = 0
    for _ in range(runs):
        if before is not None:
            before()
        c0, w0 = time.process_time(), time.perf_counter()
        count = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    med_cpu, med_wall = statistics.median(cpu), statistics.median(wall)
    return count / med_cpu, count / med_wall, med_cpu


def ranged_cases(n: int, seed: int = 7) -> list[Case]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        op = rng.choice((0x28, 0x2A))
        lba = rng.randrange(0, 1 << 20)
        blocks = rng.randrange(1, 256)
        cdb = bytes([op, 0]) + lba.to_bytes(4, "big") + b"\0" + blocks.to_bytes(2, "big") + b"\0"
        out.append(
            Case("6.1", Node.PARTITION, OpenMode.RW, True, Ioctl.SG_IO, cdb, False, 2048, 1 << 19)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    matrix = matrix_cases("6.1") + matrix_cases("6.12")
    eras = [c for k in ERAS for c in matrix_cases(k)]
    ranged = ranged_cases(20_000)
    lines = [json.dumps(case_to_json(c)) for c in matrix_cases("6.1")]

    def run_cases(cases: list[Case]) -> Callable[[], int]:
        def go() -> int:
            ev = evaluate
            for c in cases:
                ev(c)
            return len(cases)

        return go

    def run_json() -> int:
        loads, dumps = json.loads, json.dumps
        for text in lines:
            case = case_from_json(loads(text))
            dumps(outcome_to_json(case, evaluate(case)))
        return len(lines)

    cold = clear_outcome_caches
    results = {
        "matrix (6.1 + 6.12)": rate(run_cases(matrix), args.runs),
        "matrix, outcomes not memoized": rate(run_cases(matrix), args.runs, cold),
        f"eras ({len(ERAS)} releases)": rate(run_cases(eras), args.runs),
        f"eras ({len(ERAS)}), not memoized": rate(run_cases(eras), args.runs, cold),
        "ranged escape, not memoized": rate(run_cases(ranged), args.runs, cold),
        "json line round trip (CLI path)": rate(run_json, args.runs),
    }
    print(f"sgguard kernel model benchmark, median of {args.runs} runs, one core")
    print(f"  {'':34s} {'cases/CPU-s':>12s} {'cases/wall-s':>13s} {'CPU ms/pass':>12s}")
    for name, (per_cpu, per_wall, seconds) in results.items():
        print(f"  {name:34s} {per_cpu:>12,.0f} {per_wall:>13,.0f} {seconds * 1000:>12.1f}")


if __name__ == "__main__":
    main()
