"""Per-command overhead of the slice logical unit: READ (10) and WRITE (10) of 4 KiB.

Measures `LogicalUnit.execute` (CDB field decoding, the slice range check, policy
and reservation gates, dispatch, the memory backend's copy and the `Response`)
for READ (10) and WRITE (10) of 8 x 512-byte blocks on a memory backend, bare
and through a `SliceBackend` window in the middle of a larger image, and on a
backend that moves no bytes (the unit's own overhead alone). Commands
run in batches; the report gives the median (and 10th/90th percentiles) of the
per-command time over the batches. Target: median under 5 microseconds each.

    .venv/bin/python bench/bench_target.py [--batches N] [--batch-size N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time

from sgguard.target.api import Nexus, Status
from sgguard.target.backend import Backend, MemoryBackend, SliceBackend
from sgguard.target.identity import Identity
from sgguard.target.lu import LogicalUnit

BLOCK_SIZE = 512
BLOCKS = 8  # 4 KiB
TARGET_US = 5.0


class NullBackend:
    """A backend that moves no bytes: what remains is the logical unit's own overhead."""

    block_size = BLOCK_SIZE
    num_blocks = 32768
    read_only = False
    blocking = False
    unmap_supported = True

    def __init__(self) -> None:
        self._data = bytes(BLOCKS * BLOCK_SIZE)

    def read(self, lba: int, blocks: int) -> bytes:
        return self._data

    def write(self, lba: int, data: bytes | bytearray | memoryview, *, fua: bool = False) -> None:
        pass

    def flush(self) -> None:
        pass


def _unit(kind: str) -> LogicalUnit:
    backend: Backend
    if kind == "null":
        backend = NullBackend()  # type: ignore[assignment]
    elif kind == "slice":
        base = MemoryBackend(65536, BLOCK_SIZE)
        backend = SliceBackend(base, 16384 * BLOCK_SIZE, 32768 * BLOCK_SIZE)
    else:
        backend = MemoryBackend(32768, BLOCK_SIZE)
    return LogicalUnit(backend, Identity.for_slice("iqn.2026-01.bench:t", "slice"))


def measure(kind: str, op: int, batches: int, batch_size: int) -> list[float]:
    """Per-command microseconds, one value per batch."""
    lu = _unit(kind)
    nexus = Nexus("iqn.2026-01.bench:i,i,0x1", "iqn.2026-01.bench:t,t,0x1", 0)
    lu.execute(bytes(6), b"", nexus)  # power-on unit attention
    data = b"\x5a" * (BLOCKS * BLOCK_SIZE) if op == 0x2A else b""
    cdbs = [struct.pack(">BBIBHB", op, 0, (i * 97) % 30000, 0, BLOCKS, 0) for i in range(256)]
    for cdb in cdbs:  # warm up, and check the commands succeed
        resp = lu.execute(cdb, data, nexus)
        if resp.status != Status.GOOD:
            raise SystemExit(f"benchmark command {cdb.hex()} failed: {resp}")
    execute = lu.execute
    out: list[float] = []
    perf = time.perf_counter_ns
    n_cdbs = len(cdbs)
    for b in range(batches):
        seq = [cdbs[(b + i) % n_cdbs] for i in range(batch_size)]
        t0 = perf()
        for cdb in seq:
            execute(cdb, data, nexus)
        out.append((perf() - t0) / batch_size / 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.batches < 1 or args.batch_size < 1:
        parser.error("--batches and --batch-size must be at least 1")
    results = {}
    for kind in ("memory", "slice", "null"):
        for op, name in ((0x28, "READ (10)"), (0x2A, "WRITE (10)")):
            samples = sorted(measure(kind, op, args.batches, args.batch_size))
            key = f"{name} 4KiB {kind}"
            deciles = statistics.quantiles(samples, n=10) if len(samples) > 1 else samples * 9
            results[key] = {
                "median_us": round(statistics.median(samples), 3),
                "p10_us": round(deciles[0], 3),
                "p90_us": round(deciles[-1], 3),
            }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, r in results.items():
            verdict = "ok" if r["median_us"] < TARGET_US else f"over the {TARGET_US} us target"
            print(
                f"{key:28s} median {r['median_us']:6.2f} us  "
                f"(p10 {r['p10_us']:.2f}, p90 {r['p90_us']:.2f})  {verdict}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
