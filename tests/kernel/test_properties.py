"""Invariants of the model over random cases in every era (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sgguard.kernel import Case, Ioctl, Node, OpenMode, Result, evaluate
from sgguard.kernel.cases import CDB_IOCTLS, group_length

KERNELS = ["2.6.20", "2.6.32", "3.0.17", "3.0.18", "3.1.10", "3.2.1", "3.2.2", "3.3", "3.6",
           "3.10", "4.4", "4.5", "4.9", "4.14", "4.16", "4.19", "5.4", "5.7", "5.10", "5.15",
           "6.1", "6.12", "3.2.0-4-amd64", "3.10.0-1160.el7.x86_64"]  # fmt: skip


@st.composite
def cases(draw: st.DrawFn) -> Case:
    ioctl = draw(st.sampled_from(list(Ioctl)))
    cdb = None
    if ioctl in CDB_IOCTLS:
        op = draw(st.integers(0, 255))
        n = group_length(op) if (op >> 5) not in (3, 6, 7) else draw(st.integers(6, 32))
        cdb = bytes([op]) + draw(st.binary(min_size=n - 1, max_size=n - 1))
    ranged = draw(st.booleans())
    return Case(
        kernel=draw(st.sampled_from(KERNELS)),
        node=draw(st.sampled_from(list(Node))),
        open=draw(st.sampled_from(list(OpenMode))),
        cap_sys_rawio=draw(st.booleans()),
        ioctl=ioctl,
        cdb=cdb,
        unpriv_sgio=draw(st.booleans()),
        node_start=draw(st.integers(0, 2**40)) if ranged else None,
        node_blocks=draw(st.integers(1, 2**40)) if ranged else None,
    )


def allowed(case: Case) -> bool:
    return evaluate(case).outcome is Result.ALLOWED


@settings(max_examples=100, deadline=None)
@given(cases())
def test_model_capability_write_mode_and_unpriv_sgio_only_ever_open_doors(case: Case) -> None:
    if allowed(case):
        assert allowed(replace(case, cap_sys_rawio=True))
        assert allowed(replace(case, open=OpenMode.RW))
        assert allowed(replace(case, unpriv_sgio=True))


@settings(max_examples=100, deadline=None)
@given(cases())
def test_model_escape_only_from_partial_nodes_when_allowed(case: Case) -> None:
    out = evaluate(case)
    if out.escape:
        assert out.outcome is Result.ALLOWED and out.whole_disk
        assert case.node in (Node.PARTITION, Node.DM_PARTIAL)
    if out.outcome is not Result.ALLOWED:
        assert out.errno is not None


@settings(max_examples=80, deadline=None)
@given(cases())
def test_model_partition_never_allows_what_the_disk_refuses(case: Case) -> None:
    if case.node is Node.PARTITION and allowed(case):
        assert allowed(replace(case, node=Node.DISK))


@settings(max_examples=80, deadline=None)
@given(cases())
def test_model_is_deterministic_and_filter_reads_byte_0_only(case: Case) -> None:
    first = evaluate(case)
    assert evaluate(replace(case)) == first
    if case.cdb is not None and len(case.cdb) > 1:
        other = replace(case, cdb=case.cdb[:1] + bytes(len(case.cdb) - 1), node_start=None,
                        node_blocks=None)  # fmt: skip
        assert evaluate(other).outcome is first.outcome
