"""Benchmark: CDB decode throughput over a realistic mix (one core).

Prints the median CDBs/s of several runs. The mix follows what a Linux
initiator sends to a disk: mostly READ/WRITE (10) and (16), with TEST UNIT
READY, INQUIRY, READ CAPACITY (16), MODE SENSE, SYNCHRONIZE CACHE, WRITE SAME,
UNMAP, REPORT LUNS, GET LBA STATUS and an occasional ATA PASS-THROUGH.
Usage: python bench/bench_decode.py [--runs N] [--count N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from sgguard.scsi.cdb import decode


def _mix(count: int, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    weighted: list[tuple[int, str]] = [
        (30, "28 00 {l4} 00 {n2} 00"),  # READ (10)
        (25, "2a 00 {l4} 00 {n2} 00"),  # WRITE (10)
        (12, "88 00 {l8} {n4} 00 00"),  # READ (16)
        (10, "8a 08 {l8} {n4} 00 00"),  # WRITE (16) FUA
        (4, "00 00 00 00 00 00"),  # TEST UNIT READY
        (3, "35 00 00 00 00 00 00 00 00 00"),  # SYNCHRONIZE CACHE (10)
        (3, "93 08 {l8} {n4} 00 00"),  # WRITE SAME (16) UNMAP
        (2, "42 00 00 00 00 00 00 00 18 00"),  # UNMAP
        (2, "12 00 00 00 24 00"),  # INQUIRY
        (2, "12 01 83 00 fc 00"),  # INQUIRY VPD 83h
        (2, "9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00"),  # READ CAPACITY (16)
        (1, "1a 00 3f 00 c0 00"),  # MODE SENSE (6)
        (1, "a0 00 00 00 00 00 00 00 10 00 00 00"),  # REPORT LUNS
        (1, "9e 12 {l8} 00 00 10 00 00 00"),  # GET LBA STATUS (16)
        (1, "85 08 0e 00 00 00 01 00 00 00 00 00 00 40 ec 00"),  # ATA PT (16) IDENTIFY
        (1, "89 00 {l8} 00 00 00 01 00 00"),  # COMPARE AND WRITE
    ]
    templates = rnd.choices([t for _, t in weighted], [w for w, _ in weighted], k=count)
    out: list[bytes] = []
    for tmpl in templates:
        text = tmpl.format(
            l4=rnd.randrange(1 << 32).to_bytes(4, "big").hex(),
            l8=rnd.randrange(1 << 40).to_bytes(8, "big").hex(),
            n2=rnd.randrange(1, 256).to_bytes(2, "big").hex(),
            n4=rnd.randrange(1, 2048).to_bytes(4, "big").hex(),
        )
        out.append(bytes.fromhex(text.replace(" ", "")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--count", type=int, default=200_000)
    args = ap.parse_args()
    cdbs = _mix(args.count)
    for c in cdbs[:1000]:  # warm up
        decode(c)
    rates = []
    wall = []
    for _ in range(args.runs):
        t0 = time.process_time()
        w0 = time.perf_counter()
        for c in cdbs:
            decode(c)
        dt = time.process_time() - t0
        wall.append(len(cdbs) / (time.perf_counter() - w0))
        rates.append(len(cdbs) / dt)
    med = statistics.median(rates)
    # CPU time of this process (one core); wall-clock rates drop when other
    # processes share the core, so both are shown.
    print(
        f"decode: median {med:,.0f} CDBs/s (CPU time) over {args.runs} runs of {len(cdbs):,} CDBs"
    )
    print("runs (CPU time): " + ", ".join(f"{r:,.0f}" for r in rates))
    print(f"median wall-clock rate: {statistics.median(wall):,.0f} CDBs/s")
    print(f"target 500,000 CDBs/s: {'met' if med >= 500_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
