"""Garbage in: damaged captures and random input either parse or become skipped sources."""

from __future__ import annotations

import contextlib
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgguard.audit import parse
from sgguard.audit.analysis import analyze
from sgguard.audit.policy import KernelPolicy
from sgguard.audit.reader import manifest_nodes, read_host

Tree = Callable[[str], Path]
POLICY = KernelPolicy()


@pytest.mark.parametrize("seed", range(12))
def test_audit_mutilated_capture_never_raises(tree: Tree, seed: int) -> None:
    """Delete, truncate or overwrite random files of a scenario: the audit still reports."""
    root = tree("two-vms-3.2" if seed % 2 else "disk-group-rw-6.1")
    rng = random.Random(seed)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    victims = rng.sample(files, 6)
    for v in victims:
        action = rng.randrange(4)
        if action == 0:
            v.unlink()
        elif action == 1:
            data = v.read_bytes()
            v.write_bytes(data[: rng.randrange(len(data) + 1)])
        elif action == 2:
            v.write_bytes(rng.randbytes(rng.randrange(1, 200)))
        else:
            v.unlink()
            v.mkdir()
    if seed == 0:
        shutil.rmtree(root / "sys" / "class")
    report = analyze(read_host(root), POLICY)
    assert all(s.source and s.reason for s in report.skipped)
    assert all(f.rule.id.startswith("SGG") for f in report.findings)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_parsers_take_any_text(text: str) -> None:
    for fn in (
        lambda: parse.parse_libvirt_xml(text, "x.xml"),
        lambda: parse.parse_dmsetup_table(text),
        lambda: parse.parse_mounts(text),
        lambda: parse.parse_group(text),
        lambda: parse.parse_passwd(text),
        lambda: parse.parse_devices_list(text, "/c"),
        lambda: parse.parse_status(text),
        lambda: parse.parse_dev(text),
        lambda: parse.kernel_version(text),
        lambda: manifest_nodes(text),
    ):
        with contextlib.suppress(ValueError):
            fn()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "-drive",
                "-device",
                "-blockdev",
                "-name",
                "x",
                "{",
                "file=/dev/sda,id=d",
                "scsi-block,drive=d",
                '{"node-name":"n","file":"n"}',
                "drive=n",
                ",,",
                "=",
            ]
        ),
        max_size=12,
    )
)
def test_qemu_cmdline_any_argv(args: list[str]) -> None:
    with contextlib.suppress(ValueError):
        parse.parse_qemu_cmdline(1, ["qemu-system-x86_64", *args], "q", 0, 0)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=100))
def test_acl_any_bytes(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse.parse_acl_xattr(data)
