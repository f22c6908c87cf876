"""Fixtures shared by the lab's QEMU tests: the default Debian kernel, fetched once per session."""

from __future__ import annotations

import shutil

import pytest

from sgguard.lab.kernels import DEFAULT_KERNEL_META, KernelTree, default_cache_dir, fetch_kernel


@pytest.fixture(scope="session")
def lab_kernel() -> KernelTree:
    """Debian's current 6.1 kernel (`linux-image-amd64`), from ~/.cache/sgguard/kernels."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.fail("qemu-system-x86_64 is not installed (scripts/apt-packages.txt)")
    return fetch_kernel(DEFAULT_KERNEL_META, default_cache_dir())
