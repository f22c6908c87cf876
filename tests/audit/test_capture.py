"""`sgguard audit capture`: exactly the files the audit read, replayed with the same findings."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

from sgguard.audit.analysis import analyze
from sgguard.audit.capture import open_capture, write_capture
from sgguard.audit.hostfs import RootedFS
from sgguard.audit.policy import KernelPolicy
from sgguard.audit.reader import read_host

Tree = Callable[[str], Path]


def capture(root: Path, out: Path) -> int:
    fs = RootedFS(root)
    facts = read_host(root, fs=fs)
    return write_capture(out, facts, fs.record)


def test_capture_replays_to_the_same_findings(tree: Tree, tmp_path: Path) -> None:
    root = tree("two-vms-3.2")
    out = tmp_path / "cap.tar"
    capture(root, out)
    before = analyze(read_host(root), KernelPolicy())
    tmp, skipped = open_capture(out)
    with tmp:
        after = analyze(read_host(tmp.name), KernelPolicy())
    assert skipped == []
    assert [(f.rule, str(f.principal), f.node, f.reaches) for f in after.findings] == [
        (f.rule, str(f.principal), f.node, f.reaches) for f in before.findings
    ]
    assert after.facts.blocks == before.facts.blocks and after.facts.nodes == before.facts.nodes


def test_capture_holds_only_what_the_audit_reads(tree: Tree, tmp_path: Path) -> None:
    root = tree("two-vms-3.2")
    (root / "etc" / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    out = tmp_path / "cap.tar"
    capture(root, out)
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
    assert "etc/shadow" not in names
    assert "proc/4101/cmdline" in names and "proc/4101/status" in names
    assert "sgguard-capture.json" in names and "dmsetup-table.txt" in names
    assert not any(n.endswith("/uevent") or "/power/" in n for n in names)
    assert all(not n.startswith("/") for n in names)


def test_capture_truncated_tar_is_a_named_skipped_source(tree: Tree, tmp_path: Path) -> None:
    root = tree("two-vms-3.2")
    out = tmp_path / "cap.tar"
    capture(root, out)
    data = out.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2 + 100])
    tmp, skipped = open_capture(cut)
    with tmp:
        facts = read_host(tmp.name, extra_skipped=skipped)
    assert len(skipped) == 1 and skipped[0].source == f"capture {cut}"
    assert "truncated" in skipped[0].reason
    assert facts.skipped[0] == skipped[0]


def test_capture_not_a_tar(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"\x00\x01garbage" * 7)
    tmp, skipped = open_capture(bad)
    with tmp:
        facts = read_host(tmp.name, extra_skipped=skipped)
    assert [s.source for s in skipped] == [f"capture {bad}"]
    assert facts.blocks == () and facts.kernel is None


def test_capture_refuses_members_escaping_the_tree(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        ti = tarfile.TarInfo("../outside")
        ti.size = 0
        tf.addfile(ti)
    tmp, skipped = open_capture(evil)
    with tmp:
        assert not (tmp_path / "outside").exists()
    assert len(skipped) == 1 and "unreadable" in skipped[0].reason
