"""Kernel release strings: mainline, stable, Debian/Ubuntu/RHEL uname -r; garbage refused."""

from __future__ import annotations

import pytest

from sgguard.errors import InputError
from sgguard.kernel import parse_kernel
from sgguard.kernel.eras import Feature, flags_for


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2.6.32", (2, 6, 32, 0)),
        ("2.6.32.60", (2, 6, 32, 60)),
        ("3.0.17", (3, 0, 17, 0)),
        ("3.0.18", (3, 0, 18, 0)),
        ("3.2.1", (3, 2, 1, 0)),
        ("3.2.2", (3, 2, 2, 0)),
        ("3.3", (3, 3, 0, 0)),
        ("3.10", (3, 10, 0, 0)),
        ("4.9", (4, 9, 0, 0)),
        ("4.19", (4, 19, 0, 0)),
        ("5.4", (5, 4, 0, 0)),
        ("5.10", (5, 10, 0, 0)),
        ("5.15", (5, 15, 0, 0)),
        ("6.1", (6, 1, 0, 0)),
        ("6.12", (6, 12, 0, 0)),
        ("6.12.117+deb12-amd64", (6, 12, 117, 0)),
    ],
)
def test_version_parses_releases(text: str, key: tuple[int, int, int, int]) -> None:
    assert parse_kernel(text).key == key


def test_version_debian_abi_string_hides_the_patch_level() -> None:
    v = parse_kernel("6.1.0-56-amd64")
    assert v.series == (6, 1) and v.patch is None and v.distro == "debian"
    assert parse_kernel("3.2.0-4-amd64").at_least(3, 2, 2)


def test_version_rhel_strings() -> None:
    assert parse_kernel("3.10.0-1160.el7.x86_64").distro == "rhel"
    rhel6 = parse_kernel("2.6.32-754.el6.x86_64")
    assert rhel6.series == (2, 6) and Feature.PARTITION_FIX in flags_for(rhel6)[0]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "6",
        "7.0",
        "1.2.3",
        "2.4.37",
        "2.6",
        "2.6.40",
        "6.99",
        "6.1.2.3",
        "6.1-",
        "3.0.200",
    ],
)
def test_version_garbage_is_a_clear_error(text: str) -> None:
    with pytest.raises(InputError, match="kernel version"):
        parse_kernel(text)


def test_version_not_a_string() -> None:
    with pytest.raises(InputError, match="string"):
        parse_kernel(6.1)


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("2.6.32", False),
        ("3.0.17", False),
        ("3.0.18", True),
        ("3.1.10", False),
        ("3.2.0", False),
        ("3.2.1", False),
        ("3.2.2", True),
        ("3.3", True),
        ("6.12", True),
    ],
)
def test_version_partition_fix_boundary(text: str, fixed: bool) -> None:
    assert (Feature.PARTITION_FIX in flags_for(parse_kernel(text))[0]) is fixed
