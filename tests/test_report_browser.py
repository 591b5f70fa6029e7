"""The HTML reports render in a real browser: headless Chromium (Debian's ``chromium``, which
.ci/run installs) opens the training-run report and the page comparing two runs; the screenshot
is not blank, the expected elements are there, and the console shows no errors."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from gristmill.cli import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1280,1800"]


# The first test pays for the shared trained-run fixtures (minutes on a loaded 2-core machine).
pytestmark = pytest.mark.timeout(900)

@pytest.fixture(scope="module")
def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"no headless browser ({', '.join(BROWSERS)}) on PATH; .ci/run installs Debian's chromium")


def _chromium(browser: str, page: Path, tmp: Path) -> tuple[str, str]:
    """Run Chromium once (a fresh profile) on ``page``: the DOM after its scripts ran, and a
    screenshot in ``tmp / "shot.png"``; returns (stdout, stderr)."""
    args = [browser, *FLAGS, f"--user-data-dir={tmp / 'profile'}", "--dump-dom", f"--screenshot={tmp / 'shot.png'}"]
    done = subprocess.run([*args, page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def distinct_rows(png: Path) -> int:
    """Distinct (filtered) scanlines of a PNG: a blank page has a handful, a rendered one hundreds."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 4
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            bpp = {2: 3, 6: 4, 0: 1, 4: 2}[color] * depth // 8
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * bpp
    assert len(raw) == stride * height
    return len({raw[i * stride : (i + 1) * stride] for i in range(height)})


def _render_and_check(browser: str, page: Path, tmp: Path, expected: list[str], min_charts: int) -> str:
    dom, err = _chromium(browser, page, tmp)
    console = [line for line in err.splitlines() if ":CONSOLE" in line]
    assert not console, console  # no console messages at all: no errors, no warnings
    assert 'id="report-errors" role="alert"></div>' in dom  # the page's own error banner stayed empty
    for text in expected:
        assert text in dom, text
    charts = int(dom.split('data-charts="', 1)[1].split('"', 1)[0])  # counted by the page's script
    assert charts >= min_charts
    assert distinct_rows(tmp / "shot.png") > 200
    return dom


@pytest.fixture(scope="module")
def evaluated_runs(trained_run, canary_run, shared_data):
    """Both runs evaluated at every checkpoint on a slice of the small suite, one analysed."""
    for run in (trained_run, canary_run):
        assert main(["eval", "--all-checkpoints", str(run), "--suite", "zorro,bits_per_byte", "--limit", "3",
                     "--data", str(shared_data), "-q"]) == 0
    return trained_run, canary_run


def test_training_report_renders_in_chromium(browser, evaluated_runs, canary_memorization, tmp_path):
    _, run = evaluated_runs  # the canary run, its memorization analysed
    assert main(["report", str(run)]) == 0
    dom = _render_and_check(browser, run / "report.html", tmp_path,
                            ["Training loss", "Learning rate", "Gradient norm", "Memorization score per",
                             "Canaries: memorization score", "zorro", "bits_per_byte"], min_charts=8)
    assert dom.count('class="cell"') >= 4 * 4  # heatmap: 4 checkpoints x 4 chunks at least


def test_comparison_of_two_runs_renders_in_chromium(browser, evaluated_runs, tmp_path):
    a, b = evaluated_runs
    out = tmp_path / "compare.html"
    assert main(["report", str(a), str(b), "--out", str(out)]) == 0
    dom = _render_and_check(browser, out, tmp_path, ["Leaderboard", "cpu-micro", "bits_per_byte", "zorro"],
                            min_charts=2)
    board = dom.split('class="leaderboard sortable"', 1)[1].split("</table>", 1)[0]
    assert board.count("<tr>") == 3  # header + two runs
    assert "±" in board


def test_curation_report_renders_in_chromium(browser, shared_data, tmp_path):
    from gristmill import Pipeline

    warc = sorted((shared_data / "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc").glob("*.warc.gz"))[0]
    Pipeline.from_recipe("raw").run([str(warc)], tmp_path / "run", workers=1, keep_dropped=True)
    assert main(["report", str(tmp_path / "run")]) == 0
    _render_and_check(browser, tmp_path / "run" / "report.html", tmp_path,
                      ["Funnel", "extract_text", "Score histograms", "Sample of kept documents",
                       "Sample of dropped documents per rule"], min_charts=0)
