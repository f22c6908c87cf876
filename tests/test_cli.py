"""The CLI shell: help, version, and errors as one line with exit status 2."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgguard", *args], capture_output=True, text=True, check=False
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("sgguard ")


def test_no_command_prints_help_and_fails() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage: sgguard" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
