"""The lab's attack corpus: commands that try to reach blocks outside a node, and their verdicts.

Owns (a) the attacks: from a partition or a partial dm map, read or write blocks
that lie OUTSIDE that node (in another partition, a gap or the disk's tail) with
READ/WRITE (6/10/12/16/32), WRITE AND VERIFY (10/16), WRITE SAME (10/16, also with
zero blocks = to the end of the medium, SBC-4 5.50), UNMAP (SBC-4 5.31),
COMPARE AND WRITE (SBC-4 5.3), EXTENDED COPY (SPC-4 6.4, LID1), ATA PASS-THROUGH
(12/16, SAT-5 12.2) and SCSI_IOCTL_SEND_COMMAND, each with and without
CAP_SYS_RAWIO; each attack gets its own target blocks and writes a data pattern
naming it, so that every changed block is attributable; and (b) the verdicts: the
kernel's answer (errno or allowed), the device's status, and, from the images
before and after, the bytes each attack read or changed outside its node.

The same corpus also runs against a whole logical unit that is itself a slice
of a shared image (an sgguard iSCSI LUN seen by a guest as a pass-through disk):
`plan_slice_attacks` aims every attack past the unit's last LBA (just past the
end, and where a target that shifted LBAs without checking them would land in
the neighbouring partition), and `judge_slice_attacks` classifies the unit's
answers (LBA OUT OF RANGE, another ILLEGAL REQUEST refusal, not delivered,
accepted).

Pure functions: CDB building, planning and judging take and return values.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from sgguard.lab.disks import BLOCK, DiskLayout, expected_block

__all__ = [
    "AttackPlan",
    "AttackSource",
    "attack_sources",
    "judge_attacks",
    "judge_slice_attacks",
    "plan_attacks",
    "plan_slice_attacks",
]

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AttackSource:
    """A node an attacker may open: its name, guest reference, disk and block range."""

    name: str  # "partition" or "dm-partial"
    label: str  # e.g. "atk/p1 (MBR)"
    node_ref: str
    disk: DiskLayout
    start: int
    blocks: int


def attack_sources(disks: tuple[DiskLayout, ...]) -> tuple[AttackSource, ...]:
    by_role = {d.role: d for d in disks}
    atk, tools = by_role["atk"], by_role["tools"]
    p1, p2, g1 = atk.partition(1), atk.partition(2), tools.partition(1)
    return (
        AttackSource("partition", "atk p1 (MBR)", "part:atk:1", atk, p1.start, p1.blocks),
        AttackSource(
            "dm-partial", "sgg-apart over atk p2", "dm:sgg-apart", atk, p2.start, p2.blocks
        ),
        AttackSource("partition", "tools p1 (GPT)", "part:tools:1", tools, g1.start, g1.blocks),
    )


def pattern(attack_id: str, lba: int) -> bytes:
    unit = f"SGGATK id={attack_id} lba={lba:08d}|".encode()
    return (unit * (BLOCK // len(unit) + 1))[:BLOCK]


_ATK_RE = re.compile(rb"SGGATK id=([A-Za-z0-9_.:-]+) lba=")


def _rw_cdb(op: str, lba: int, blocks: int) -> bytes:
    if op in ("READ_6", "WRITE_6"):
        code = 0x08 if op == "READ_6" else 0x0A
        return bytes([code, (lba >> 16) & 0x1F, (lba >> 8) & 0xFF, lba & 0xFF, blocks & 0xFF, 0])
    if op in ("READ_10", "WRITE_10", "WRITE_AND_VERIFY_10"):
        code = {"READ_10": 0x28, "WRITE_10": 0x2A, "WRITE_AND_VERIFY_10": 0x2E}[op]
        return struct.pack(">BBIBHB", code, 0, lba, 0, blocks, 0)
    if op in ("READ_12", "WRITE_12"):
        code = 0xA8 if op == "READ_12" else 0xAA
        return struct.pack(">BBIIBB", code, 0, lba, blocks, 0, 0)
    if op in ("READ_16", "WRITE_16", "WRITE_AND_VERIFY_16"):
        code = {"READ_16": 0x88, "WRITE_16": 0x8A, "WRITE_AND_VERIFY_16": 0x8E}[op]
        return struct.pack(">BBQIBB", code, 0, lba, blocks, 0, 0)
    if op in ("READ_32", "WRITE_32"):
        # SBC-4 5.16/5.46: variable length CDB 0x7f, service action 0009h/000Bh
        sa = 0x0009 if op == "READ_32" else 0x000B
        return struct.pack(">BBIBBHBBQIHHI", 0x7F, 0, 0, 0, 0x18, sa, 0, 0, lba, 0, 0, 0, blocks)
    raise ValueError(op)


def _write_same(op: str, lba: int, blocks: int) -> bytes:
    if op == "WRITE_SAME_10":
        return struct.pack(">BBIBHB", 0x41, 0, lba, 0, blocks, 0)
    return struct.pack(">BBQIBB", 0x93, 0, lba, blocks, 0, 0)


def _unmap(lba: int, blocks: int) -> tuple[bytes, bytes]:
    params = struct.pack(">HH4xQI4x", 22, 16, lba, blocks)
    return struct.pack(">BBIBHB", 0x42, 0, 0, 0, len(params), 0), params


def _compare_and_write(
    aid: str, disk: DiskLayout, lba: int, image_lba: int | None = None
) -> tuple[bytes, bytes]:
    cdb = struct.pack(">BBQ3xBBB", 0x89, 0, lba, 1, 0, 0)
    at = lba if image_lba is None else image_lba  # the block the compare data is taken from
    compare = expected_block(disk.role, disk.region_of(at).name, at)
    return cdb, compare + pattern(aid, lba)


def _extended_copy(src_lba: int, dst_lba: int) -> tuple[bytes, bytes]:
    """LID1 parameter list: two identification target descriptors, one block->block segment."""
    target = bytes([0xE4, 0, 0, 0]) + bytes(28)
    segment = struct.pack(">BBHHHxxHQQ", 0x02, 0, 0x18, 0, 1, 1, src_lba, dst_lba)
    header = struct.pack(">BBHIIH", 0, 0, len(target) * 2, 0, len(segment), 0)[:16]
    header = header.ljust(16, b"\0")
    params = header + target * 2 + segment
    cdb = bytes([0x83, 0x00]) + bytes(8) + struct.pack(">I", len(params)) + bytes([0, 0])
    return cdb, params


def _ata_pt(op: str, lba: int) -> bytes:
    dev = 0x40 | ((lba >> 24) & 0x0F)
    if op == "ATA_PASS_THROUGH_12":
        # PIO data-in (protocol 4), T_DIR=1 BYT_BLOK=1 T_LENGTH=2; READ SECTORS (20h)
        return bytes(
            [
                0xA1,
                4 << 1,
                0x0E,
                0,
                1,
                lba & 0xFF,
                (lba >> 8) & 0xFF,
                (lba >> 16) & 0xFF,
                dev,
                0x20,
                0,
                0,
            ]
        )
    # ATA PASS-THROUGH (16): PIO data-out (protocol 5), T_DIR=0; WRITE SECTORS (30h)
    return bytes(
        [
            0x85,
            5 << 1,
            0x06,
            0,
            0,
            0,
            1,
            0,
            lba & 0xFF,
            0,
            (lba >> 8) & 0xFF,
            0,
            (lba >> 16) & 0xFF,
            dev,
            0x30,
            0,
        ]
    )


# (name, kind, blocks) in the order the guest runs them.
ATTACKS: tuple[tuple[str, str, int], ...] = (
    ("READ_6", "read", 1),
    ("READ_10", "read", 1),
    ("READ_12", "read", 1),
    ("READ_16", "read", 1),
    ("READ_32", "read", 1),
    ("ATA_PASS_THROUGH_12", "read", 1),
    ("SEND_COMMAND_READ_10", "read", 1),
    ("WRITE_6", "write", 1),
    ("WRITE_10", "write", 1),
    ("WRITE_12", "write", 1),
    ("WRITE_16", "write", 1),
    ("WRITE_32", "write", 1),
    ("WRITE_AND_VERIFY_10", "write", 1),
    ("WRITE_AND_VERIFY_16", "write", 1),
    ("WRITE_SAME_10", "write", 2),
    ("WRITE_SAME_16", "write", 2),
    ("UNMAP", "write", 8),
    ("COMPARE_AND_WRITE", "write", 1),
    ("EXTENDED_COPY", "write", 1),
    ("ATA_PASS_THROUGH_16", "write", 1),
    ("SEND_COMMAND_WRITE_10", "write", 1),
)
TAIL_ATTACKS: tuple[str, ...] = ("WRITE_SAME_10_ZERO_BLOCKS", "WRITE_SAME_16_ZERO_BLOCKS")


@dataclass(frozen=True, slots=True)
class AttackPlan:
    """The attacks to send (guest JSON) and what the host needs to judge them."""

    attacks: tuple[Json, ...]


def _build(
    aid: str, name: str, lba: int, blocks: int, disk: DiskLayout, image_lba: int | None = None
) -> Json:
    op: Json = {"ioctl": "SG_IO"}
    if name in ("READ_6", "READ_10", "READ_12", "READ_16", "READ_32"):
        op.update(cdb=_rw_cdb(name, lba, blocks).hex(), data_in_len=blocks * BLOCK)
    elif name.startswith(("WRITE_6", "WRITE_10", "WRITE_12", "WRITE_16", "WRITE_32", "WRITE_AND")):
        data = b"".join(pattern(aid, lba + i) for i in range(blocks))
        op.update(cdb=_rw_cdb(name, lba, blocks).hex(), data_out=data.hex())
    elif name in ("WRITE_SAME_10", "WRITE_SAME_16"):
        op.update(cdb=_write_same(name, lba, blocks).hex(), data_out=pattern(aid, lba).hex())
    elif name in TAIL_ATTACKS:
        ws = name.removesuffix("_ZERO_BLOCKS")
        op.update(cdb=_write_same(ws, lba, 0).hex(), data_out=pattern(aid, lba).hex())
    elif name == "UNMAP":
        cdb, params = _unmap(lba, blocks)
        op.update(cdb=cdb.hex(), data_out=params.hex())
    elif name == "COMPARE_AND_WRITE":
        cdb, data = _compare_and_write(aid, disk, lba, image_lba)
        op.update(cdb=cdb.hex(), data_out=data.hex())
    elif name == "EXTENDED_COPY":
        cdb, params = _extended_copy(lba + 1, lba)
        op.update(cdb=cdb.hex(), data_out=params.hex())
    elif name == "ATA_PASS_THROUGH_12":
        op.update(cdb=_ata_pt(name, lba).hex(), data_in_len=BLOCK)
    elif name == "ATA_PASS_THROUGH_16":
        op.update(cdb=_ata_pt(name, lba).hex(), data_out=pattern(aid, lba).hex())
    elif name == "SEND_COMMAND_READ_10":
        op.update(
            ioctl="SCSI_IOCTL_SEND_COMMAND", cdb=_rw_cdb("READ_10", lba, 1).hex(), data_in_len=BLOCK
        )
    elif name == "SEND_COMMAND_WRITE_10":
        op.update(
            ioctl="SCSI_IOCTL_SEND_COMMAND",
            cdb=_rw_cdb("WRITE_10", lba, 1).hex(),
            data_out=pattern(aid, lba).hex(),
        )
    else:
        raise ValueError(name)
    return op


def plan_attacks(disks: tuple[DiskLayout, ...]) -> AttackPlan:
    """Every attack from every source, without and then with CAP_SYS_RAWIO.

    Targets: each attack gets fresh 8-aligned blocks in a partition of the same
    disk that the source does not cover (partition 3, or partition 2 for dm);
    the zero-block WRITE SAMEs target the tail, in ascending LBA order, last.
    """
    attacks: list[Json] = []
    sources = attack_sources(disks)
    cursors: dict[str, int] = {}
    tails: list[Json] = []
    for cap in (False, True):
        for si, src in enumerate(sources):
            victim = src.disk.partition(3)  # outside every attack source
            key = src.disk.role
            for name, kind, blocks in ATTACKS:
                aid = f"{'cap' if cap else 'nocap'}.{si}.{name}"
                cur = cursors.get(key, victim.start + 64)
                lba = cur
                cursors[key] = cur + 16
                if not (victim.start <= lba and lba + blocks <= victim.end):
                    raise ValueError(f"attack targets overflow {victim}")
                op = _build(aid, name, lba, blocks, src.disk)
                op.update(
                    id=aid,
                    name=name,
                    kind=kind,
                    source=src.name,
                    source_label=src.label,
                    node_ref=src.node_ref,
                    disk=src.disk.role,
                    node_start=src.start,
                    node_blocks=src.blocks,
                    cap_sys_rawio=cap,
                    target_lba=lba,
                    blocks=blocks,
                    to_end=False,
                )
                attacks.append(op)
            for ti, name in enumerate(TAIL_ATTACKS):
                aid = f"{'cap' if cap else 'nocap'}.{si}.{name}"
                tails.append({"aid": aid, "name": name, "src": src, "cap": cap, "ti": ti})
    # Tail attacks: per disk, ascending LBA in run order (no-cap first, then cap).
    per_disk: dict[str, int] = {}
    for t in tails:
        src = t["src"]
        disk = src.disk
        tail = next(r for r in disk.regions() if r.name == "tail")
        n = per_disk.get(disk.role, 0)
        per_disk[disk.role] = n + 1
        lba = tail.start + 8 * n
        op = _build(t["aid"], t["name"], lba, 0, disk)
        op.update(
            id=t["aid"],
            name=t["name"],
            kind="write",
            source=src.name,
            source_label=src.label,
            node_ref=src.node_ref,
            disk=disk.role,
            node_start=src.start,
            node_blocks=src.blocks,
            cap_sys_rawio=t["cap"],
            target_lba=lba,
            blocks=disk.blocks - lba,
            to_end=True,
        )
        attacks.append(op)
    # guest runs no-cap then cap; keep list order stable within each
    attacks.sort(key=lambda a: (a["cap_sys_rawio"], a["to_end"]))
    return AttackPlan(tuple(attacks))


def plan_slice_attacks(disk: DiskLayout, number: int, node_ref: str) -> AttackPlan:
    """The corpus against a logical unit that presents partition `number` of `disk` as a whole disk.

    LBAs are the unit's own (0 = the partition's first block). Every attack of
    `ATTACKS` twice: at the first LBA past the unit's end (`past-end`) and at the
    LBA that, shifted by the partition's start without a range check, would land
    in the next partition (`into-next`); then WRITE SAME (10)/(16) with zero
    blocks from past the end. `image_lba` records where an unconfined shift
    would have hit the image.
    """
    part = disk.partition(number)
    victim = min(
        (p for p in disk.partitions if p.start >= part.end),
        key=lambda p: p.start,
        default=None,
    )
    if victim is None:
        raise ValueError(f"partition {number} of {disk.role} has no partition after it")
    attacks: list[Json] = []
    cursor = victim.start - part.start + 64
    for style in ("past-end", "into-next"):
        for name, kind, blocks in ATTACKS:
            if style == "past-end":
                lba = part.blocks
            else:
                lba = cursor
                cursor += 16
            aid = f"{style}.{name}"
            op = _build(aid, name, lba, blocks, disk, image_lba=part.start + lba)
            op.update(
                id=aid,
                name=name,
                kind=kind,
                style=style,
                node_ref=node_ref,
                disk=disk.role,
                node_start=part.start,
                node_blocks=part.blocks,
                cap_sys_rawio=True,
                target_lba=lba,
                image_lba=part.start + lba,
                blocks=blocks,
                to_end=False,
            )
            attacks.append(op)
    for name in TAIL_ATTACKS:
        lba = part.blocks + 8
        aid = f"past-end.{name}"
        op = _build(aid, name, lba, 0, disk)
        op.update(
            id=aid,
            name=name,
            kind="write",
            style="past-end",
            node_ref=node_ref,
            disk=disk.role,
            node_start=part.start,
            node_blocks=part.blocks,
            cap_sys_rawio=True,
            target_lba=lba,
            image_lba=part.start + lba,
            blocks=0,
            to_end=True,
        )
        attacks.append(op)
    return AttackPlan(tuple(attacks))


def _asc(sense_hex: str) -> tuple[int, int] | None:
    sense = bytes.fromhex(sense_hex or "")
    if len(sense) >= 4 and sense[0] & 0x7F in (0x72, 0x73):
        return sense[2], sense[3]
    if len(sense) >= 14:
        return sense[12], sense[13]
    return None


def judge_slice_attacks(plan: AttackPlan, results: list[Json]) -> list[Json]:
    """One row per attack on a slice unit: how the unit (or the path to it) answered.

    `verdict`: `lba-out-of-range` (CHECK CONDITION, ILLEGAL REQUEST, LOGICAL BLOCK
    ADDRESS OUT OF RANGE), `refused` (CHECK CONDITION, ILLEGAL REQUEST with another
    ASC: the command refused by policy or as invalid; or COPY ABORTED: an EXTENDED
    COPY whose copy targets were refused, SPC-4 6.4.3), `not-delivered` (no SCSI
    status: an errno, a host or driver error on the way), `accepted` (GOOD),
    `other` (any other status or sense key), `not-run`.
    """
    by_id = {r["id"]: r for r in results}
    rows: list[Json] = []
    for a in plan.attacks:
        r = by_id.get(a["id"])
        key = _sense_key(r.get("sense", "")) if r else None
        asc = _asc(r.get("sense", "")) if r else None
        if r is None:
            verdict = "not-run"
        elif r.get("errno") or r.get("open_errno"):
            verdict = "not-delivered"
        elif r.get("status") == 2 and key in (0x05, 0x0A):
            verdict = "lba-out-of-range" if (key, asc) == (0x05, (0x21, 0x00)) else "refused"
        elif r.get("status") == 0 and (r.get("host_status") or r.get("driver_status", 0) & 0x07):
            verdict = "not-delivered"
        elif r.get("status") == 0:
            verdict = "accepted"
        else:
            verdict = "other"
        rows.append(
            {
                "id": a["id"],
                "attack": a["name"],
                "style": a.get("style"),
                "kind": a["kind"],
                "ioctl": a["ioctl"],
                "cdb": a["cdb"],
                "target_lba": a["target_lba"],
                "image_lba": a.get("image_lba"),
                "verdict": verdict,
                "errno": (r or {}).get("errno") or (r or {}).get("open_errno"),
                "scsi_status": (r or {}).get("status"),
                "sense_key": key,
                "asc": list(asc) if asc else None,
                "host_status": (r or {}).get("host_status"),
                "driver_status": (r or {}).get("driver_status"),
            }
        )
    return rows


def _sense_key(sense_hex: str) -> int | None:
    sense = bytes.fromhex(sense_hex or "")
    if len(sense) < 3:
        return None
    if sense[0] & 0x7F in (0x72, 0x73):
        return sense[1] & 0x0F
    return sense[2] & 0x0F


def judge_attacks(
    plan: AttackPlan,
    results: list[Json],
    disks: tuple[DiskLayout, ...],
    before: dict[str, bytes],
    after: dict[str, bytes],
) -> list[Json]:
    """One verdict row per attack: kernel answer, device answer, bytes escaped.

    A read escaped when it returned data equal to the original contents of
    its target blocks (outside the node). A write escaped when blocks outside
    the node changed and carry its pattern, or (UNMAP, EXTENDED COPY: no
    pattern) changed inside its own target range.
    """
    from sgguard.lab.disks import changed_blocks

    by_role = {d.role: d for d in disks}
    by_id = {r["id"]: r for r in results}
    changed: dict[str, list[int]] = {
        role: changed_blocks(before[role], after[role]) for role in before if role in after
    }
    attributed: dict[str, list[int]] = {}
    unattributed: dict[str, list[int]] = {}
    for role, lbas in changed.items():
        img = after[role]
        for lba in lbas:
            m = _ATK_RE.search(img[lba * BLOCK : (lba + 1) * BLOCK])
            if m:
                attributed.setdefault(m.group(1).decode(), []).append(lba)
            else:
                unattributed.setdefault(role, []).append(lba)
    rows: list[Json] = []
    for a in plan.attacks:
        r = by_id.get(a["id"], {})
        disk = by_role[a["disk"]]
        err = r.get("errno") or r.get("open_errno")
        policy = err if err in ("EPERM", "ENOTTY", "EACCES") else "allowed"
        if not r:
            policy = "not-run"
        row: Json = {
            "id": a["id"],
            "attack": a["name"],
            "kind": a["kind"],
            "source": a["source"],
            "source_label": a["source_label"],
            "disk": a["disk"],
            "cap_sys_rawio": a["cap_sys_rawio"],
            "ioctl": a["ioctl"],
            "cdb": a["cdb"],
            "target_lba": a["target_lba"],
            "target_region": disk.region_of(a["target_lba"]).name,
            "outcome": policy,
            "errno": err,
            "scsi_status": r.get("status"),
            "sense_key": _sense_key(r.get("sense", "")),
            "sense": r.get("sense", ""),
            "host_status": r.get("host_status"),
            "driver_status": r.get("driver_status"),
            "resid": r.get("resid"),
            "bytes_read": 0,
            "bytes_changed": 0,
            "changed_lbas": [],
            "escape": False,
        }
        lo, hi = a["node_start"], a["node_start"] + a["node_blocks"]
        if a["kind"] == "read" and r.get("data"):
            data = bytes.fromhex(r["data"])
            original = before[a["disk"]][
                a["target_lba"] * BLOCK : a["target_lba"] * BLOCK + len(data)
            ]
            if data and data == original:
                row["bytes_read"] = len(data)
                row["read_sample"] = data[:48].decode("latin-1")
        mine = list(attributed.get(a["id"], []))
        if a["name"] in ("UNMAP", "EXTENDED_COPY"):
            span = range(a["target_lba"], a["target_lba"] + max(a["blocks"], 1))
            mine += [lba for lba in unattributed.get(a["disk"], []) if lba in span]
        outside = sorted(lba for lba in mine if not lo <= lba < hi)
        row["changed_lbas"] = _ranges(outside)
        row["bytes_changed"] = len(outside) * BLOCK
        row["changed_regions"] = sorted({disk.region_of(lba).name for lba in outside})
        row["escape"] = bool(row["bytes_read"] or row["bytes_changed"])
        # The kernel forwarded the CDB to the whole disk (the policy let it escape the
        # node) even when the emulated device then refused the command itself.
        row["forwarded"] = policy == "allowed"
        rows.append(row)
    return rows


def unattributed_changes(
    plan: AttackPlan,
    disks: tuple[DiskLayout, ...],
    before: dict[str, bytes],
    after: dict[str, bytes],
) -> dict[str, list[list[int]]]:
    """Changed blocks that no attack claims (per disk, as [start, count] ranges)."""
    from sgguard.lab.disks import changed_blocks

    claimed: set[tuple[str, int]] = set()
    for a in plan.attacks:
        if a["name"] in ("UNMAP", "EXTENDED_COPY"):
            for lba in range(a["target_lba"], a["target_lba"] + max(a["blocks"], 1)):
                claimed.add((a["disk"], lba))
    out: dict[str, list[list[int]]] = {}
    for role in before:
        img = after[role]
        free = [
            lba
            for lba in changed_blocks(before[role], img)
            if (role, lba) not in claimed
            and not _ATK_RE.search(img[lba * BLOCK : (lba + 1) * BLOCK])
        ]
        if free:
            out[role] = _ranges(free)
    return out


def _ranges(lbas: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for lba in sorted(lbas):
        if out and out[-1][0] + out[-1][1] == lba:
            out[-1][1] += 1
        else:
            out.append([lba, 1])
    return out
