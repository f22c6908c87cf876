"""sgguard.lab.initramfs: newc cpio writer (checked with GNU cpio), ldd, Python file list."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from sgguard.lab.initramfs import (
    CpioWriter,
    build_initrd,
    build_run,
    ldd_libraries,
    python_files,
    read_cpio,
)


def _archive() -> bytes:
    w = CpioWriter()
    w.add_file("init", b"#!/bin/sh\necho hi\n", 0o755)
    w.add_file("usr/lib/deep/file.bin", bytes(range(256)) * 3)
    w.add_symlink("bin/sh", "busybox")
    w.add_chardev("dev/console", 5, 1)
    w.add_file("odd", b"x")  # 1 byte: exercises padding
    return w.finish()


def test_cpio_writer_round_trip() -> None:
    entries = read_cpio(_archive())
    assert entries["init"] == (stat.S_IFREG | 0o755, b"#!/bin/sh\necho hi\n")
    assert entries["usr/lib/deep/file.bin"][1] == bytes(range(256)) * 3
    assert stat.S_ISLNK(entries["bin/sh"][0]) and entries["bin/sh"][1] == b"busybox"
    assert stat.S_ISCHR(entries["dev/console"][0])
    # parents are created before children
    names = list(entries)
    assert names.index("usr") < names.index("usr/lib") < names.index("usr/lib/deep/file.bin")


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio not installed")
def test_cpio_writer_is_read_by_gnu_cpio(tmp_path: Path) -> None:
    archive = _archive()
    listing = subprocess.run(
        ["cpio", "-t", "-v", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    assert "init" in listing and "usr/lib/deep/file.bin" in listing
    assert "bin/sh -> busybox" in listing
    assert any(line.startswith("crw") and "dev/console" in line for line in listing.splitlines())
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(
        [
            "cpio",
            "-i",
            "-d",
            "--quiet",
            "--no-absolute-filenames",
            "init",
            "odd",
            "usr/lib/deep/file.bin",
        ],
        input=archive,
        cwd=out,
        check=True,
    )
    assert (out / "init").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (out / "odd").read_bytes() == b"x"
    assert (out / "usr/lib/deep/file.bin").read_bytes() == bytes(range(256)) * 3


def test_concatenated_layers_read_as_one(tmp_path: Path) -> None:
    layer = tmp_path / "base.cpio"
    layer.write_bytes(_archive())
    initrd = build_initrd(tmp_path / "initrd", [layer], build_run({"config.json": b"{}"}))
    entries = read_cpio(initrd.read_bytes())
    assert entries["run/lab/config.json"][1] == b"{}"
    assert "init" in entries


@pytest.mark.skipif(shutil.which("sg_inq") is None, reason="sg3-utils not installed")
def test_ldd_libraries_finds_sgutils_and_loader() -> None:
    libs = {p.name for p in ldd_libraries([Path(shutil.which("sg_inq") or "")])}
    assert any(n.startswith("libsgutils2") for n in libs)
    assert any(n.startswith("ld-linux") for n in libs)
    assert "libc.so.6" in libs


def test_ldd_libraries_skips_static_binaries() -> None:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.skip("busybox not installed")
    assert ldd_libraries([busybox]) == set()


def test_python_files_lists_the_guest_imports_only() -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    exe, files, stdlib = python_files(src)
    names = {str(f.relative_to(stdlib)) for f in files}
    assert exe.exists()
    for needed in (
        "json/__init__.py",
        "ctypes/__init__.py",
        "subprocess.py",
        "gzip.py",
        "runpy.py",
    ):
        assert needed in names
    assert not any("site-packages" in n for n in names)
    assert not any(n.startswith("test/") for n in names)
    assert any(n.startswith("lib-dynload/_ctypes") for n in names)


def test_guest_package_files_are_only_what_the_guest_imports() -> None:
    from sgguard.lab.initramfs import guest_package_files

    src = Path(__file__).resolve().parents[2] / "src"
    rel = {str(f.relative_to(src.resolve())) for f in guest_package_files(src)}
    assert {"sgguard/sgio.py", "sgguard/lab/guest.py", "sgguard/__init__.py"} <= rel
    assert not any(r.startswith(("sgguard/kernel/", "sgguard/scsi/", "sgguard/cli/")) for r in rel)
