"""`sgguard model` through a real subprocess: good input, bad input, --keep-going, stdin, --matrix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ORACLE = Path(__file__).parent / "data" / "linux-6.1-sample.jsonl"


def model(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgguard", "model", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def line(**fields: object) -> str:
    base: dict[str, object] = {
        "kernel": "6.1",
        "node": "disk",
        "open": "ro",
        "cap_sys_rawio": False,
        "ioctl": "SG_IO",
        "cdb": "28000000000000000000",
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_model_oracle_file_every_line_matches() -> None:
    result = model("--cases", str(ORACLE))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(rows) == 460
    assert all(r["match"] for r in rows)
    assert "460 of 460 observed outcomes match" in result.stderr
    first = rows[0]
    for key in (
        "kernel",
        "node",
        "open",
        "cap_sys_rawio",
        "ioctl",
        "cdb",
        "outcome",
        "rule",
        "escape",
        "estimated",
        "era",
    ):
        assert key in first


def test_model_stdin_and_kernel_option_fill_in_missing_kernel() -> None:
    text = "\n".join([line(kernel=None), line(kernel="2.6.32", node="partition", open="rw")]) + "\n"
    result = model("--kernel", "6.1", "--cases", "-", stdin=text)
    assert result.returncode == 0, result.stderr
    a, b = (json.loads(x) for x in result.stdout.splitlines())
    assert a["kernel"] == "6.1" and a["outcome"] == "allowed"
    assert b["kernel"] == "2.6.32" and b["escape"] is True and b["rule"] == "blk_verify_command"


def test_model_bad_line_is_one_line_error_naming_line_and_field() -> None:
    text = line() + "\n" + line(node="floppy") + "\n" + line() + "\n"
    result = model("--cases", "-", stdin=text)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "line 2" in result.stderr and "'node'" in result.stderr
    assert len(result.stdout.splitlines()) == 1  # the good line before it was written


def test_model_keep_going_processes_the_other_lines() -> None:
    bad = [
        "{not json",
        line(cdb="28zz"),
        line(cdb="2800"),
        line(ioctl="SG_FROB"),
        line(kernel="9.9"),
        line(cap_sys_rawio="yes"),
        line(nod="disk"),
    ]
    text = "\n".join([line(), *bad, line(open="rw")]) + "\n"
    result = model("--cases", "-", "--keep-going", stdin=text)
    assert result.returncode == 2
    assert len(result.stdout.splitlines()) == 2
    errors = [e for e in result.stderr.splitlines() if "error" in e]
    assert len(errors) == len(bad)
    for number, field in zip(
        range(2, 9), ["JSON", "cdb", "cdb", "ioctl", "kernel", "cap_sys_rawio", "nod"], strict=True
    ):
        assert any(f"line {number}:" in e and field in e for e in errors), (number, field)
    assert "Traceback" not in result.stderr


def test_model_unknown_kernel_option_and_missing_file() -> None:
    result = model("--kernel", "banana", "--matrix")
    assert result.returncode == 2 and "banana" in result.stderr and "Traceback" not in result.stderr
    result = model("--cases", "/nonexistent/cases.jsonl")
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_model_matrix_table_and_json() -> None:
    text = model("--kernel", "6.1", "--matrix")
    assert text.returncode == 0, text.stderr
    assert "UNMAP" in text.stdout and "dm-partial" in text.stdout
    js = model("--kernel", "6.12", "--matrix", "--json")
    assert js.returncode == 0, js.stderr
    data = json.loads(js.stdout)
    assert len(data["cells"]) == 20
    disk_ro = data["cells"][0]
    assert (disk_ro["node"], disk_ro["open"], disk_ro["cap_sys_rawio"]) == ("disk", "ro", False)
    assert disk_ro["counts"]["allowed"] == 44
    names = {d["name"] for cmds in disk_ro["dangerous"].values() for d in cmds}
    assert "UNMAP" in names


def test_model_matrix_defaults_to_the_running_kernel_with_a_note() -> None:
    result = model("--matrix", "--json")
    if result.returncode == 0:
        assert "note: --kernel not given" in result.stderr
        assert json.loads(result.stdout)["cells"]
    else:  # a running kernel the model does not know is a one-line usage error
        assert result.returncode == 2 and "running kernel" in result.stderr


def test_model_list_cases_and_predict_matrix() -> None:
    listed = model("--kernel", "6.12", "--list-cases")
    assert listed.returncode == 0
    cases = listed.stdout.splitlines()
    assert len(cases) == 5480 and "outcome" not in cases[0]
    predicted = model("--kernel", "6.12", "--cases", "-", stdin=listed.stdout)
    assert predicted.returncode == 0
    assert len(predicted.stdout.splitlines()) == 5480


def test_model_option_conflicts_are_usage_errors() -> None:
    for args in (["--kernel", "6.1", "--json"], ["--kernel", "6.1", "--matrix", "--cases", "-"]):
        result = model(*args, stdin="")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1


def test_model_eras_lists_boundaries_and_marks_estimates() -> None:
    result = model("--eras", "--kernel", "4.9")
    assert result.returncode == 0, result.stderr
    assert "0478fe68685a" in result.stdout and "estimated" in result.stdout
    assert "partition-whitelist" in result.stdout
