"""One run per output folder: reuse with other inputs is refused (or replaced with --overwrite),
concurrent runs are refused by a lock, killed writers' temp files do not stay."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from gristmill.cli import main
from gristmill.io.lock import folder_lock

PAGE = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc/pages-00000.warc.gz"
LENGTH_AND_DEDUP = """\
name: length-and-dedup
steps:
  - page_length_filter: {min_length: 20}
  - exact_dedup: {}
"""


@pytest.fixture(scope="module")
def docs(shared_data: Path, tmp_path_factory) -> Path:
    """Three small files of real documents (Wikipedia), a few of them repeated across files."""
    folder = tmp_path_factory.mktemp("docs")
    lines = gzip.decompress((shared_data / "web/more/wikipedia-00000.jsonl.gz").read_bytes())
    lines = lines.splitlines()[:90]
    for i, name in enumerate(("a", "b", "c")):
        chunk = lines[i * 30:(i + 1) * 30] + lines[:3]  # the first three appear in every file
        (folder / f"{name}.jsonl").write_bytes(b"\n".join(chunk) + b"\n")
    (folder / "recipe.yaml").write_text(LENGTH_AND_DEDUP)
    return folder


def _run(docs: Path, out: Path, *names: str, extra: tuple[str, ...] = ()) -> int:
    return main(["run", str(docs / "recipe.yaml"), "--input",
                 *[str(docs / f"{n}.jsonl") for n in names], "--output", str(out),
                 "--workers", "1", "-q", *extra])


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def _shards(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "documents").glob("*.jsonl.zst"))


def test_adding_an_input_is_refused_naming_it_and_overwrite_replaces_the_run(docs, tmp_path,
                                                                             capsys):
    out = tmp_path / "out"
    assert _run(docs, out, "a", "b") == 0
    stats = (out / "stats.json").read_bytes()
    # Before: a KeyError traceback from the global step on every later rerun.
    assert _run(docs, out, "a", "b", "c") == 2
    assert _error(capsys) == (
        f"gristmill run: error: {out} holds a different run (1 input(s) added: c); "
        "use --overwrite to replace it, or another output folder")
    assert (out / "stats.json").read_bytes() == stats and _shards(out) == ["a.jsonl.zst",
                                                                            "b.jsonl.zst"]
    assert _run(docs, out, "a", "b", "c", extra=("--overwrite",)) == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert [i["shard"] for i in manifest["identity"]["inputs"]] == ["a", "b", "c"]
    totals = orjson.loads((out / "stats.json").read_bytes())["totals"]
    assert totals["input_records"] == 99 and totals["accounted"]
    assert _shards(out) == ["a.jsonl.zst", "b.jsonl.zst", "c.jsonl.zst"]


def test_removing_an_input_is_refused_and_overwrite_leaves_none_of_its_documents(docs, tmp_path,
                                                                                 capsys):
    out = tmp_path / "out"
    assert _run(docs, out, "a", "b", "c") == 0
    assert _run(docs, out, "a", "b") == 2
    assert "(1 input(s) removed: c)" in _error(capsys)
    assert _run(docs, out, "a", "b", extra=("--overwrite",)) == 0
    assert _shards(out) == ["a.jsonl.zst", "b.jsonl.zst"]
    assert orjson.loads((out / "stats.json").read_bytes())["totals"]["input_records"] == 66


def test_a_changed_input_file_or_seed_is_a_different_run(docs, tmp_path, capsys):
    out = tmp_path / "out"
    copy = tmp_path / "in"
    copy.mkdir()
    for name in ("a", "b"):
        (copy / f"{name}.jsonl").write_bytes((docs / f"{name}.jsonl").read_bytes())
    (copy / "recipe.yaml").write_text(LENGTH_AND_DEDUP)
    assert _run(copy, out, "a", "b") == 0
    assert _run(copy, out, "a", "b", extra=("--seed", "7")) == 2
    assert "(seed 0 -> 7)" in _error(capsys)
    with open(copy / "b.jsonl", "ab") as fh:
        fh.write(b'{"id": "late", "text": "a document appended after the first run"}\n')
    assert _run(copy, out, "a", "b") == 2
    assert "(1 input(s) changed size: b)" in _error(capsys)


def test_dedup_pointed_at_a_run_folder_is_refused_and_its_stats_kept(docs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(docs, out, "a", "b") == 0
    stats = (out / "stats.json").read_bytes()
    code = main(["dedup", "--method", "exact", "--input", str(docs / "c.jsonl"), "--output",
                 str(out), "-q"])
    assert code == 2
    assert "holds a different run (recipe length-and-dedup" in _error(capsys)
    assert (out / "stats.json").read_bytes() == stats


def test_dedup_of_a_run_folder_into_itself_is_refused_even_with_overwrite(docs, tmp_path,
                                                                         capsys):
    out = tmp_path / "out"
    assert _run(docs, out, "a") == 0
    code = main(["dedup", "--method", "exact", "--input", str(out / "documents"), "--output",
                 str(out), "--overwrite", "-q"])
    assert code == 2
    assert "lies inside the output folder" in _error(capsys)
    assert _shards(out) == ["a.jsonl.zst"]


def test_a_folder_in_use_is_refused_in_one_line(docs, tmp_path, capsys):
    out = tmp_path / "out"
    with folder_lock(out):
        assert _run(docs, out, "a") == 2
        assert _error(capsys) == (
            f"gristmill run: error: {out} is in use by another gristmill run (pid {os.getpid()}); "
            "wait for it to finish or choose another output folder")
    assert _run(docs, out, "a") == 0  # the lock ends with its holder


def test_two_concurrent_runs_one_is_refused_the_other_finishes(shared_data, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["run", "raw", "--input", str(shared_data / PAGE), "--output", str(out),
            "--workers", "1", "-q"]
    first = subprocess.Popen([sys.executable, "-m", "gristmill", *args], stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "manifest.json").exists():  # written once the lock is held
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert main(args) == 2
        assert "is in use by another gristmill run (pid " in _error(capsys)
    finally:
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    totals = orjson.loads((out / "stats.json").read_bytes())["totals"]
    assert totals["input_records"] == 100 and totals["accounted"]


def test_temp_files_of_killed_writers_are_removed_on_the_next_run(docs, tmp_path):
    out = tmp_path / "out"
    assert _run(docs, out, "a", "b") == 0
    # What a run killed inside its global step leaves: hidden temp files of half-written
    # shards in documents/ and in the stage folders.
    stale = [out / "documents" / ".a.jsonl.zst.4242.tmp",
             out / ".state" / "stage-0" / "documents" / ".b.jsonl.zst.4243.tmp",
             out / "dropped" / ".x.jsonl.zst.17.tmp"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a shard")
    assert _run(docs, out, "a", "b") == 0
    assert not any(p.exists() for p in stale)
    assert _shards(out) == ["a.jsonl.zst", "b.jsonl.zst"]


def test_keep_dropped_on_a_run_started_without_it_says_it_applies_to_nothing_done(docs, tmp_path,
                                                                                    caplog):
    out = tmp_path / "out"
    assert _run(docs, out, "a", "b") == 0
    assert _run(docs, out, "a", "b", extra=("--keep-dropped",)) == 0
    assert ("--keep-dropped applies only to shards not done yet: this run started without it "
            "(use --overwrite to redo every shard)") in caplog.text
    assert not (out / "dropped").exists()
    assert _run(docs, out, "a", "b", extra=("--keep-dropped", "--overwrite")) == 0
    assert list((out / "dropped").rglob("*.jsonl.zst"))
