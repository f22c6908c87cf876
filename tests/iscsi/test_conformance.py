"""libiscsi's conformance suite (`iscsi-test-cu --dataloss`, every suite) against `sgguard serve`.

Prints the CUnit summary table, every skipped test with its reason and every
failure with the area that owns it; writes the full log to
artifacts/iscsi-test-cu.log. Reference (issue 5): Debian's tgt 1.0.85 scores
230 tests, 8 failed, 81 skipped.
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


def test_conformance_iscsi_test_cu_dataloss_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need("iscsi-test-cu")
    image = tmp_path / "disk0.img"
    make_image(image)
    served = start_serve(tmp_path, image)
    try:
        url = served.url("conf")  # part1, removable medium
        proc = subprocess.run(
            # the URL twice enables the MultipathIO suite (two I_T nexuses to one LU)
            ["iscsi-test-cu", "--dataloss", "--test=ALL", url, url],
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
    (artifacts / "iscsi-test-cu.log").write_text(log)
    run = parse(log)
    total, _passed, failed = run.totals
    lines = ["", "iscsi-test-cu --dataloss --test=ALL against sgguard serve:", run.summary]
    lines.append(f"\nskipped ({len(run.skips)}; tgt 1.0.85: {TGT_SKIPPED}):")
    lines += [f"  {name}: {why}" for name, why in sorted(run.skips.items())]
    failures = sorted(n for n, s in run.tests.items() if s == "FAILED")
    lines.append(f"\nfailed ({len(failures)}; tgt 1.0.85: {TGT_FAILED}):")
    lines += [f"  {n}: {area(n)}" for n in failures]
    with capsys.disabled():  # the table is part of the result: always shown
        print("\n".join(lines))
    assert rc == 0
    assert total == TGT_TESTS and len(run.tests) == total
    assert failures == [], f"failed: {[(n, area(n)) for n in failures]}"
    assert len(run.skips) < TGT_SKIPPED
    assert failed == len(failures)
    assert f"{PREFIX}:conf" in url
