"""`sgguard lab run`: clear one-line errors when qemu, the kernel package or a module is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sgguard.errors import UsageError
from sgguard.lab import runner
from sgguard.lab.disks import lab_disks


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgguard", "lab", *args], capture_output=True, text=True, check=False
    )


def _one_line_error(res: subprocess.CompletedProcess[str], text: str) -> None:
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and text in errors[0], res.stderr


def test_lab_run_missing_deb_file(tmp_path: Path) -> None:
    _one_line_error(_cli("run", "--kernel-deb", str(tmp_path / "k.deb")), "no such file")


def test_lab_run_unknown_package() -> None:
    _one_line_error(
        _cli("run", "--kernel-deb", "linux-image-no-such-kernel-xyz"),
        "kernel package linux-image-no-such-kernel-xyz not found by apt-cache",
    )


def test_lab_run_vmlinuz_needs_modules(tmp_path: Path) -> None:
    _one_line_error(
        _cli("run", "--vmlinuz", str(tmp_path / "v")), "--vmlinuz and --modules go together"
    )


def test_lab_run_modules_folder_without_kernel_tree(tmp_path: Path) -> None:
    (tmp_path / "vmlinuz").write_bytes(b"x")
    (tmp_path / "mods").mkdir()
    _one_line_error(
        _cli("run", "--vmlinuz", str(tmp_path / "vmlinuz"), "--modules", str(tmp_path / "mods")),
        "expected lib/modules/<release>",
    )


def test_lab_run_missing_module_names_it(tmp_path: Path) -> None:
    mods = tmp_path / "lib/modules/6.1.0-x/kernel"
    mods.mkdir(parents=True)
    (tmp_path / "vmlinuz").write_bytes(b"x")
    res = _cli(
        "run",
        "--vmlinuz",
        str(tmp_path / "vmlinuz"),
        "--modules",
        str(tmp_path / "lib/modules/6.1.0-x"),
        "--corpus",
        "selftest",
        "--out",
        str(tmp_path / "out"),
    )
    _one_line_error(res, "kernel module sd_mod is missing")


def test_qemu_missing_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="qemu-system-x86_64 is not installed"):
        runner.qemu_command(tmp_path / "k", tmp_path / "i", [], tmp_path / "r")


def test_qemu_command_uses_tcg_and_the_lab_disks(tmp_path: Path) -> None:
    disks = lab_disks()
    argv = runner.qemu_command(
        tmp_path / "k",
        tmp_path / "i",
        [(d, tmp_path / f"{d.role}.img") for d in disks],
        tmp_path / "r",
    )
    joined = " ".join(argv)
    assert argv[argv.index("-accel") + 1] == "tcg"
    assert "-enable-kvm" not in argv
    assert joined.count("scsi-hd,") == 3 and "removable=on" in joined
    assert "scsi-id=2" in joined and "if=virtio" in joined
