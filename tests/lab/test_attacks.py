"""sgguard.lab.attacks: CDB vectors, target planning, and verdicts from images."""

from __future__ import annotations

import struct

from sgguard.lab.attacks import (
    _ata_pt,
    _rw_cdb,
    _unmap,
    _write_same,
    judge_attacks,
    pattern,
    plan_attacks,
)
from sgguard.lab.disks import BLOCK, expected_block, lab_disks


def test_read_write_cdbs_place_lba_and_length_per_sbc() -> None:
    # SBC-4 5.14 READ (6): 21-bit LBA in bytes 1-3, length byte 4
    assert _rw_cdb("READ_6", 0x12345, 1) == bytes.fromhex("080123450100")
    # SBC-4 5.15 READ (10)
    assert _rw_cdb("READ_10", 0x01020304, 2) == bytes.fromhex("28000102030400000200")
    # SBC-4 5.16 READ (12): 4-byte LBA, 4-byte length
    assert _rw_cdb("WRITE_12", 7, 1) == bytes.fromhex("aa000000000700000001" + "0000")
    # SBC-4 5.17 READ (16): 8-byte LBA at 2, 4-byte length at 10
    assert _rw_cdb("READ_16", 1 << 33, 3) == bytes.fromhex(
        "8800" + "0000000200000000" + "00000003" + "0000"
    )
    # SBC-4 5.18 READ (32): 0x7f, additional length 18h, service action 0009h, LBA at 12, length at 28
    r32 = _rw_cdb("READ_32", 0x1122, 1)
    assert len(r32) == 32 and r32[0] == 0x7F and r32[7] == 0x18
    assert r32[8:10] == b"\x00\x09" and struct.unpack(">Q", r32[12:20])[0] == 0x1122
    assert struct.unpack(">I", r32[28:32])[0] == 1
    assert _rw_cdb("WRITE_32", 0, 1)[8:10] == b"\x00\x0b"


def test_write_same_unmap_ata_vectors() -> None:
    assert _write_same("WRITE_SAME_10", 100, 0) == bytes.fromhex("41000000006400000000")
    ws16 = _write_same("WRITE_SAME_16", 100, 2)
    assert ws16[0] == 0x93 and struct.unpack(">QI", ws16[2:14]) == (100, 2)
    cdb, params = _unmap(4096, 8)
    assert cdb[0] == 0x42 and struct.unpack(">H", cdb[7:9])[0] == 24
    # SBC-4 5.31.2: data length, block descriptor data length, then LBA(8) + blocks(4)
    assert struct.unpack(">HH", params[:4]) == (22, 16)
    assert struct.unpack(">QI", params[8:20]) == (4096, 8)
    a12 = _ata_pt("ATA_PASS_THROUGH_12", 0x123456)
    assert a12[0] == 0xA1 and a12[9] == 0x20 and a12[5:8] == bytes([0x56, 0x34, 0x12])
    a16 = _ata_pt("ATA_PASS_THROUGH_16", 0x10)
    assert a16[0] == 0x85 and a16[14] == 0x30 and len(a16) == 16


def test_plan_targets_are_outside_the_node_and_distinct() -> None:
    disks = lab_disks()
    plan = plan_attacks(disks)
    seen: dict[str, set[int]] = {}
    names = {a["name"] for a in plan.attacks}
    assert {"READ_6", "WRITE_32", "UNMAP", "COMPARE_AND_WRITE", "EXTENDED_COPY"} <= names
    assert {"ATA_PASS_THROUGH_12", "ATA_PASS_THROUGH_16", "SEND_COMMAND_WRITE_10"} <= names
    assert {"WRITE_SAME_10_ZERO_BLOCKS", "WRITE_SAME_16_ZERO_BLOCKS"} <= names
    assert {a["source"] for a in plan.attacks} == {"partition", "dm-partial"}
    for a in plan.attacks:
        lo, hi = a["node_start"], a["node_start"] + a["node_blocks"]
        assert not lo <= a["target_lba"] < hi
        if not a["to_end"]:
            blocks = set(range(a["target_lba"], a["target_lba"] + a["blocks"]))
            used = seen.setdefault(a["disk"], set())
            assert not blocks & used
            used |= blocks
    # no-cap attacks run first, then cap; zero-block WRITE SAMEs last within each
    caps = [a["cap_sys_rawio"] for a in plan.attacks]
    assert caps == sorted(caps)
    half = [a for a in plan.attacks if a["cap_sys_rawio"]]
    assert [a["to_end"] for a in half] == sorted(a["to_end"] for a in half)


def _image(layout) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(
        expected_block(layout.role, layout.region_of(lba).name, lba) for lba in range(layout.blocks)
    )


def test_judge_reports_reads_writes_and_refusals() -> None:
    disks = lab_disks()
    plan = plan_attacks(disks)
    before = {d.role: _image(d) for d in disks}
    after = {k: bytearray(v) for k, v in before.items()}
    read = next(a for a in plan.attacks if a["name"] == "READ_10" and a["cap_sys_rawio"])
    write = next(a for a in plan.attacks if a["name"] == "WRITE_16" and a["cap_sys_rawio"])
    unmap = next(a for a in plan.attacks if a["name"] == "UNMAP" and a["cap_sys_rawio"])
    denied = next(a for a in plan.attacks if a["name"] == "WRITE_10" and not a["cap_sys_rawio"])
    lba = write["target_lba"]
    after[write["disk"]][lba * BLOCK : (lba + 1) * BLOCK] = pattern(write["id"], lba)
    u = unmap["target_lba"]
    after[unmap["disk"]][u * BLOCK : (u + 8) * BLOCK] = bytes(8 * BLOCK)
    rd = read["target_lba"]
    results = [
        {
            "id": read["id"],
            "errno": None,
            "status": 0,
            "data": before[read["disk"]][rd * BLOCK : (rd + 1) * BLOCK].hex(),
        },
        {"id": write["id"], "errno": None, "status": 0, "data": ""},
        {"id": unmap["id"], "errno": None, "status": 0, "data": ""},
        {"id": denied["id"], "errno": "ENOTTY"},
    ]
    rows = {
        r["id"]: r
        for r in judge_attacks(
            plan, results, disks, before, {k: bytes(v) for k, v in after.items()}
        )
    }
    assert rows[read["id"]]["escape"] and rows[read["id"]]["bytes_read"] == BLOCK
    assert rows[write["id"]]["escape"] and rows[write["id"]]["changed_lbas"] == [[lba, 1]]
    assert rows[write["id"]]["changed_regions"] == ["p3"]
    assert rows[unmap["id"]]["bytes_changed"] == 8 * BLOCK
    assert rows[denied["id"]]["outcome"] == "ENOTTY" and not rows[denied["id"]]["escape"]
    # an attack the guest never reported is not silently "safe"
    assert any(r["outcome"] == "not-run" for r in rows.values())
