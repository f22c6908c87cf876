"""Helpers for tests that build disk images with real tools (sfdisk, sgdisk, lvm2, losetup)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["have", "loop_attached", "need_root_loop", "run"]


def have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)


def run(*argv: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run a tool; fail the test with its stderr when it fails."""
    full_env = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1", LC_ALL="C", **(env or {}))
    res = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, env=full_env, check=False
    )
    if res.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def need_root_loop() -> None:
    if os.geteuid() != 0 or not have("losetup"):
        pytest.skip("loop devices need root and losetup")


@contextlib.contextmanager
def loop_attached(image: Path) -> Iterator[str]:
    """Attach `image` to a free loop device for the duration of the block."""
    need_root_loop()
    dev = run("losetup", "--find", "--show", str(image)).strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)
