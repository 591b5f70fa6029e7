"""The built wheel works on its own (recipes ship inside it), and the package layers hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc"


@pytest.mark.slow
def test_the_installed_wheel_runs_a_shipped_recipe(shared_data, tmp_path):
    """Build the wheel, install it (without dependencies) into a fresh virtual environment
    that borrows this environment's third-party packages, and run `gristmill run raw` from a
    folder outside the checkout: recipes must come from the installed package."""
    wheels = tmp_path / "wheels"
    # Built with this environment's setuptools (the dev extra): no isolated build environment
    # fetched from the index for each build.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, capture_output=True, timeout=600)
    [wheel] = wheels.glob("gristmill-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Third-party packages from this environment; its editable gristmill is not activated
    # (a .pth path's own .pth files are not processed), so only the wheel provides gristmill.
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=600)
    where = subprocess.run([str(python), "-c", "import gristmill; print(gristmill.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert where.startswith(str(site))
    warc = str(sorted((shared_data / PAGES).glob("*.warc.gz"))[0])
    run = subprocess.run([str(venv / "bin" / "gristmill"), "run", "raw", "--input", warc,
                          "--output", str(tmp_path / "out"), "--workers", "1", "-q"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    stats = orjson.loads((tmp_path / "out" / "stats.json").read_bytes())
    assert stats["recipe"] == "raw" and stats["totals"]["input_records"] == 100
    assert stats["totals"]["accounted"] and stats["totals"]["kept"] > 90
    listed = subprocess.run([str(venv / "bin" / "gristmill"), "run", "no-such-recipe", "--input",
                             warc, "--output", str(tmp_path / "o2")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert listed.returncode == 2
    assert "shipped recipes: c4, dclm-baseline, fineweb, raw, refinedweb" in listed.stderr


def test_imports_respect_the_layers():
    """cli > experiment > engine > stages > io > core > text (pyproject's import-linter
    contract, also run by `make lint`)."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 kept, 0 broken" in result.stdout
