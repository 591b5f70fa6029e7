"""The recipe engine on real WARCs: accounting, resume after SIGKILL, no-op rerun, executors."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from gristmill import Document, Drop, Pipeline, Step, register
from gristmill.core.errors import GristmillError

PAGES = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc"


def _pages(shared_data: Path, n: int) -> list[str]:
    files = sorted((shared_data / PAGES).glob("pages-*.warc.gz"))
    assert len(files) == 15
    return [str(f) for f in files[:n]]


def _digest(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*.jsonl.zst"))
        if ".state" not in p.parts
    }


def _stats(run_dir: Path) -> dict:
    return orjson.loads((run_dir / "stats.json").read_bytes())


@pytest.fixture(scope="module")
def raw_six(shared_data: Path, tmp_path_factory) -> Path:
    """The raw recipe over the first six PAGES-2026 files on one worker: the reference run."""
    out = tmp_path_factory.mktemp("raw_six") / "run"
    Pipeline.from_recipe("raw").run(_pages(shared_data, 6), out, workers=1)
    return out


def test_raw_recipe_accounts_for_every_record(local_recipe_run, tmp_path: Path):
    result, out = local_recipe_run("raw")  # the first three PAGES-2026 files
    stats = result.stats
    totals = stats["totals"]
    assert totals["input_records"] == 300  # 100 response records per PAGES-2026 file
    assert totals["accounted"]
    assert totals["kept"] + totals["dropped"] + totals["errored"] == 300
    assert totals["kept"] > 280  # real pages: almost all have main text
    assert [s["name"] for s in stats["steps"]] == ["read", "extract_text"]
    docs = sorted((out / "documents").glob("*.jsonl.zst"))
    assert len(docs) == 3
    for name in ("manifest.json", "errors.jsonl", "stats.json"):
        assert (out / name).is_file()
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["recipe_hash"] == stats["recipe_hash"]
    assert manifest["versions"]["fastwarc"]


def test_worker_count_does_not_change_outputs(shared_data: Path, raw_six: Path, tmp_path: Path):
    Pipeline.from_recipe("raw").run(_pages(shared_data, 6), tmp_path / "w2", workers=2)
    assert _digest(raw_six) == _digest(tmp_path / "w2")
    s1, s2 = _stats(raw_six), _stats(tmp_path / "w2")
    for a, b in zip(s1["steps"], s2["steps"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v for k, v in b.items() if k != "seconds"
        }


def test_rerun_of_finished_run_is_a_noop(shared_data: Path, tmp_path: Path, capsys):
    from gristmill.cli import main

    args = ["run", "raw", "--input", *_pages(shared_data, 2), "--output", str(tmp_path / "o"),
            "--workers", "1", "--quiet"]
    assert main(args) == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "o").rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(args) == 0
    assert "nothing to do" in capsys.readouterr().err
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "o").rglob("*") if p.is_file()}
    assert before == after


def test_other_recipe_into_same_output_is_refused(shared_data: Path, tmp_path: Path):
    inputs = _pages(shared_data, 1)
    Pipeline.from_recipe("raw").run(inputs, tmp_path / "o", workers=1)
    other = Pipeline.from_steps([{"extract_text": {"backend": "resiliparse"}}])
    with pytest.raises(GristmillError, match=r"holds a different run \(recipe raw"):
        other.run(inputs, tmp_path / "o", workers=1)


def test_sigkill_then_rerun_gives_identical_outputs(shared_data: Path, raw_six: Path, tmp_path: Path):
    inputs = _pages(shared_data, 6)
    reference = raw_six

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "gristmill", "run", "raw", "--input", *inputs,
           "--output", str(killed), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    markers = killed / ".state" / "stage-0" / "done"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if markers.is_dir() and len(list(markers.glob("*.json"))) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list(markers.glob("*.json")))
    assert 2 <= done_at_kill < 6
    assert not (killed / "stats.json").exists()

    result = Pipeline.from_recipe("raw").run(inputs, killed, workers=1)
    assert result.shards_done_before == done_at_kill
    assert _digest(killed) == _digest(reference)
    assert _stats(killed)["totals"] == _stats(reference)["totals"]
    assert not list(killed.rglob("*.tmp"))


@register("test_explode_on_digit")
class _ExplodeOnDigit(Step):
    """Test-only step: raises on documents whose id ends in 7, drops those ending in 3."""

    kind = "filter"

    def __init__(self) -> None:
        super().__init__()

    def apply(self, doc: Document) -> Document | Drop:
        if doc.id.endswith("7"):
            raise ValueError("boom")
        if doc.id.endswith("3"):
            return Drop("ends_in_3")
        return doc


def test_step_errors_are_counted_quarantined_and_the_shard_goes_on(shared_data: Path, tmp_path: Path):
    pipeline = Pipeline.from_steps(["extract_text", "test_explode_on_digit"])
    result = pipeline.run(_pages(shared_data, 1), tmp_path / "o", workers=1, keep_dropped=True)
    step = result.stats["steps"][-1]
    assert step["errors"] > 0 and step["dropped"]["ends_in_3"] > 0
    assert result.stats["totals"]["accounted"]
    errors = [orjson.loads(x) for x in (tmp_path / "o" / "errors.jsonl").read_bytes().splitlines()]
    assert len(errors) == step["errors"] + result.stats["totals"]["read_errors"]
    assert all(e["file"].endswith(".warc.gz") and e["message"] == "ValueError: boom"
               for e in errors if e["step"] == "test_explode_on_digit")
    assert list((tmp_path / "o" / "quarantine").glob("*.jsonl.zst"))
    assert list((tmp_path / "o" / "dropped" / "test_explode_on_digit" / "ends_in_3").glob("*.jsonl.zst"))


def test_edge_case_warcs_are_accounted_for(shared_data: Path, tmp_path: Path):
    edge = shared_data / "web" / "warc" / "edge"
    result = Pipeline.from_recipe("raw").run([str(edge)], tmp_path / "o", workers=1)
    totals = result.stats["totals"]
    assert totals["accounted"]
    assert totals["read_errors"] > 0  # the truncated and bad files are reported, not fatal
    errors = (tmp_path / "o" / "errors.jsonl").read_bytes().splitlines()
    assert len(errors) >= totals["read_errors"]
