"""Inputs read over http(s) by `gristmill run`: a broken transfer is resumed or fails the shard.

A loopback mirror injects the faults (connection dropped mid-body, closed before any body, no
Content-Length, 500 then success, a server that never recovers); the run's documents must equal
those of the same file read from disk, or the shard must stay not done so that a rerun redoes it.

Without a Content-Length the end of a body is wherever the connection closed, so the client
checks the end itself: a gzip/zstd input must end with a whole member/frame (and a body that
is empty is none); an uncompressed one that looks cut (empty, or no final newline) is asked for
again. Undetectable, and not tested: a cut exactly at a gzip member boundary, or at a line end
of an uncompressed file (the prefix is itself a whole file).
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
WIKI = "web/more/wikipedia-00000.jsonl.gz"  # 3,000 documents, one gzip member of 2.4 MB


@pytest.fixture(scope="module")
def served(shared_data: Path, tmp_path_factory) -> Path:
    """A folder to serve: one real WARC file, and 100 real documents as .jsonl.gz."""
    root = tmp_path_factory.mktemp("served")
    shutil.copyfile(shared_data / PAGE, root / "pages.warc.gz")
    shutil.copyfile(shared_data / WIKI, root / "wikipedia.jsonl.gz")
    lines = gzip.decompress((shared_data / WIKI).read_bytes())
    first_100 = b"\n".join(lines.splitlines()[:100]) + b"\n"
    (root / "wiki.jsonl.gz").write_bytes(gzip.compress(first_100))
    (root / "wiki.jsonl").write_bytes(first_100)
    (root / "empty.jsonl").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def disk_run(served: Path, tmp_path_factory):
    """``disk_run(name)``: the documents of a run over the served file read from disk, which
    every http run of it must equal."""
    runs: dict[str, dict[str, str]] = {}

    def documents(name: str) -> dict[str, str]:
        if name not in runs:
            out = tmp_path_factory.mktemp("disk") / "out"
            assert main(["run", "raw", "--input", str(served / name), "--output", str(out),
                         "--workers", "1", "-q"]) == 0
            runs[name] = _documents(out)
        return runs[name]

    return documents


@pytest.fixture(scope="module")
def from_disk(disk_run) -> dict[str, str]:
    return disk_run("pages.warc.gz")


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
    # No length: the end of the gzip stream tells the cut (inside a member; empty body).
    pytest.param({"cut_after_bytes": 300_000, "send_length": False}, id="no-length-mid-body"),
    pytest.param({"cut_after_bytes": 0, "send_length": False}, id="no-length-before-body"),
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


EMPTY_GZIP = "truncated gzip stream at compressed byte 0: the body is empty, which a gzip file never is"


def _last_error_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def _not_done(out: Path) -> bool:
    return not (out / "stats.json").exists() and not list(out.rglob("*.jsonl.zst"))


def test_no_length_and_a_cut_inside_a_gzip_block_of_a_big_file_is_resumed(served, disk_run,
                                                                          tmp_path):
    # Before: 2,525 of 3,000 documents, one errored record (0.04%, under --max-error-rate),
    # exit 0 and a done shard. The cut must be resumed with Range where it broke.
    log: list[ServedRequest] = []
    with serve_directory(served, send_length=False, cut_after_bytes=2_000_000,
                         log=log) as base_url:
        assert _run(base_url, "wikipedia.jsonl.gz", tmp_path / "out") == 0
    lines = gzip.decompress((served / "wikipedia.jsonl.gz").read_bytes()).count(b"\n")
    totals = orjson.loads((tmp_path / "out" / "stats.json").read_bytes())["totals"]
    assert totals["input_records"] == lines == 3000 and totals["read_errors"] == 0
    assert _documents(tmp_path / "out") == disk_run("wikipedia.jsonl.gz")
    assert [(r.range, r.status) for r in log] == [(None, 200), ("bytes=2000000-", 206)]


@pytest.mark.parametrize("name, cut, reason", [
    ("wikipedia.jsonl.gz", 2_000_000, "truncated gzip stream at compressed byte 2000000: "
                                      "input ends inside a compressed block"),
    ("wiki.jsonl.gz", 0, EMPTY_GZIP),
    ("pages.warc.gz", 0, EMPTY_GZIP),
])
def test_no_length_and_a_cut_that_outlasts_the_retries_leaves_the_shard_not_done(
        served, disk_run, tmp_path, capsys, monkeypatch, name, cut, reason):
    monkeypatch.setenv("GRISTMILL_HTTP_RETRIES", "0")
    out = tmp_path / "out"
    with serve_directory(served, send_length=False, cut_after_bytes=cut) as base_url:
        assert _run(base_url, name, out) == 2
    line = _last_error_line(capsys)
    assert line.startswith("gristmill run: error: 1 of 1 shard(s) not done")
    assert f"could not download {base_url}{name}: no size announced and the file is " \
           f"incomplete ({reason}" in line
    assert _not_done(out)
    with serve_directory(served, send_length=False) as base_url:  # the rerun redoes it
        assert _run(base_url, name, out) == 0
    assert _documents(out) == disk_run(name)


def test_no_length_and_a_gzip_file_cut_short_at_the_source_fails_at_once(served, tmp_path,
                                                                         capsys):
    # The Range request after the cut is answered 416 at that very size: retrying is useless.
    data = (served / "wikipedia.jsonl.gz").read_bytes()
    source = tmp_path / "source"
    source.mkdir()
    (source / "cut.jsonl.gz").write_bytes(data[:1_000_000])
    log: list[ServedRequest] = []
    with serve_directory(source, send_length=False, log=log) as base_url:
        assert _run(base_url, "cut.jsonl.gz", tmp_path / "out") == 2
    line = _last_error_line(capsys)
    assert "input ends inside a compressed block), and the server says the file ends there " \
           "(it is cut short at the source)" in line
    assert [(r.range, r.status) for r in log] == [(None, 200), ("bytes=1000000-", 416)]
    assert _not_done(tmp_path / "out")


@pytest.mark.parametrize("cut", [0, 30_000], ids=["before-body", "mid-line"])
def test_no_length_and_an_uncompressed_body_that_looks_cut_is_asked_for_again(
        served, disk_run, tmp_path, cut):
    log: list[ServedRequest] = []
    with serve_directory(served, send_length=False, cut_after_bytes=cut, log=log) as base_url:
        assert _run(base_url, "wiki.jsonl", tmp_path / "out") == 0
    assert _documents(tmp_path / "out") == disk_run("wiki.jsonl")
    assert len(log) == 2 and log[1].range == (f"bytes={cut}-" if cut else None)


def test_no_length_and_an_empty_uncompressed_body_is_taken_as_empty_with_a_warning(
        served, tmp_path, caplog):
    # An empty body cannot be told from a connection closed before any byte: it is asked for
    # again within the retries (3 here), and only then taken as an empty file, saying so.
    log: list[ServedRequest] = []
    with serve_directory(served, send_length=False, log=log) as base_url:
        assert _run(base_url, "empty.jsonl", tmp_path / "out") == 0
    assert len(log) == 4
    assert (f"{base_url}empty.jsonl: no size announced and the body is empty after 4 "
            "attempt(s); taken as the end of the file") in caplog.text
    totals = orjson.loads((tmp_path / "out" / "stats.json").read_bytes())["totals"]
    assert totals["input_records"] == 0 and totals["accounted"]
    with serve_directory(served, log=log) as base_url:  # with a length: one request, no doubt
        assert _run(base_url, "empty.jsonl", tmp_path / "with-length") == 0
    assert len(log) == 5
