"""Invariants of the command table (the single source of truth)."""

from __future__ import annotations

from collections import Counter

from sgguard.scsi import cdb, table
from sgguard.scsi.model import DeviceType, Effect, LbaSource


def test_table_has_every_opcode() -> None:
    assert {r.opcode for r in table.COMMANDS} == set(range(256))


def test_table_no_duplicate_opcode_service_action() -> None:
    keys = Counter((r.opcode, r.service_action) for r in table.COMMANDS)
    assert [k for k, n in keys.items() if n > 1] == []


def test_table_cdb_length_follows_group_rule_or_says_why() -> None:
    for r in table.COMMANDS:
        if r.cdb_length != table.group_length(r.opcode):
            assert r.length_note, f"{r.opcode:02X}h/{r.service_action}: {r.cdb_length} without note"


def test_table_layout_length_matches_row() -> None:
    for r in table.COMMANDS:
        for v in r.variants:
            if v.layout is not None:
                assert cdb.layout_class(v.layout).LAYOUT.length == r.cdb_length, v.name


def test_table_every_claimed_device_type_has_one_name() -> None:
    for r in table.COMMANDS:
        seen: list[DeviceType] = []
        for v in r.variants:
            assert v.name
            assert v.device_types
            seen.extend(v.device_types)
        assert len(seen) == len(set(seen)), f"{r.opcode:02X}h claims a device type twice"


def test_table_every_named_layout_exists() -> None:
    names = cdb.layout_classes()
    for r in table.COMMANDS:
        for v in r.variants:
            assert v.layout is None or v.layout in names


def test_table_known_commands_have_layouts() -> None:
    # only reserved, vendor specific and container opcodes go without a layout
    for r in table.COMMANDS:
        for v in r.variants:
            if v.layout is None:
                assert v.effects & Effect.UNKNOWN, v.name


def test_table_vendor_and_reserved_rows() -> None:
    for op in range(0xC0, 0x100):
        (row,) = table.for_opcode(op)
        assert row.name == "VENDOR SPECIFIC" and row.cdb_length == 0
    assert table.lookup(0x60) is not None and table.lookup(0x60).name == "RESERVED"  # type: ignore[union-attr]


def test_table_opcode_aliases_are_first_class() -> None:
    pairs = {
        0x42: ("UNMAP", "READ SUB-CHANNEL"),
        0x51: ("XPWRITE (10)", "READ DISC INFORMATION"),
        0xA1: ("ATA PASS-THROUGH (12)", "BLANK"),
        0xA2: ("SECURITY PROTOCOL IN", "SEND EVENT"),
    }
    for op, (sbc, mmc) in pairs.items():
        row = table.lookup(op)
        assert row is not None
        assert row.names[DeviceType.SBC] == sbc and row.names[DeviceType.MMC] == mmc
    assert table.lookup(0x48, None).names[DeviceType.MMC] == "PLAY AUDIO TRACK INDEX"  # type: ignore[union-attr]
    assert table.lookup(0x48, 0x02).names[DeviceType.SBC] == "SANITIZE (BLOCK ERASE)"  # type: ignore[union-attr]
    assert table.lookup(0xA4, None).names[DeviceType.MMC] == "REPORT KEY"  # type: ignore[union-attr]
    assert table.lookup(0xA4, 0x10).names[DeviceType.SBC] == "MANAGEMENT PROTOCOL OUT"  # type: ignore[union-attr]


def test_table_service_action_of() -> None:
    assert table.service_action_of(bytes.fromhex("9e10") + bytes(14)) == 0x10
    assert table.service_action_of(bytes(8) + b"\x00\x0d") is None  # opcode 00h
    assert table.service_action_of(b"\x7f" + bytes(7) + b"\x1f\xf0") == 0x1FF0
    assert table.service_action_of(b"\xa3\x0c", DeviceType.MMC) is None


def test_table_command_for_cdb_mmc_vs_sbc() -> None:
    raw = bytes.fromhex("a3 0c 00 00 00 00 00 00 10 00 00 00")
    assert table.command_for_cdb(raw).name == "REPORT SUPPORTED OPERATION CODES"  # type: ignore[union-attr]
    assert table.command_for_cdb(raw, DeviceType.MMC).name == "SEND KEY"  # type: ignore[union-attr]


def test_table_lba_sources_of_dangerous_rows() -> None:
    assert table.lookup(0x41).variant().lba is LbaSource.CDB_WRITE_SAME  # type: ignore[union-attr]
    assert table.lookup(0x42).variant().lba is LbaSource.UNMAP_PARAMETERS  # type: ignore[union-attr]
    assert table.lookup(0x83, 0x00).variant().lba is LbaSource.XCOPY_SEGMENTS  # type: ignore[union-attr]
    assert table.lookup(0x85).variant().lba is LbaSource.ATA_TASKFILE  # type: ignore[union-attr]
    assert table.lookup(0x7F, 0x1FF0).variant().effects & Effect.ATA_PASSTHROUGH  # type: ignore[union-attr]


def test_table_every_layout_decodes_its_own_minimal_cdb() -> None:
    for r in table.COMMANDS:
        for v in r.variants:
            if v.layout is None:
                continue
            cls = cdb.layout_class(v.layout)
            lay = cls.LAYOUT
            n = lay.length
            value = 0
            for f in lay.fields:
                if f.kind == "const":
                    value |= lay.consts[f.name] << (8 * n - f.start - f.bits)
            raw = bytearray(value.to_bytes(n, "big"))
            raw[0] = r.opcode
            if r.service_action is not None:
                if r.opcode == 0x7F:
                    raw[8:10] = r.service_action.to_bytes(2, "big")
                else:
                    raw[1] |= r.service_action
            for dt in v.device_types:
                obj = cdb.decode(bytes(raw), dt)
                assert type(obj) is cls, (hex(r.opcode), r.service_action, dt)
                assert cdb.encode(obj) == bytes(raw)


def test_opcode_enum_matches_table() -> None:
    import re

    from sgguard.scsi.opcodes import Opcode

    for r in table.COMMANDS:
        if r.service_action is not None:
            continue
        for v in r.variants:
            if v.name in ("RESERVED", "VENDOR SPECIFIC"):
                continue
            name = re.sub(r"[^A-Z0-9]+", "_", v.name.upper()).strip("_")
            assert Opcode[name] == r.opcode, v.name
    assert Opcode.WRITE_SAME_16 == 0x93 and Opcode.ERASE_16 == 0x93
    assert Opcode.SERVICE_ACTION_IN_16 == 0x9E and Opcode.VARIABLE_LENGTH_CDB == 0x7F
