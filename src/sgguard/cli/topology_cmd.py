"""`sgguard topology IMAGE`: print a disk's partitions and LVM2 volumes.

Owns the command line of the topology reader: text (rich tables on a terminal,
plain aligned columns otherwise) or JSON, and `--slice SELECTOR` to show the byte
range a selector names (what `sgguard serve` would export for it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sgguard.topology.model import Layout, Slice

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "topology",
        help="print a disk image's partitions (MBR/GPT) and LVM2 volumes",
        description="Read an image file or block device and print its partition table "
        "(MBR with logical partitions, or GPT) and the LVM2 volume groups on it.",
    )
    p.add_argument("image", metavar="IMAGE", help="image file or block device")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument(
        "--slice",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="also resolve a slice: N, pN, name=NAME, guid=GUID, lv=VG/LV, range=START:SIZE",
    )
    p.add_argument(
        "--sector-size",
        type=int,
        choices=(512, 1024, 2048, 4096),
        help="logical sector size (default: the device's, or GPT autodetection for files)",
    )
    p.set_defaults(func=run)


def _size(n: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n % scale else f"{n // scale} {unit}"
    return f"{n} B"


def _tables(layout: Layout, slices: list[Slice]) -> list[tuple[str, list[str], list[list[str]]]]:
    out: list[tuple[str, list[str], list[list[str]]]] = []
    rows = []
    for p in layout.partitions:
        rows.append(
            [
                str(p.number),
                p.kind.value,
                str(p.start_byte),
                str(p.size_bytes),
                _size(p.size_bytes),
                f"{p.type_code} {p.type_name}".strip(),
                p.name,
                p.guid,
                ("boot " if p.bootable else "")
                + (f"attrs=0x{p.attributes:x}" if p.attributes else ""),
            ]
        )
    out.append(
        (
            "partitions",
            ["#", "kind", "start", "bytes", "size", "type", "name", "guid", "flags"],
            rows,
        )
    )
    for vg in layout.volume_groups:
        pv_rows = [
            [
                pv.name,
                pv.uuid,
                "-" if pv.disk_byte is None else str(pv.disk_byte),
                "disk" if pv.partition is None else f"partition {pv.partition}",
                str(pv.pe_start_byte),
                str(pv.pe_count),
            ]
            for pv in vg.pvs
        ]
        out.append(
            (
                f"VG {vg.name} (uuid {vg.uuid}, seqno {vg.seqno}, extent {_size(vg.extent_size)})",
                ["pv", "uuid", "disk byte", "on", "pe_start", "extents"],
                pv_rows,
            )
        )
        lv_rows = []
        for lv in vg.lvs:
            for i, seg in enumerate(lv.segments, 1):
                stripes = ", ".join(
                    f"{s.pv}:{s.start_extent}" + ("" if s.disk_byte is None else f"@{s.disk_byte}")
                    for s in seg.stripes
                )
                lv_rows.append(
                    [
                        f"{vg.name}/{lv.name}" if i == 1 else "",
                        _size(lv.size_bytes) if i == 1 else "",
                        str(i),
                        f"{seg.start_extent}+{seg.extent_count}",
                        "linear" if seg.is_linear else f"{seg.type} x{len(seg.stripes)}",
                        stripes,
                    ]
                )
        out.append(
            (
                f"LVs of {vg.name}",
                ["lv", "size", "seg", "extents", "type", "pv:extent@disk byte"],
                lv_rows,
            )
        )
    if slices:
        out.append(
            (
                "slices",
                ["start", "bytes", "size", "description"],
                [
                    [str(s.start_byte), str(s.size_bytes), _size(s.size_bytes), s.description]
                    for s in slices
                ],
            )
        )
    return out


def _header(layout: Layout) -> list[str]:
    lines = [
        f"{layout.source}: {layout.size_bytes} bytes ({_size(layout.size_bytes)}), "
        f"{layout.sector_size}-byte sectors, table {layout.table.value}"
    ]
    if layout.disk_guid:
        lines.append(f"disk GUID {layout.disk_guid}")
    if layout.mbr_signature is not None and layout.table.value == "mbr":
        lines.append(f"disk signature 0x{layout.mbr_signature:08x}")
    return lines


def _print_plain(layout: Layout, slices: list[Slice]) -> None:
    for line in _header(layout):
        print(line)
    for title, cols, rows in _tables(layout, slices):
        print()
        print(f"{title}:" if rows else f"{title}: none")
        if not rows:
            continue
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
        for r in rows:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    for w in layout.warnings:
        print(f"warning: {w}")


def _print_rich(layout: Layout, slices: list[Slice]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for line in _header(layout):
        console.print(line, highlight=False)
    for title, cols, rows in _tables(layout, slices):
        if not rows:
            console.print(f"{title}: none")
            continue
        table = Table(title=title, title_justify="left")
        for c in cols:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*r)
        console.print(table)
    for w in layout.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)


def run(args: argparse.Namespace) -> int:
    from sgguard.topology import read_layout, resolve_slice

    layout = read_layout(args.image, sector_size=args.sector_size)
    slices = [resolve_slice(layout, s) for s in args.slice]
    if args.json:
        doc = layout.to_json()
        if slices:
            doc["slices"] = [
                {
                    "start_byte": s.start_byte,
                    "size_bytes": s.size_bytes,
                    "description": s.description,
                }
                for s in slices
            ]
        json.dump(doc, sys.stdout, indent=2)
        print()
    elif sys.stdout.isatty():
        _print_rich(layout, slices)
    else:
        _print_plain(layout, slices)
    return 0
