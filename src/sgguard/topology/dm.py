"""Device-mapper tables: parse `dmsetup table` lines and write dm-linear maps for slices.

Owns the text format of the kernel's device-mapper table (Documentation/admin-guide/
device-mapper: one target per line, ``<start> <length> <target> <args...>``, all
positions in 512-byte sectors). For the `linear` target the arguments are
``<device> <offset>``; for `striped`, ``<#stripes> <chunk sectors> (<device>
<offset>)+``. A dm-linear device over a partition or an LV is exactly what the
kernel forbids SG_IO on, so the lab builds such maps and the audit reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sgguard.errors import InputError
from sgguard.topology.model import Slice

__all__ = ["DmTarget", "LinearRange", "linear_ranges", "linear_table", "parse_table"]

SECTOR = 512


@dataclass(frozen=True, slots=True)
class DmTarget:
    """One line of a table: `sectors` sectors from `start` handled by `target`."""

    start: int
    sectors: int
    target: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinearRange:
    """Bytes `[start_byte, start_byte + size_bytes)` of the dm device are bytes
    `[device_byte, ...)` of `device` (``major:minor`` or a path)."""

    start_byte: int
    size_bytes: int
    device: str
    device_byte: int


def _int(text: str, what: str, line: int) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise InputError(
            f"line {line}: {what} {text!r} is not a number", where="dm table"
        ) from None
    if value < 0:
        raise InputError(f"line {line}: {what} {value} is negative", where="dm table")
    return value


def parse_table(text: str) -> tuple[DmTarget, ...]:
    """Parse `dmsetup table NAME` output; targets must be contiguous from sector 0."""
    out: list[DmTarget] = []
    expect = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 3:
            raise InputError(f"line {n}: expected START LENGTH TARGET [ARGS]", where="dm table")
        start = _int(fields[0], "start", n)
        sectors = _int(fields[1], "length", n)
        if start != expect:
            raise InputError(
                f"line {n}: target starts at sector {start}, expected {expect}", where="dm table"
            )
        expect = start + sectors
        target = DmTarget(start, sectors, fields[2], tuple(fields[3:]))
        if target.target == "linear":
            if len(target.args) != 2:
                raise InputError(f"line {n}: linear takes DEVICE OFFSET", where="dm table")
            _int(target.args[1], "offset", n)
        out.append(target)
    return tuple(out)


def linear_ranges(table: Sequence[DmTarget]) -> tuple[LinearRange, ...]:
    """Where each part of the device goes, for linear and striped targets (stripes
    as one range per chunk would be too many: striped targets give one range per
    stripe covering that stripe's share). Other targets are skipped."""
    out: list[LinearRange] = []
    for t in table:
        if t.target == "linear":
            out.append(
                LinearRange(
                    t.start * SECTOR, t.sectors * SECTOR, t.args[0], int(t.args[1]) * SECTOR
                )
            )
        elif t.target == "striped" and len(t.args) >= 2:
            try:
                count = int(t.args[0])
            except ValueError:
                continue
            pairs = t.args[2:]
            if count <= 0 or len(pairs) != 2 * count or t.sectors % count:
                continue
            share = t.sectors // count * SECTOR
            for k in range(count):
                out.append(
                    LinearRange(
                        t.start * SECTOR, share, pairs[2 * k], int(pairs[2 * k + 1]) * SECTOR
                    )
                )
    return tuple(out)


def linear_table(extents: Sequence[Slice], device: str) -> str:
    """A dm-linear table mapping `extents` (byte ranges of `device`, in order) end to end,
    for ``dmsetup create NAME --table "$(...)"``."""
    lines = []
    pos = 0
    for s in extents:
        if s.start_byte % SECTOR or s.size_bytes % SECTOR or s.size_bytes <= 0:
            raise InputError(f"{s.description}: not a whole number of 512-byte sectors")
        lines.append(f"{pos} {s.size_bytes // SECTOR} linear {device} {s.start_byte // SECTOR}")
        pos += s.size_bytes // SECTOR
    return "\n".join(lines) + "\n"
