"""The lab's policy matrix and its summary."""

from __future__ import annotations

import pytest

from sgguard.errors import InputError
from sgguard.kernel import Case, Ioctl, Node, OpenMode, Result, evaluate, matrix_cases, summarize
from sgguard.kernel.cases import CDB_IOCTLS, group_length
from sgguard.kernel.matrix import MATRIX_SEND_COMMAND_OPCODES, matrix_cdb

# One release per era the model distinguishes (and a Debian uname string).
KERNELS = ["2.6.32", "3.0.18", "3.2.1", "3.6", "4.9", "4.19", "5.7", "5.15", "6.1",
           "6.12.117+deb12-amd64"]  # fmt: skip


def test_matrix_cases_cover_every_cell_opcode_and_ioctl() -> None:
    cases = matrix_cases("6.1")
    assert len(cases) == 20 * (256 + len(MATRIX_SEND_COMMAND_OPCODES) + 12) == 5480
    assert len(set(cases)) == len(cases)
    cells = {(c.node, c.open, c.cap_sys_rawio) for c in cases}
    assert len(cells) == 20
    sgio = {c.cdb for c in cases if c.ioctl is Ioctl.SG_IO}
    assert {c[0] for c in sgio if c} == set(range(256))
    assert {c.ioctl for c in cases} == set(Ioctl)


def test_matrix_cdb_group_lengths_and_0x7f() -> None:
    for op in range(256):
        cdb = matrix_cdb(op)
        assert cdb[0] == op and not any(cdb[1:])
        assert len(cdb) == (16 if op == 0x7F else group_length(op))
    assert [len(matrix_cdb(op)) for op in (0x00, 0x28, 0x55, 0x60, 0x88, 0xA8, 0xC0, 0xE0)] == [
        6,
        10,
        10,
        12,
        16,
        12,
        10,
        10,
    ]


def test_matrix_cases_unknown_kernel_is_refused() -> None:
    with pytest.raises(InputError, match="kernel"):
        matrix_cases("9.1")


@pytest.mark.parametrize("kernel", KERNELS)
def test_matrix_every_case_evaluates_in_every_documented_era(kernel: str) -> None:
    for case in matrix_cases(kernel):
        out = evaluate(case)
        assert out.outcome in Result
        assert out.rule
        if out.outcome is not Result.ALLOWED:
            assert out.errno and not out.escape
        if out.escape:
            assert case.node in (Node.PARTITION, Node.DM_PARTIAL) and out.whole_disk


def test_matrix_summary_6_1_counts_and_dangerous_aliases() -> None:
    summary = summarize("6.1")
    cells = {(c.node, c.open, c.cap_sys_rawio): c for c in summary.cells}
    ro = cells[(Node.DISK, OpenMode.RO, False)]
    assert ro.counts["allowed"] == 44 and ro.counts["EPERM"] == 212
    names = {d.name for d in ro.dangerous}
    assert "UNMAP" in names and "START STOP UNIT" in names
    assert any(n.startswith("SANITIZE") for n in names)
    rw = cells[(Node.DISK, OpenMode.RW, False)]
    assert rw.counts["allowed"] == 44 + 31
    assert "ATA PASS-THROUGH (12)" in {d.name for d in rw.dangerous}
    assert any(n.startswith("WRITE SAME") for n in {d.name for d in rw.dangerous})
    part = cells[(Node.PARTITION, OpenMode.RW, False)]
    assert part.counts["ENOTTY"] == 256 and not part.dangerous
    assert cells[(Node.PARTITION, OpenMode.RO, True)].escapes > 0
    assert cells[(Node.SG, OpenMode.RW, False)].counts["allowed"] == 256


def test_matrix_summary_send_command_cases_match_sg_io_filter_on_disks() -> None:
    for op in MATRIX_SEND_COMMAND_OPCODES:
        for mode in OpenMode:
            a = evaluate(Case("6.12", Node.DISK, mode, False, Ioctl.SG_IO, matrix_cdb(op)))
            b = evaluate(
                Case("6.12", Node.DISK, mode, False, Ioctl.SCSI_IOCTL_SEND_COMMAND, matrix_cdb(op))
            )
            assert a.outcome is b.outcome
    assert all(i in Ioctl for i in CDB_IOCTLS)
