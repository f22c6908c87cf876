"""The declare-once layout machinery: sizes, field pointers, declaration errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from sgguard.scsi import cdb
from sgguard.scsi.layout import Cdb, CdbError, const, flag, layout, reserved, u


def test_layout_field_positions_follow_declaration_order() -> None:
    lay = cdb.Read16.LAYOUT
    assert lay.length == 16
    assert (lay.field("lba").byte, lay.field("lba").bit, lay.field("lba").bits) == (2, 7, 64)
    assert (lay.field("fua").byte, lay.field("fua").bit) == (1, 3)
    assert (lay.field("group_number").byte, lay.field("group_number").bit) == (14, 5)


def test_layout_declaration_must_fill_the_cdb() -> None:
    with pytest.raises(TypeError, match="add up to"):

        @layout(6)
        @dataclass(frozen=True, slots=True)
        class Short(Cdb):
            operation_code: ClassVar[int] = const(8, 0xEE)
            control: int = u(8)


def test_layout_constant_mismatch_points_at_field() -> None:
    @layout(2)
    @dataclass(frozen=True, slots=True)
    class Tiny(Cdb):
        operation_code: ClassVar[int] = const(8, 0xEE)
        reserved_1: ClassVar[None] = reserved(3)
        on: bool = flag()
        value: int = u(4, maximum=9)

    assert Tiny.LAYOUT.decode(b"\xee\x19") == Tiny(on=True, value=9)
    with pytest.raises(CdbError) as ei:
        Tiny.LAYOUT.decode(b"\xef\x00")
    assert (ei.value.field, ei.value.byte, ei.value.bit) == ("operation_code", 0, 7)
    with pytest.raises(CdbError, match="maximum"):
        Tiny.LAYOUT.decode(b"\xee\x0a")
    with pytest.raises(CdbError, match="reserved"):
        Tiny.LAYOUT.decode(b"\xee\x80")
    with pytest.raises(CdbError):
        Tiny(value=10).to_bytes()
    with pytest.raises(CdbError):
        Tiny(value=-1).to_bytes()
    with pytest.raises(TypeError):
        Tiny(valeu=1)  # type: ignore[call-arg]  # misspelled fields are not ignored


def test_layout_objects_are_frozen() -> None:
    import dataclasses

    o = cdb.Read10(lba=1, transfer_length=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.lba = 2  # type: ignore[misc]


def test_linux_sd_cdbs() -> None:
    # CDBs the Linux sd driver sends (sd_setup_*_cmnd, sd_spinup_disk, read_capacity_16)
    vectors = {
        "1b 00 00 00 01 00": cdb.StartStopUnit,  # spin up
        "1b 00 00 00 02 00": cdb.StartStopUnit,  # eject (LOEJ)
        "1e 00 00 00 01 00": cdb.PreventAllowMediumRemoval,
        "35 00 00 00 00 00 00 00 00 00": cdb.SynchronizeCache10,
        "42 00 00 00 00 00 00 00 18 00": cdb.Unmap,
        "9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00": cdb.ReadCapacity16,
        "25 00 00 00 00 00 00 00 00 00": cdb.ReadCapacity10,
        "12 01 b0 00 40 00": cdb.Inquiry,
        "5a 00 3f 00 00 00 00 02 00 00": cdb.ModeSense10,
        "a3 0c 01 93 00 00 00 00 02 00 00 00": cdb.ReportSupportedOperationCodes,
    }
    for text, cls in vectors.items():
        raw = bytes.fromhex(text.replace(" ", ""))
        obj = cdb.decode(raw)
        assert type(obj) is cls, text
        assert cdb.encode(obj) == raw
    ssu = cdb.decode(bytes.fromhex("1b0000000200"))
    assert isinstance(ssu, cdb.StartStopUnit) and ssu.loej and not ssu.start
