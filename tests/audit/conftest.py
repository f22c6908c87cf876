"""Fixture trees for the audit tests: a real guest capture plus a scenario overlay."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def assemble(dest: Path, scenario: str) -> Path:
    """Copy the scenario's base capture, then its overlay files and /dev node changes."""
    overlay = FIXTURES / "scenarios" / scenario
    spec = json.loads((overlay / "overlay.json").read_text())
    root = dest / scenario
    shutil.copytree(FIXTURES / spec["base"], root, symlinks=True)
    for src in sorted(overlay.rglob("*")):
        rel = src.relative_to(overlay)
        if rel.name in {"overlay.json", ".keep"}:
            continue
        target = root / rel
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
    manifest_path = root / "sgguard-capture.json"
    manifest = json.loads(manifest_path.read_text())
    for node in manifest["nodes"]:
        node.update(spec["nodes"].get(node["path"], {}))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[str], Path]:
    return lambda scenario: assemble(tmp_path, scenario)


# The captured sysfs trees hold symlink cycles (scsi_device/H:C:T:L/device -> ..):
# pytest must not walk into them looking for tests.
collect_ignore = ["fixtures"]
