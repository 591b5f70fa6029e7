"""Inputs read over http(s) by `gristmill run`: a broken transfer is resumed or fails the shard.

A loopback mirror injects the faults (connection dropped mid-body, closed before any body, no
Content-Length, 500 then success, a server that never recovers); the run's documents must equal
those of the same file read from disk, or the shard must stay not done so that a rerun redoes it.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import orjson
import pytest

from gristmill.cli import main
from gristmill.testing.http_mirror import ServedRequest, serve_directory

PAGE = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc/pages-00000.warc.gz"


@pytest.fixture(scope="module")
def served(shared_data: Path, tmp_path_factory) -> Path:
    """A folder to serve: one real WARC file, and 100 real documents as .jsonl.gz."""
    root = tmp_path_factory.mktemp("served")
    shutil.copyfile(shared_data / PAGE, root / "pages.warc.gz")
    lines = gzip.decompress((shared_data / "web/more/wikipedia-00000.jsonl.gz").read_bytes())
    (root / "wiki.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines.splitlines()[:100]) + b"\n"))
    return root


@pytest.fixture(scope="module")
def from_disk(served: Path, tmp_path_factory) -> dict[str, str]:
    """The documents of the WARC run from the local file: what every http run must equal."""
    out = tmp_path_factory.mktemp("disk") / "out"
    assert main(["run", "raw", "--input", str(served / "pages.warc.gz"), "--output", str(out),
                 "--workers", "1", "-q"]) == 0
    return _documents(out)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setenv("GRISTMILL_HTTP_BACKOFF", "0.01")
    monkeypatch.setenv("GRISTMILL_HTTP_RETRIES", "3")


def _documents(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(gzip.decompress(p.read_bytes()) if p.suffix == ".gz"
                                   else p.read_bytes()).hexdigest()
            for p in sorted((out / "documents").glob("*.jsonl.zst"))}


def _run(base_url: str, name: str, out: Path) -> int:
    return main(["run", "raw", "--input", base_url + name, "--output", str(out), "--workers", "1",
                 "-q"])


@pytest.mark.parametrize("fault", [
    pytest.param({"cut_after_bytes": 300_000}, id="dropped-mid-body"),
    pytest.param({"cut_after_bytes": 0}, id="closed-before-body"),
    pytest.param({"fail_first": 1, "fail_status": 500}, id="500-then-success"),
])
def test_faults_are_resumed_and_give_the_documents_of_the_local_file(
        served, from_disk, tmp_path, fault):
    log: list[ServedRequest] = []
    with serve_directory(served, log=log, **fault) as base_url:
        assert _run(base_url, "pages.warc.gz", tmp_path / "out") == 0
    totals = orjson.loads((tmp_path / "out" / "stats.json").read_bytes())["totals"]
    assert totals["input_records"] == 100 and totals["accounted"] and totals["read_errors"] == 0
    assert _documents(tmp_path / "out") == from_disk
    assert len(log) == 2  # the faulty answer and one retry
    if fault.get("cut_after_bytes"):
        assert log[1].range == f"bytes={fault['cut_after_bytes']}-" and log[1].status == 206


def test_a_server_that_never_recovers_leaves_the_shard_not_done_for_a_rerun(
        served, from_disk, tmp_path, capsys):
    out = tmp_path / "out"
    with serve_directory(served, fail_first=100) as base_url:
        assert _run(base_url, "pages.warc.gz", out) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("gristmill run: error: 1 of 1 shard(s) not done")
    assert "rerun to retry them" in err and "gave up after 4 attempts" in err
    assert not (out / "stats.json").exists() and not list(out.rglob("*.jsonl.zst"))
    with serve_directory(served) as base_url:  # the same URL once the server is healthy
        assert _run(base_url, "pages.warc.gz", out) == 0
    assert _documents(out) == from_disk


def test_a_cut_that_outlasts_the_retries_is_not_taken_for_the_end(served, tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.setenv("GRISTMILL_HTTP_RETRIES", "0")
    with serve_directory(served, cut_after_bytes=300_000) as base_url:
        assert _run(base_url, "pages.warc.gz", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "connection closed after 300,000 of 4,036,709 bytes" in err
    assert not (tmp_path / "out" / ".state" / "stage-0" / "done").exists() or not list(
        (tmp_path / "out" / ".state" / "stage-0" / "done").iterdir())


def test_no_content_length_and_an_early_close_is_an_error_not_a_short_file(served, tmp_path,
                                                                           capsys):
    # Without a length the client cannot tell a close from the end; the gzip stream can.
    with serve_directory(served, send_length=False, cut_after_bytes=20_000) as base_url:
        code = main(["run", "raw", "--input", base_url + "wiki.jsonl.gz", "--output",
                     str(tmp_path / "out"), "--workers", "1", "-q"])
    assert code == 2  # the error rate is above the default --max-error-rate
    stats = orjson.loads((tmp_path / "out" / "stats.json").read_bytes())["totals"]
    assert stats["read_errors"] == 1 and stats["accounted"]
    assert stats["documents_read"] < 100
    error = orjson.loads((tmp_path / "out" / "errors.jsonl").read_bytes().splitlines()[0])
    assert "truncated gzip stream" in error["message"]
