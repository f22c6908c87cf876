"""libiscsi's conformance suite (`iscsi-test-cu --dataloss`, every suite) against `sgguard serve`.

Prints the CUnit summary table, every skipped test with its reason and every
failure with the area that owns it; writes the full log to
artifacts/iscsi-test-cu.log. Reference (issue 5): Debian's tgt 1.0.85 scores
230 tests, 8 failed, 81 skipped.

The Sanitize suite needs `--allow-sanitize`. The logical unit emulates SANITIZE
per slice and passes that suite but for Sanitize.Reset, which cannot pass here:
it expects a SANITIZE sent without IMMED to still be running 3 s later and after
ABORT TASK, resets and a new login (a physical drive's hours-long sanitize),
while the 32 MiB test slice is overwritten in milliseconds, and the transport
holds an ABORT TASK response until the running command ends. So the every-suite
run (which must fail nothing) leaves the flag out (its 11 Sanitize tests are
skipped), and `test_conformance_sanitize_suite` runs the Sanitize suite with it:
every test must pass except Sanitize.Reset, reported as an expected failure with
the check it failed.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import PREFIX, make_image, need, start_serve, stop_serve, tools_env

pytestmark = [pytest.mark.network, pytest.mark.slow]

TGT_TESTS, TGT_FAILED, TGT_SKIPPED = 230, 8, 81


def area(test: str) -> str:
    """Which part owns a test: the iSCSI suites and multipath exercise the transport
    (issue 5), every SCSI command suite the logical unit (issue 4)."""
    if test.startswith(("iSCSI", "MultipathIO")):
        return "iSCSI transport (sgguard.iscsi, issue 5)"
    return "SCSI logical unit (sgguard.target.lu, issue 4)"


@dataclass
class SuiteRun:
    summary: str
    tests: dict[str, str] = field(default_factory=dict)  # Suite.Test -> passed / FAILED
    skips: dict[str, str] = field(default_factory=dict)  # Suite.Test -> reason
    detail: dict[str, str] = field(default_factory=dict)
    totals: tuple[int, int, int] = (0, 0, 0)  # tests, passed, failed


def parse(log: str) -> SuiteRun:
    summary = log[log.index("Run Summary:") :].split("Elapsed time")[0].rstrip()
    m = re.search(r"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", summary)
    assert m, summary
    run = SuiteRun(summary, totals=(int(m.group(1)), int(m.group(3)), int(m.group(4))))
    suite = ""
    current = ""
    text: list[str] = []

    def close(status: str) -> None:
        run.tests[current] = status
        body = "\n".join(text)
        run.detail[current] = body
        sk = re.search(r"\[SKIPPED\]\s*(.*)", body)
        if sk:
            run.skips[current] = sk.group(1).strip()

    for line in log.splitlines():
        if line.startswith("Suite: "):
            suite = line.split(":", 1)[1].strip()
            continue
        t = re.match(r"  Test: (\S+) \.\.\.(.*)", line)
        if t:
            current = f"{suite}.{t.group(1)}"
            text = [t.group(2)]
            line = t.group(2)
        elif current:
            text.append(line)
        if current and current not in run.tests:
            # CUnit prints the verdict right after "..." or at the start of a line;
            # cleanup messages may follow it on the same line
            if line.startswith("passed"):
                close("passed")
            elif line.startswith("FAILED"):
                close("FAILED")
    return run


def run_test_cu(
    tmp_path: Path, *args: str, log_name: str, paths: int = 2
) -> tuple[SuiteRun, int, str]:
    """iscsi-test-cu ARGS against the conf target of a fresh `sgguard serve`, given its
    URL `paths` times; the parsed run, serve's exit status and the URL. The full log
    goes to artifacts/LOG_NAME."""
    need("iscsi-test-cu")
    image = tmp_path / "disk0.img"
    make_image(image)
    served = start_serve(tmp_path, image)
    try:
        url = served.url("conf")  # part1, removable medium
        proc = subprocess.run(
            # the URL twice enables the MultipathIO suite (two I_T nexuses to one LU)
            ["iscsi-test-cu", *args, *[url] * paths],
            capture_output=True,
            text=True,
            timeout=400,
            check=False,
            env=tools_env(),
        )
    finally:
        rc = stop_serve(served)
    log = proc.stdout + proc.stderr
    artifacts = Path(__file__).resolve().parents[2] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / log_name).write_text(log)
    return parse(log), rc, url


def report(run: SuiteRun, title: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Print the summary table, every skip with its reason, every failure; the failures."""
    lines = ["", title, run.summary]
    lines.append(f"\nskipped ({len(run.skips)}; tgt 1.0.85 over every suite: {TGT_SKIPPED}):")
    lines += [f"  {name}: {why}" for name, why in sorted(run.skips.items())]
    failures = sorted(n for n, s in run.tests.items() if s == "FAILED")
    lines.append(f"\nfailed ({len(failures)}; tgt 1.0.85 over every suite: {TGT_FAILED}):")
    lines += [f"  {n}: {area(n)}" for n in failures]
    with capsys.disabled():  # the table is part of the result: always shown
        print("\n".join(lines))
    return failures


def test_conformance_iscsi_test_cu_dataloss_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--dataloss", "--test=ALL")
    run, rc, url = run_test_cu(tmp_path, *args, log_name="iscsi-test-cu.log")
    total, _passed, failed = run.totals
    failures = report(run, f"iscsi-test-cu {' '.join(args)} against sgguard serve:", capsys)
    assert rc == 0
    assert total == TGT_TESTS and len(run.tests) == total
    assert failures == [], f"failed: {[(n, area(n)) for n in failures]}"
    assert len(run.skips) < TGT_SKIPPED
    assert failed == len(failures)
    assert f"{PREFIX}:conf" in url


SANITIZE_TESTS = 11  # libiscsi 1.19's Sanitize suite
SANITIZE_RESET_FAILURE = "TESTUNITREADY successful but should have failed with NOT READY"


def test_conformance_sanitize_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Sanitize suite with --allow-sanitize: all pass but Sanitize.Reset (module docstring)."""
    args = ("--dataloss", "--allow-sanitize", "--test=ALL.Sanitize")
    # one URL: the second nexus of Readonly and Reservations is a clone that logs out
    # after each test (given twice, the RESERVE (6) of Reservations would outlive it
    # and Reset's SANITIZE would meet that reservation)
    run, rc, _url = run_test_cu(tmp_path, *args, log_name="iscsi-test-cu-sanitize.log", paths=1)
    failures = report(run, f"iscsi-test-cu {' '.join(args)} against sgguard serve:", capsys)
    assert rc == 0
    assert run.totals[0] == SANITIZE_TESTS == len(run.tests)
    assert set(failures) <= {"Sanitize.Reset"}, f"failed: {failures}"
    for name in ("Overwrite", "BlockErase", "ExitFailureMode", "InvalidServiceAction"):
        assert run.tests[f"Sanitize.{name}"] == "passed" and f"Sanitize.{name}" not in run.skips
    if failures:
        detail = run.detail["Sanitize.Reset"]
        # it may fail only because the sanitize had finished: GOOD where SANITIZE IN PROGRESS
        # was expected, and ABORT TASK found no task to abort
        assert "SANITIZE_IN_PROGRESS" in detail and SANITIZE_RESET_FAILURE in detail, detail
        assert "Task Does Not Exist" in detail, detail
        assert "failed with wrong sense" not in detail, detail
        pytest.xfail(
            "Sanitize.Reset expects a SANITIZE still running seconds after it was sent "
            "(a physical drive's); the slice's completes in milliseconds"
        )
