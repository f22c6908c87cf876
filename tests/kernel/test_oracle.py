"""The 6.1 oracle: every real-kernel outcome of shared/oracle/linux-6.1-sample.jsonl, line by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sgguard.kernel import Result, case_from_json, evaluate

DATA = Path(__file__).parent / "data" / "linux-6.1-sample.jsonl"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "oracle" / "linux-6.1-sample.jsonl"
LINES = DATA.read_text().splitlines()


def test_oracle_copy_is_the_shared_oracle() -> None:
    assert len(LINES) == 460
    if SHARED.exists():
        assert SHARED.read_text().splitlines() == LINES


@pytest.mark.parametrize("number", range(1, len(LINES) + 1))
def test_oracle_line(number: int) -> None:
    obj = json.loads(LINES[number - 1])
    outcome = evaluate(case_from_json(obj))
    assert outcome.outcome.value == obj["outcome"], (number, obj, outcome)
    # 6.1 has no uncertain boundary: nothing it decides is estimated.
    assert not outcome.estimated
    if outcome.outcome is not Result.ALLOWED:
        assert outcome.errno == obj["outcome"]


def test_oracle_debian_release_string_gives_the_same_outcomes() -> None:
    for line in LINES:
        obj = json.loads(line)
        obj["kernel"] = "6.1.0-56-amd64"
        assert evaluate(case_from_json(obj)).outcome.value == obj["outcome"]
