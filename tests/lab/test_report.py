"""sgguard.lab.report and `sgguard lab report`: Markdown, HTML, and the page in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sgguard.lab.profile import load_profile
from sgguard.lab.report import render_html, render_markdown
from tests.lab.pngcheck import pixels
from tests.lab.synthetic import CASES_61, case, write_profile

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "lab"
GREEN, RED, AMBER, GREY = (
    (0x4C, 0xAF, 0x50),
    (0xD3, 0x2F, 0x2F),
    (0xFF, 0xB3, 0x00),
    (0x90, 0xA4, 0xAE),
)


def test_markdown_summarises_cases_attacks_tools(tmp_path: Path) -> None:
    p = load_profile(str(write_profile(tmp_path / "p", CASES_61)))
    md = render_markdown(p, [])
    assert "matrix cases: 10" in md
    assert "escapes without CAP_SYS_RAWIO 0, with 1" in md
    assert "| partition | ro | yes | 0 | 1 | 0 | 0 | 0 |" in md
    assert "**ESCAPE**" in md
    assert "| sg_inq | partition | user | 75 | no | SG_IO ENOTTY |" in md
    assert "model disagreements: 0" in md


def test_html_heat_map_cells_carry_names_aliases_and_outcomes(tmp_path: Path) -> None:
    cases = [*CASES_61, case("disk", "ro", False, "SG_IO", "42000000000000000000", "allowed")]
    p = load_profile(str(write_profile(tmp_path / "p", cases)))
    page = render_html(
        p, [{"case": cases[3], "measured": "ENOTTY", "model": "allowed", "rule": "x"}]
    )
    cells = re.findall(r"<td class='([a-z ]+)' title='([^']*)'", page)
    assert len(cells) == 20 * 5  # 20 node/open/cap rows x 5 distinct requests
    titles = " ".join(t for _c, t in cells)
    assert "SG_IO 28h READ (10)" in titles
    assert "SG_IO 42h UNMAP" in titles
    assert any(c == "esc" and "partition ro with CAP_SYS_RAWIO" in t for c, t in cells)
    assert any("dis" in c.split() and "model says allowed" in t for c, t in cells)
    assert "<script" not in page and "http" not in page.split("<body>")[1]


def test_lab_report_cli_writes_both_files(tmp_path: Path) -> None:
    prof = write_profile(tmp_path / "p", CASES_61)
    res = subprocess.run(
        [sys.executable, "-m", "sgguard", "lab", "report", str(prof)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert (prof / "report.md").read_text().startswith("# sgguard lab report")
    assert "id='heatmap'" in (prof / "report.html").read_text()


def screenshot(page: Path, out: Path, size: str = "1400,700") -> bytes:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile_dir:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile_dir}",
                f"--screenshot={out}",
                f"--window-size={size}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    return out.read_bytes()


def test_report_renders_heat_map_in_chromium(tmp_path: Path) -> None:
    # Two pages that differ only in two cells (escape -> ENOTTY): the screenshots must
    # differ by exactly those cells' pixels, red turning grey. The legend is the same
    # on both, so this measures the map's cells themselves.
    prof = write_profile(tmp_path / "p", CASES_61)
    fixed = [dict(c) for c in CASES_61]
    fixed[4] = case("partition", "ro", True, "SG_IO", "28000000000000000000", "ENOTTY")
    fixed[5] = case("partition", "rw", True, "SG_IO", "2a000000000000000000", "ENOTTY")
    prof2 = write_profile(tmp_path / "q", fixed)
    (prof / "report.html").write_text(render_html(load_profile(str(prof)), []))
    (prof2 / "report.html").write_text(render_html(load_profile(str(prof2)), []))
    width, height, with_esc = pixels(
        screenshot(prof / "report.html", ARTIFACTS / "report-synthetic.png")
    )
    _w, _h, without = pixels(
        screenshot(prof2 / "report.html", ARTIFACTS / "report-synthetic-fixed.png")
    )
    assert (width, height) == (1400, 700)
    red_cells = with_esc[RED] - without[RED]
    assert red_cells >= 2 * 5 * 14  # two cells of at least 5 x 14 px
    assert without[GREY] - with_esc[GREY] == red_cells
    assert with_esc[GREEN] == without[GREEN] and with_esc[AMBER] == without[AMBER]
    assert with_esc[AMBER] > 0 and with_esc[GREEN] > 0
