"""Escape: an allowed request from a partition or partial dm map that reaches beyond it."""

from __future__ import annotations

import pytest

from sgguard.errors import InputError
from sgguard.kernel import Case, Ioctl, Node, OpenMode, Result, evaluate

RW = OpenMode.RW
START, BLOCKS = 2048, 4096  # the node covers whole-disk LBAs 2048..6143


def read10(lba: int, blocks: int) -> bytes:
    return (
        bytes([0x28, 0]) + lba.to_bytes(4, "big") + bytes([0]) + blocks.to_bytes(2, "big") + b"\0"
    )


def case(
    cdb: bytes, node: Node = Node.PARTITION, kernel: str = "2.6.32", cap: bool = False
) -> Case:
    return Case(kernel, node, RW, cap, Ioctl.SG_IO, cdb, node_start=START, node_blocks=BLOCKS)


def test_escape_read_10_inside_the_node_is_no_escape() -> None:
    out = evaluate(case(read10(START, 8)))
    assert out.outcome is Result.ALLOWED and out.whole_disk and not out.escape
    assert not evaluate(case(read10(START + BLOCKS - 8, 8))).escape


@pytest.mark.parametrize(
    ("lba", "blocks"),
    [(0, 1), (START - 1, 2), (START + BLOCKS - 1, 2), (START + BLOCKS, 1), (2**32 - 1, 1)],
)
def test_escape_read_10_edges_outside_the_node(lba: int, blocks: int) -> None:
    assert evaluate(case(read10(lba, blocks))).escape


def test_escape_read_10_zero_blocks_touches_nothing() -> None:
    assert not evaluate(case(read10(0, 0))).escape


def test_escape_without_node_range_any_media_command_escapes() -> None:
    out = evaluate(Case("2.6.32", Node.PARTITION, RW, False, Ioctl.SG_IO, read10(START, 8)))
    assert out.escape


def test_escape_write_same_16_zero_blocks_runs_to_the_end() -> None:
    ws16 = bytes([0x93]) + (START).to_bytes(8, "big") + bytes(7)
    out = evaluate(case(ws16, cap=True, kernel="6.1"))
    assert out.outcome is Result.ALLOWED and out.escape


def test_escape_device_wide_commands_escape_whatever_the_range() -> None:
    start_stop = bytes.fromhex("1b0000000200")
    assert evaluate(case(start_stop)).escape
    eject = Case(
        "6.1", Node.DM_PARTIAL, RW, True, Ioctl.CDROMEJECT, node_start=START, node_blocks=BLOCKS
    )
    assert evaluate(eject).escape


def test_escape_commands_without_effect_never_escape() -> None:
    assert not evaluate(case(bytes.fromhex("120000006000"))).escape  # INQUIRY
    assert not evaluate(case(bytes.fromhex("000000000000"))).escape  # TEST UNIT READY


def test_escape_refused_requests_and_whole_nodes_never_escape() -> None:
    assert not evaluate(case(read10(0, 1), kernel="6.1")).escape  # ENOTTY
    for node in (Node.DISK, Node.DM_WHOLE, Node.SG):
        assert not evaluate(case(read10(0, 1), node=node, kernel="6.1")).escape


def test_escape_dm_partial_before_the_fix() -> None:
    out = evaluate(case(read10(0, 1), node=Node.DM_PARTIAL, kernel="3.0.17"))
    assert out.outcome is Result.ALLOWED and out.escape


def test_escape_node_range_must_be_whole() -> None:
    with pytest.raises(InputError, match="node_start and node_blocks"):
        Case("6.1", Node.PARTITION, RW, True, Ioctl.SG_IO, read10(0, 1), node_start=5)
    with pytest.raises(InputError, match="positive"):
        Case(
            "6.1", Node.PARTITION, RW, True, Ioctl.SG_IO, read10(0, 1), node_start=0, node_blocks=0
        )
