"""sgguard.lab.profile and `sgguard lab diff`: changed cases, escapes, regressions, model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sgguard.errors import UsageError
from sgguard.lab.profile import (
    diff_profiles,
    escape_if_allowed,
    kernel_label,
    load_profile,
    model_disagreements,
    render_diff,
)
from tests.lab.synthetic import CASES_61, attack, case, tool, write_profile


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgguard", "lab", *args], capture_output=True, text=True, check=False
    )


def test_kernel_label_from_release() -> None:
    assert kernel_label("6.1.0-56-amd64") == "6.1"
    assert kernel_label("6.12.117+deb12-amd64") == "6.12"


def test_escape_if_allowed_needs_partial_node_and_effect() -> None:
    assert escape_if_allowed(
        case("partition", "ro", True, "SG_IO", "28000000000000000000", "allowed")
    )
    assert escape_if_allowed(case("dm-partial", "ro", True, "CDROMEJECT", None, "allowed"))
    assert not escape_if_allowed(
        case("disk", "ro", True, "SG_IO", "28000000000000000000", "allowed")
    )
    assert not escape_if_allowed(
        case("partition", "ro", True, "SG_GET_VERSION_NUM", None, "allowed")
    )


def test_identical_profiles_have_no_differences(tmp_path: Path) -> None:
    a = load_profile(str(write_profile(tmp_path / "a", CASES_61)))
    b = load_profile(str(write_profile(tmp_path / "b", CASES_61)))
    d = diff_profiles(a, b, with_model=False)
    assert d.count == 0


def test_diff_classifies_escapes_and_regressions(tmp_path: Path) -> None:
    changed = [dict(c) for c in CASES_61]
    # partition ro no-cap READ(10): ENOTTY -> allowed = escape gained
    changed[3] = case("partition", "ro", False, "SG_IO", "28000000000000000000", "allowed")
    # disk ro no-cap READ(10): allowed -> EPERM = regression gained
    changed[0] = case("disk", "ro", False, "SG_IO", "28000000000000000000", "EPERM")
    # partition with cap READ(10): allowed -> ENOTTY = escape lost
    changed[4] = case("partition", "ro", True, "SG_IO", "28000000000000000000", "ENOTTY")
    # sg ro CDROMEJECT EPERM -> allowed on a whole node = regression lost
    changed[7] = case("sg", "ro", False, "CDROMEJECT", None, "allowed")
    a = load_profile(str(write_profile(tmp_path / "a", CASES_61)))
    b = load_profile(
        str(
            write_profile(
                tmp_path / "b",
                changed,
                attacks=[
                    attack("cap.0.WRITE_10", True, False, "ENOTTY"),
                    attack("nocap.0.WRITE_10", False, False, "ENOTTY"),
                ],
                tools=[
                    tool("sg_inq.disk.user", 75, "SG_IO:EPERM"),
                    tool("sg_inq.partition.user", 75, "SG_IO:ENOTTY"),
                ],
            )
        )
    )
    d = diff_profiles(a, b, with_model=False)
    assert d.by_kind() == {
        "escape-gained": 1,
        "escape-lost": 1,
        "regression-gained": 1,
        "regression-lost": 1,
    }
    assert [x["kind"] for x in d.attacks] == ["escape-lost"]
    assert [x["kind"] for x in d.tools] == ["regression-gained"]
    text = render_diff(d)
    assert "escape-gained" in text and "READ (10)" in text
    assert "total differences: 6" in text


def test_model_disagreement_is_found(tmp_path: Path) -> None:
    wrong = [dict(c) for c in CASES_61]
    wrong[3] = case("partition", "ro", False, "SG_IO", "28000000000000000000", "allowed")
    p = load_profile(str(write_profile(tmp_path / "a", wrong)))
    dis = model_disagreements(p)
    assert len(dis) == 1
    assert dis[0]["measured"] == "allowed" and dis[0]["model"] == "ENOTTY"
    assert dis[0]["case"]["node"] == "partition"


def test_measured_6_1_outcomes_agree_with_the_model(tmp_path: Path) -> None:
    p = load_profile(str(write_profile(tmp_path / "a", CASES_61)))
    assert model_disagreements(p) == []


def test_load_profile_rejects_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such profile folder"):
        load_profile(str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="needs a kernel version"):
        load_profile("model:")


def test_lab_diff_cli_exit_status(tmp_path: Path) -> None:
    a = write_profile(tmp_path / "a", CASES_61)
    b = write_profile(tmp_path / "b", CASES_61)
    same = _cli("diff", str(a), str(b))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "total differences: 0" in same.stdout
    c = write_profile(
        tmp_path / "c",
        [*CASES_61[:-1], case("partition", "ro", False, "SG_GET_VERSION_NUM", None, "allowed")],
    )
    diff = _cli("diff", str(a), str(c), "--json")
    assert diff.returncode == 1
    obj = json.loads(diff.stdout)
    assert [x["kind"] for x in obj["cases"]] == ["regression-lost"]
    assert len(obj["model_disagreements_b"]) == 1


def test_lab_diff_against_the_model(tmp_path: Path) -> None:
    a = write_profile(tmp_path / "a", CASES_61)
    res = _cli("diff", str(a), "model:6.1", "--no-model")
    # the synthetic profile holds 10 of the model's 5,480 matrix cases
    assert res.returncode == 1
    assert "only-b" in res.stdout
    assert "only-a" not in res.stdout
    assert "escape-" not in res.stdout and "regression-" not in res.stdout


def test_lab_diff_bad_input_is_one_line(tmp_path: Path) -> None:
    res = _cli("diff", str(tmp_path / "missing"), "model:6.1")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "no such profile folder" in res.stderr
