"""Device-mapper tables: parse `dmsetup table` text, write dm-linear maps for slices."""

from __future__ import annotations

import pytest

from sgguard.errors import InputError
from sgguard.topology import Slice
from sgguard.topology.dm import DmTarget, LinearRange, linear_ranges, linear_table, parse_table


def test_dm_parse_linear_and_striped() -> None:
    # The kernel documentation's examples (device-mapper/linear.rst, striped.rst) in form.
    table = parse_table(
        "0 1028160 linear /dev/hda 0\n"
        "1028160 3903762 linear /dev/hdb 2277\n"
        "4931922 16384 striped 2 128 8:16 2048 8:32 4096\n"
        "4948306 100 zero\n"
    )
    assert table[0] == DmTarget(0, 1028160, "linear", ("/dev/hda", "0"))
    assert table[3].target == "zero"
    assert linear_ranges(table) == (
        LinearRange(0, 1028160 * 512, "/dev/hda", 0),
        LinearRange(1028160 * 512, 3903762 * 512, "/dev/hdb", 2277 * 512),
        LinearRange(4931922 * 512, 8192 * 512, "8:16", 2048 * 512),
        LinearRange(4931922 * 512, 8192 * 512, "8:32", 4096 * 512),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 10", "expected START LENGTH TARGET"),
        ("0 x linear /dev/a 0", "length 'x' is not a number"),
        ("5 10 linear /dev/a 0", "starts at sector 5, expected 0"),
        ("0 10 linear /dev/a", "linear takes DEVICE OFFSET"),
        ("0 10 linear /dev/a -1", "offset -1 is negative"),
    ],
)
def test_dm_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_table(text)


def test_dm_linear_table_round_trip() -> None:
    extents = [Slice(1 << 20, 8 << 20, "a"), Slice(21 << 20, 4 << 20, "b")]
    text = linear_table(extents, "7:0")
    assert text == "0 16384 linear 7:0 2048\n16384 8192 linear 7:0 43008\n"
    assert linear_ranges(parse_table(text)) == (
        LinearRange(0, 8 << 20, "7:0", 1 << 20),
        LinearRange(8 << 20, 4 << 20, "7:0", 21 << 20),
    )
    with pytest.raises(InputError, match="512-byte sectors"):
        linear_table([Slice(100, 512, "odd")], "7:0")
