"""`gristmill download`: real Common Crawl files from a loopback mirror of ../shared/data/commoncrawl.

Nothing here leaves 127.0.0.1: every HTTP request goes to `serve_directory`, whose request log
shows what the client asked for (Range headers) and got (status).
"""

from __future__ import annotations

import gzip
import io
import itertools
import socket
import zlib
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator

from gristmill.cli import main
from gristmill.core.errors import DownloadError, GristmillError, InputError
from gristmill.io.download import (
    download_crawl,
    fetch_warc_sample,
    sample_name,
)
from gristmill.io.transfer import fetch_url
from gristmill.io.warc_prefix import WarcFormatError
from gristmill.testing.http_mirror import ServedRequest, serve_directory

FETCH = {"retries": 3, "backoff": 0.001, "timeout": 10.0}
FAST = {**FETCH, "progress": False}
PAGES_0 = "crawl-data/PAGES-2026/segments/sample/warc/pages-00000.warc.gz"
SPAM_WARC = (
    "crawl-data/CC-MAIN-2020-34/segments/sample/warc/"
    "CC-MAIN-20200808165417-20200808195417-00395.warc.gz"
)


@pytest.fixture(scope="module")
def mirror(shared_data: Path) -> Path:
    return shared_data / "commoncrawl"


def listing(root: Path, crawl: str, kind: str) -> list[str]:
    text = gzip.decompress((root / f"crawl-data/{crawl}/{kind}.paths.gz").read_bytes()).decode()
    return text.split()


def records_of(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Every record's headers and block, read by fastwarc (an independent WARC reader)."""
    stream = ArchiveIterator(io.BytesIO(data), parse_http=False)
    return [(dict(record.headers), record.reader.read()) for record in stream]


def gzip_members(data: bytes) -> list[bytes]:
    members, pos = [], 0
    while pos < len(data):
        inflater = zlib.decompressobj(wbits=31)
        inflater.decompress(data[pos:])
        end = len(data) - len(inflater.unused_data)
        members.append(data[pos:end])
        pos = end
    return members


def requests_for(log: list[ServedRequest], relative: str) -> list[ServedRequest]:
    return [r for r in log if r.path == "/" + relative]


def make_mirror(root: Path, crawl: str, files: dict[str, bytes], kind: str = "warc") -> list[str]:
    """A small bucket-shaped mirror of our own making, for layouts the shared one lacks."""
    relatives = []
    for name, data in files.items():
        relative = f"crawl-data/{crawl}/segments/test/{kind}/{name}"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
        relatives.append(relative)
    paths = root / f"crawl-data/{crawl}/{kind}.paths.gz"
    paths.write_bytes(gzip.compress("".join(f"{r}\n" for r in relatives).encode()))
    return relatives


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- whole files ---------------------------------------------------------------------------


def test_every_listed_file_of_every_crawl_arrives_byte_identical(mirror: Path, tmp_path: Path):
    kinds = {
        (crawl.name, kind)
        for crawl in (mirror / "crawl-data").iterdir()
        for kind in ("warc", "wet", "wat")
        if (crawl / f"{kind}.paths.gz").exists()
    }
    assert {
        ("CC-MAIN-2020-34", "warc"),
        ("CC-MAIN-2024-22", "wet"),
        ("PAGES-2026", "warc"),
    } <= kinds
    out = tmp_path / "out"
    log: list[ServedRequest] = []
    with serve_directory(mirror, log=log) as base_url:
        for crawl, kind in sorted(kinds):
            expected = listing(mirror, crawl, kind)
            results = download_crawl(crawl, kind, len(expected), out, base_url=base_url, **FAST)
            assert [r.relative_path for r in results] == expected
            for result in results:
                assert result.local_path == out / result.relative_path
                assert not result.skipped and not result.resumed
                assert (
                    result.local_path.read_bytes() == (mirror / result.relative_path).read_bytes()
                )
                assert result.bytes == result.fetched_bytes == result.local_path.stat().st_size
            paths_file = f"crawl-data/{crawl}/{kind}.paths.gz"
            assert (out / paths_file).read_bytes() == (mirror / paths_file).read_bytes()
    assert not list(out.rglob("*.part"))
    assert all(r.status == 200 and r.range is None for r in log)

    # A rerun finds everything complete and asks the server for nothing at all.
    rerun_log: list[ServedRequest] = []
    with serve_directory(mirror, log=rerun_log) as base_url:
        for crawl, kind in sorted(kinds):
            count = len(listing(mirror, crawl, kind))
            results = download_crawl(crawl, kind, count, out, base_url=base_url, **FAST)
            assert all(r.skipped and r.fetched_bytes == 0 for r in results)
    assert rerun_log == []


def test_offset_and_files_select_a_slice_of_the_listing(mirror: Path, tmp_path: Path, caplog):
    with serve_directory(mirror) as base_url:
        results = download_crawl(
            "PAGES-2026", "warc", 5, tmp_path, offset=13, base_url=base_url, **FAST
        )
        # The listing has 15 files: asking for 5 from the 14th gives the last 2, with a warning.
        assert [Path(r.relative_path).name for r in results] == [
            "pages-00013.warc.gz",
            "pages-00014.warc.gz",
        ]
        assert "lists 15 warc files" in caplog.text
        with pytest.raises(InputError, match="offset 15 is past the end of the 15 warc files"):
            download_crawl("PAGES-2026", "warc", 1, tmp_path, offset=15, base_url=base_url, **FAST)
    on_disk = sorted(p.name for p in tmp_path.rglob("pages-*"))
    assert on_disk == ["pages-00013.warc.gz", "pages-00014.warc.gz"]


# -- parallel transfers -----------------------------------------------------------------------


def _most_at_once(log: list[ServedRequest]) -> int:
    """The largest number of requests the server was answering at the same moment."""
    events = sorted([(r.started, 1) for r in log] + [(r.finished, -1) for r in log])
    return max(itertools.accumulate(change for _, change in events))


def test_parallel_download_resumes_every_cut_file_and_equals_the_serial_one(mirror, tmp_path):
    expected = listing(mirror, "PAGES-2026", "warc")
    log: list[ServedRequest] = []
    # Every file's first transfer is cut after 100 kB, on a slow link so transfers overlap.
    with serve_directory(mirror, cut_after_bytes=100_000, log=log, piece_delay=0.01) as base_url:
        results = download_crawl("PAGES-2026", "warc", len(expected), tmp_path, base_url=base_url,
                                 parallel=4, **FAST)
    assert [r.relative_path for r in results] == expected  # listing order, whatever finished first
    for result in results:
        assert result.resumed and result.bytes == (mirror / result.relative_path).stat().st_size
        assert result.local_path.read_bytes() == (mirror / result.relative_path).read_bytes()
        first, second = requests_for(log, result.relative_path)
        assert (first.range, first.body_bytes) == (None, 100_000)
        assert (second.range, second.status) == ("bytes=100000-", 206)
    files = [r for r in log if r.path.endswith(".warc.gz")]
    assert _most_at_once(files) >= 2  # (at most 4 by the thread pool; the server's clock is late)
    assert not list(tmp_path.rglob("*.part"))


def test_a_failed_file_stops_new_transfers_and_a_rerun_resumes_the_rest(tmp_path):
    served = tmp_path / "mirror"
    names = [f"f{i}.warc.gz" for i in range(6)]
    payloads = {name: gzip.compress(bytes([i]) * 300_000) for i, name in enumerate(names)}
    relatives = make_mirror(served, "TEST-1", payloads)
    (served / relatives[1]).unlink()  # listed but missing: a 404, never retried
    out = tmp_path / "out"
    with (
        serve_directory(served, piece_delay=0.005) as base_url,
        pytest.raises(GristmillError, match=r"f1\.warc\.gz"),
    ):
        download_crawl("TEST-1", "warc", 6, out, base_url=base_url, parallel=2, **FAST)
    (served / relatives[1]).write_bytes(payloads[names[1]])
    with serve_directory(served) as base_url:
        results = download_crawl("TEST-1", "warc", 6, out, base_url=base_url, parallel=3, **FAST)
    assert [r.local_path.read_bytes() for r in results] == [payloads[n] for n in names]
    assert not results[1].skipped and results[0].skipped  # f0 had finished before the failure


def test_cli_parallel_summary_shows_files_bytes_and_throughput(mirror, tmp_path, capsys):
    argv = ["download", "--crawl", "PAGES-2026", "--files", "6", "--parallel", "3",
            "--out", str(tmp_path), "--no-progress"]
    with serve_directory(mirror) as base_url:
        assert main([*argv, "--base-url", base_url]) == 0
    out = capsys.readouterr().out
    total = sum((mirror / r).stat().st_size for r in listing(mirror, "PAGES-2026", "warc")[:6])
    assert "6 files" in out and f"{total:,}" in out and "MB/s" in out
    assert main(["download", "--crawl", "X", "--files", "1", "--parallel", "0", "--out", str(tmp_path)]) == 2
    assert "--parallel: must be an integer of at least 1, got 0" in capsys.readouterr().err


# -- resuming, Range, retries ---------------------------------------------------------------


def test_cut_transfer_is_resumed_with_a_range_request(mirror: Path, tmp_path: Path):
    log: list[ServedRequest] = []
    with serve_directory(mirror, cut_after_bytes=40_000, log=log) as base_url:
        [result] = download_crawl("CC-MAIN-2020-34", "warc", 1, tmp_path, base_url=base_url, **FAST)
    assert result.resumed
    assert result.local_path.read_bytes() == (mirror / SPAM_WARC).read_bytes()
    first, second = requests_for(log, SPAM_WARC)
    assert (first.range, first.status, first.body_bytes) == (None, 200, 40_000)
    assert (second.range, second.status) == ("bytes=40000-", 206)
    assert second.body_bytes == (mirror / SPAM_WARC).stat().st_size - 40_000


def test_interrupted_run_leaves_a_part_file_that_a_rerun_continues(mirror: Path, tmp_path: Path):
    source = (mirror / SPAM_WARC).read_bytes()
    final = tmp_path / SPAM_WARC
    options = {**FAST, "retries": 0}
    with (
        serve_directory(mirror, cut_after_bytes=50_000) as base_url,
        pytest.raises(
            DownloadError, match=r"CC-MAIN-20200808165417-20200808195417-00395\.warc\.gz"
        ),
    ):
        download_crawl("CC-MAIN-2020-34", "warc", 1, tmp_path, base_url=base_url, **options)
    part = final.with_name(final.name + ".part")
    assert not final.exists()
    assert part.read_bytes() == source[:50_000]

    log: list[ServedRequest] = []
    with serve_directory(mirror, log=log) as base_url:
        [result] = download_crawl(
            "CC-MAIN-2020-34", "warc", 1, tmp_path, base_url=base_url, **options
        )
    assert result.resumed and result.fetched_bytes == len(source) - 50_000
    assert final.read_bytes() == source and not part.exists()
    [request] = requests_for(log, SPAM_WARC)
    assert (request.range, request.status) == ("bytes=50000-", 206)


def test_server_that_ignores_range_makes_the_download_start_over(mirror: Path, tmp_path: Path):
    source = (mirror / SPAM_WARC).read_bytes()
    final = tmp_path / SPAM_WARC
    final.parent.mkdir(parents=True)
    # A partial file that is NOT a prefix of the source: appending to it would corrupt the file.
    final.with_name(final.name + ".part").write_bytes(b"\0" * 1000)
    log: list[ServedRequest] = []
    with serve_directory(mirror, ignore_range=True, log=log) as base_url:
        [result] = download_crawl("CC-MAIN-2020-34", "warc", 1, tmp_path, base_url=base_url, **FAST)
    assert final.read_bytes() == source
    assert not result.resumed and result.fetched_bytes == len(source)
    [request] = requests_for(log, SPAM_WARC)
    assert (request.range, request.status) == ("bytes=1000-", 200)


def test_cut_transfer_from_a_server_that_ignores_range_still_completes(
    mirror: Path, tmp_path: Path
):
    log: list[ServedRequest] = []
    with serve_directory(mirror, cut_after_bytes=30_000, ignore_range=True, log=log) as base_url:
        [result] = download_crawl("CC-MAIN-2020-34", "warc", 1, tmp_path, base_url=base_url, **FAST)
    assert result.local_path.read_bytes() == (mirror / SPAM_WARC).read_bytes()
    statuses = [(r.range, r.status) for r in requests_for(log, SPAM_WARC)]
    assert statuses == [(None, 200), ("bytes=30000-", 200)]


def test_complete_part_file_is_finished_by_the_416_answer(mirror: Path, tmp_path: Path):
    source = (mirror / SPAM_WARC).read_bytes()
    final = tmp_path / SPAM_WARC
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".part").write_bytes(source)  # crashed just before the rename
    log: list[ServedRequest] = []
    with serve_directory(mirror, log=log) as base_url:
        [result] = download_crawl("CC-MAIN-2020-34", "warc", 1, tmp_path, base_url=base_url, **FAST)
    assert result.resumed and result.fetched_bytes == 0 and final.read_bytes() == source
    [request] = requests_for(log, SPAM_WARC)
    assert (request.range, request.status) == (f"bytes={len(source)}-", 416)


def test_part_file_longer_than_the_source_is_discarded(mirror: Path, tmp_path: Path):
    source = (mirror / SPAM_WARC).read_bytes()
    final = tmp_path / SPAM_WARC
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".part").write_bytes(source + b"stale tail")
    log: list[ServedRequest] = []
    with serve_directory(mirror, log=log) as base_url:
        download_crawl("CC-MAIN-2020-34", "warc", 1, tmp_path, base_url=base_url, **FAST)
    assert final.read_bytes() == source
    statuses = [(r.range, r.status) for r in requests_for(log, SPAM_WARC)]
    assert statuses == [(f"bytes={len(source) + 10}-", 416), (None, 200)]


def test_503_answers_are_retried(mirror: Path, tmp_path: Path):
    log: list[ServedRequest] = []
    with serve_directory(mirror, fail_first=2, log=log) as base_url:
        [result] = download_crawl("CC-MAIN-2024-22", "wet", 1, tmp_path, base_url=base_url, **FAST)
    assert result.local_path.read_bytes() == (mirror / result.relative_path).read_bytes()
    for relative in ("crawl-data/CC-MAIN-2024-22/wet.paths.gz", result.relative_path):
        assert [r.status for r in requests_for(log, relative)] == [503, 503, 200]


def test_persistent_failure_gives_up_after_the_retries_naming_the_file(
    mirror: Path, tmp_path: Path
):
    log: list[ServedRequest] = []
    with serve_directory(mirror, fail_first=10, log=log) as base_url:
        url = base_url + SPAM_WARC
        with pytest.raises(DownloadError) as failure:
            fetch_url(url, tmp_path / "x.warc.gz", retries=2, backoff=0.001, timeout=10.0)
    message = str(failure.value)
    assert url in message and "HTTP 503" in message and "gave up after 3 attempts" in message
    assert len(log) == 3 and not (tmp_path / "x.warc.gz").exists()


def test_missing_file_is_reported_at_once_with_its_url(tmp_path: Path):
    root = tmp_path / "mirror"
    [relative] = make_mirror(root, "GHOST-2026", {"present.warc.gz": b""})
    (root / relative).unlink()
    log: list[ServedRequest] = []
    with serve_directory(root, log=log) as base_url:
        with pytest.raises(InputError) as failure:
            download_crawl("GHOST-2026", "warc", 1, tmp_path / "out", base_url=base_url, **FAST)
        assert str(failure.value) == f"{base_url}{relative}: not found (HTTP 404 Not Found)"
    assert [r.status for r in requests_for(log, relative)] == [404]  # a 404 is not retried


def test_listing_that_points_outside_the_mirror_is_refused(tmp_path: Path):
    root = tmp_path / "mirror"
    (root / "crawl-data/EVIL-2026").mkdir(parents=True)
    (root / "crawl-data/EVIL-2026/warc.paths.gz").write_bytes(
        gzip.compress(b"../../escape.warc.gz\n")
    )
    with (
        serve_directory(root) as base_url,
        pytest.raises(InputError, match="line 1: refusing path"),
    ):
        download_crawl("EVIL-2026", "warc", 1, tmp_path / "out", base_url=base_url, **FAST)


def test_paths_file_that_is_not_gzip_is_an_input_error_and_not_cached(tmp_path: Path):
    root = tmp_path / "mirror"
    (root / "crawl-data/PLAIN-2026").mkdir(parents=True)
    (root / "crawl-data/PLAIN-2026/warc.paths.gz").write_bytes(b"crawl-data/x.warc.gz\n")
    out = tmp_path / "out"
    with (
        serve_directory(root) as base_url,
        pytest.raises(InputError, match="not a gzip-compressed"),
    ):
        download_crawl("PLAIN-2026", "warc", 1, out, base_url=base_url, **FAST)
    assert not (out / "crawl-data/PLAIN-2026/warc.paths.gz").exists()  # a rerun fetches it again


# -- samples of the first N records ---------------------------------------------------------


def test_records_sample_is_the_first_records_and_only_a_prefix_is_read(
    mirror: Path, tmp_path: Path
):
    source = (mirror / PAGES_0).read_bytes()
    log: list[ServedRequest] = []
    with serve_directory(mirror, log=log) as base_url:
        [result] = download_crawl(
            "PAGES-2026", "warc", 1, tmp_path, records=50, base_url=base_url, **FAST
        )
    sample = result.local_path.read_bytes()
    assert result.local_path == tmp_path / PAGES_0.replace(".warc.gz", ".first-50-records.warc.gz")
    assert result.records == 50 and result.bytes == len(sample)
    assert records_of(sample) == records_of(source)[:50]
    # One gzip member per record: the sample is the first 50 members, byte for byte.
    assert sample == b"".join(gzip_members(source)[:50])
    # The transfer stopped after the 50th member: at most one read chunk (64 KiB) beyond it.
    assert len(sample) <= result.fetched_bytes <= len(sample) + (64 << 10) < len(source)
    assert [r.range for r in requests_for(log, PAGES_0)] == [None]
    assert not list(tmp_path.rglob("*.part"))

    rerun_log: list[ServedRequest] = []
    with serve_directory(mirror, log=rerun_log) as base_url:
        [again] = download_crawl(
            "PAGES-2026", "warc", 1, tmp_path, records=50, base_url=base_url, **FAST
        )
    assert again.skipped and again.records == 50 and rerun_log == []
    assert again.local_path.read_bytes() == sample


def test_records_sample_resumes_from_a_record_boundary(mirror: Path, tmp_path: Path):
    source = (mirror / PAGES_0).read_bytes()
    expected = b"".join(gzip_members(source)[:50])
    with (
        serve_directory(mirror, cut_after_bytes=500_000) as base_url,
        pytest.raises(DownloadError, match=r"pages-00000\.warc\.gz"),
    ):
        download_crawl(
            "PAGES-2026",
            "warc",
            1,
            tmp_path,
            records=50,
            base_url=base_url,
            **{**FAST, "retries": 0},
        )
    part = tmp_path / PAGES_0.replace(".warc.gz", ".first-50-records.warc.gz.part")
    assert 0 < part.stat().st_size <= 500_000

    log: list[ServedRequest] = []
    with serve_directory(mirror, log=log) as base_url:
        [result] = download_crawl(
            "PAGES-2026", "warc", 1, tmp_path, records=50, base_url=base_url, **FAST
        )
    [request] = requests_for(log, PAGES_0)
    # Whole members only were kept, so the resume point is the end of a member of the source.
    resume_at = int(request.range.removeprefix("bytes=").removesuffix("-"))
    member_ends = set(itertools.accumulate(map(len, gzip_members(source))))
    assert resume_at in member_ends and request.status == 206
    assert result.resumed and result.local_path.read_bytes() == expected


def recompressed(plains: list[bytes], layout: str) -> bytes:
    """The same records, compressed in one of the other ways a WARC file can be."""
    whole = b"".join(plains)
    if layout == "uncompressed.warc":
        return whole
    if layout == "one-gzip-stream.warc.gz":
        pieces = [whole]
    elif layout == "seven-records-per-member.warc.gz":
        pieces = [b"".join(plains[i : i + 7]) for i in range(0, len(plains), 7)]
    else:  # members of 64 KiB of text each: records straddle member boundaries
        pieces = [whole[i : i + 65536] for i in range(0, len(whole), 65536)]
    return b"".join(gzip.compress(piece, compresslevel=1) for piece in pieces)


@pytest.mark.parametrize(
    "layout",
    [
        "one-gzip-stream.warc.gz",
        "seven-records-per-member.warc.gz",
        "records-split-across-members.warc.gz",
        "uncompressed.warc",
    ],
)
def test_records_sample_of_files_not_compressed_record_by_record(
    mirror: Path, tmp_path: Path, layout: str
):
    source = (mirror / PAGES_0).read_bytes()
    plains = [zlib.decompress(member, wbits=31) for member in gzip_members(source)]
    data = recompressed(plains, layout)
    expected_records = records_of(source)[:50]
    root = tmp_path / "mirror"
    make_mirror(root, "LAYOUT-2026", {layout: data})
    # A cut mid-transfer too: the retry must resume (or restart) without losing or doubling.
    with serve_directory(root, cut_after_bytes=400_000) as base_url:
        [result] = download_crawl(
            "LAYOUT-2026", "warc", 1, tmp_path / "out", records=50, base_url=base_url, **FAST
        )
    sample = result.local_path.read_bytes()
    assert result.local_path.name == sample_name(layout, 50)
    assert result.records == 50
    assert records_of(sample) == expected_records
    plain = sample if layout.endswith(".warc") else gzip.decompress(sample)
    assert plain == b"".join(plains[:50])
    assert result.fetched_bytes < len(data)


def test_records_sample_of_a_short_file_holds_all_its_records(mirror: Path, tmp_path: Path, caplog):
    last = "crawl-data/PAGES-2026/segments/sample/warc/pages-00014.warc.gz"
    with serve_directory(mirror) as base_url:
        [result] = download_crawl(
            "PAGES-2026", "warc", 1, tmp_path, offset=14, records=150, base_url=base_url, **FAST
        )
    assert result.records == 49 and "holds only 49 records (asked for 150)" in caplog.text
    assert result.local_path.read_bytes() == (mirror / last).read_bytes()


def test_records_sample_of_damaged_files(shared_data: Path, tmp_path: Path, caplog):
    edge = shared_data / "web/warc/edge"
    trunc = (edge / "warcio-example-trunc.warc").read_bytes()  # 3 records, then zero padding
    arc = (edge / "warcio-example.arc.gz").read_bytes()  # ARC, not WARC
    root = tmp_path / "mirror"
    relatives = make_mirror(root, "EDGE-2026", {"trunc.warc": trunc, "old.arc.gz": arc})
    with serve_directory(root) as base_url:
        sample = fetch_warc_sample(base_url + relatives[0], tmp_path / "trunc.warc", 10, **FETCH)
        with pytest.raises(
            WarcFormatError, match=r"old\.arc\.gz: record 1 .*expected a WARC record header"
        ):
            fetch_warc_sample(base_url + relatives[1], tmp_path / "old.warc.gz", 10, retries=0)
    # The three good records are kept and the damage is named, record and offset.
    assert sample.records == 3 and len(records_of(sample.local_path.read_bytes())) == 3
    assert "trunc.warc: record 4 (uncompressed offset 2560)" in caplog.text
    assert not (tmp_path / "old.warc.gz").exists() and not (tmp_path / "old.warc.gz.part").exists()


def test_sample_names_keep_the_warc_extensions():
    assert sample_name("pages-00000.warc.gz", 50) == "pages-00000.first-50-records.warc.gz"
    assert sample_name("whirlwind.warc.wet.gz", 5) == "whirlwind.first-5-records.warc.wet.gz"
    assert sample_name("x.warc", 1) == "x.first-1-records.warc"
    assert sample_name("notes.gz", 2) == "notes.first-2-records.gz"


# -- local copies ---------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["file-url", "plain-path"])
def test_local_mirror_by_file_url_or_plain_path(mirror: Path, tmp_path: Path, style: str):
    base = mirror.resolve().as_uri() if style == "file-url" else str(mirror)
    out = tmp_path / "out"
    results = download_crawl("CC-MAIN-2024-22", "wet", 1, out, base_url=base, **FAST)
    results += download_crawl("CC-MAIN-2020-34", "warc", 1, out, records=7, base_url=base, **FAST)
    assert results[0].local_path.read_bytes() == (mirror / results[0].relative_path).read_bytes()
    assert (
        records_of(results[1].local_path.read_bytes())
        == records_of((mirror / SPAM_WARC).read_bytes())[:7]
    )
    # The output is a mirror in turn: it can serve as the base of another download.
    [copy] = download_crawl(
        "CC-MAIN-2024-22", "wet", 1, tmp_path / "again", base_url=str(out), **FAST
    )
    assert copy.local_path.read_bytes() == results[0].local_path.read_bytes()


def test_local_partial_file_is_resumed(mirror: Path, tmp_path: Path):
    source = (mirror / SPAM_WARC).read_bytes()
    final = tmp_path / SPAM_WARC
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".part").write_bytes(source[:12_345])
    [result] = download_crawl("CC-MAIN-2020-34", "warc", 1, tmp_path, base_url=str(mirror), **FAST)
    assert result.resumed and result.fetched_bytes == len(source) - 12_345
    assert final.read_bytes() == source


# -- errors ---------------------------------------------------------------------------------


def test_unknown_crawl_id_names_the_url(mirror: Path, tmp_path: Path):
    with serve_directory(mirror) as base_url, pytest.raises(InputError) as failure:
        download_crawl("CC-MAIN-1999-01", "warc", 1, tmp_path, base_url=base_url, **FAST)
    message = str(failure.value)
    assert f"{base_url}crawl-data/CC-MAIN-1999-01/warc.paths.gz" in message
    assert "crawl 'CC-MAIN-1999-01'" in message and "404" in message
    assert list(tmp_path.iterdir()) == []


def test_kind_missing_from_a_crawl_is_an_input_error(mirror: Path, tmp_path: Path):
    with serve_directory(mirror) as base_url, pytest.raises(InputError, match="no wet file list"):
        download_crawl("PAGES-2026", "wet", 1, tmp_path, base_url=base_url, **FAST)


def test_bad_arguments_are_input_errors(tmp_path: Path):
    with pytest.raises(InputError, match="bad crawl id"):
        download_crawl("../etc", "warc", 1, tmp_path, base_url=str(tmp_path), **FAST)
    with pytest.raises(InputError, match="unknown file kind"):
        download_crawl("CC-MAIN-2024-22", "arc", 1, tmp_path, base_url=str(tmp_path), **FAST)
    with pytest.raises(InputError, match="files must be at least 1"):
        download_crawl("CC-MAIN-2024-22", "warc", 0, tmp_path, base_url=str(tmp_path), **FAST)


def test_unreachable_base_url_is_a_download_error_naming_it(tmp_path: Path):
    base_url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(DownloadError) as failure:
        download_crawl(
            "CC-MAIN-2024-22", "wet", 1, tmp_path, base_url=base_url, **{**FAST, "retries": 1}
        )
    message = str(failure.value)
    assert f"{base_url}crawl-data/CC-MAIN-2024-22/wet.paths.gz" in message
    assert "refused" in message.lower() and "gave up after 2 attempts" in message
    assert isinstance(failure.value, GristmillError)


# -- the command ----------------------------------------------------------------------------


def test_cli_downloads_and_prints_a_summary(mirror: Path, tmp_path: Path, capsys):
    argv = ["download", "--crawl", "CC-MAIN-2024-22", "--kind", "wet", "--files", "1"]
    argv += ["--out", str(tmp_path), "--backoff", "0.001", "--no-progress"]
    with serve_directory(mirror) as base_url:
        assert main([*argv, "--base-url", base_url]) == 0
        first = capsys.readouterr()
        assert main(["download", "crawl", *argv[1:], "--base-url", base_url]) == 0
        second = capsys.readouterr()
    assert "whirlwind.warc.wet.gz" in first.out and "3,006" in first.out
    assert "downloaded" in first.out and "0 skipped" in first.out
    assert "1 skipped" in second.out and "already complete, skipped" in second.err
    wet = "crawl-data/CC-MAIN-2024-22/segments/sample/wet/whirlwind.warc.wet.gz"
    assert (tmp_path / wet).read_bytes() == (mirror / wet).read_bytes()


def test_cli_quiet_prints_only_warnings_and_errors(mirror: Path, tmp_path: Path, capsys):
    argv = ["download", "--crawl", "CC-MAIN-2024-22", "--kind", "wet", "--files", "1", "-q"]
    with serve_directory(mirror) as base_url:
        assert main([*argv, "--out", str(tmp_path), "--base-url", base_url]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    wet = "crawl-data/CC-MAIN-2024-22/segments/sample/wet/whirlwind.warc.wet.gz"
    assert (tmp_path / wet).read_bytes() == (mirror / wet).read_bytes()


def test_cli_records_option_writes_a_named_sample(mirror: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # the whole name on one line of the table
    argv = ["download", "--crawl", "PAGES-2026", "--files", "1", "--records", "50"]
    with serve_directory(mirror) as base_url:
        assert main([*argv, "--out", str(tmp_path), "--base-url", base_url, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "pages-00000.first-50-records" in out.replace("\n", "")
    sample = tmp_path / PAGES_0.replace(".warc.gz", ".first-50-records.warc.gz")
    assert len(records_of(sample.read_bytes())) == 50


@pytest.mark.parametrize("case", ["unknown-crawl", "unreachable", "no-crawl"])
def test_cli_errors_exit_2_with_a_one_line_reason(mirror: Path, tmp_path: Path, capsys, case: str):
    argv = ["download", "--files", "1", "--out", str(tmp_path), "--retries", "0", "--no-progress"]
    if case == "unreachable":
        url = f"http://127.0.0.1:{free_port()}/"
        code = main([*argv, "--crawl", "CC-MAIN-2024-22", "--base-url", url])
        expected = f"{url}crawl-data/CC-MAIN-2024-22/warc.paths.gz"
    elif case == "unknown-crawl":
        with serve_directory(mirror) as url:
            code = main([*argv, "--crawl", "CC-MAIN-1999-01", "--base-url", url])
        expected = f"{url}crawl-data/CC-MAIN-1999-01/warc.paths.gz"
    else:
        code = main(argv)
        expected = "--crawl is required"
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith("gristmill download: error: ") and expected in line


def test_cli_rejects_bad_numbers_through_argparse(tmp_path: Path, capsys):
    assert main(["download", "--crawl", "X", "--files", "0", "--out", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--files: must be an integer of at least 1, got 0" in line


# -- the test mirror itself (others' tests rely on it) ----------------------------------------


def test_mirror_serves_byte_ranges_like_a_real_server(mirror: Path):
    import urllib.error
    import urllib.request

    data = (mirror / SPAM_WARC).read_bytes()
    with serve_directory(mirror) as base_url:
        url = base_url + SPAM_WARC

        def get(range_header: str) -> tuple[int, bytes, str | None]:
            request = urllib.request.Request(url, headers={"Range": range_header})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read(), response.headers["Content-Range"]
            except urllib.error.HTTPError as exc:
                return exc.code, b"", exc.headers["Content-Range"]

        assert get("bytes=10-19") == (206, data[10:20], f"bytes 10-19/{len(data)}")
        assert get("bytes=-7") == (
            206,
            data[-7:],
            f"bytes {len(data) - 7}-{len(data) - 1}/{len(data)}",
        )
        assert get(f"bytes={len(data)}-") == (416, b"", f"bytes */{len(data)}")
        assert get("bytes=0-4,10-14") == (200, data, None)  # multi-range: the whole file


def test_whole_file_without_a_length_cut_early_is_not_taken_as_complete(mirror: Path, tmp_path: Path):
    # No Content-Length: the early close looks like the end; the gzip members say it is not.
    source = (mirror / SPAM_WARC).read_bytes()
    log: list[ServedRequest] = []
    with serve_directory(mirror, send_length=False, cut_after_bytes=50_000, log=log) as base_url:
        result = fetch_url(base_url + SPAM_WARC, tmp_path / "x.warc.gz", **FETCH)
    assert result.local_path.read_bytes() == source
    assert [(r.range, r.status) for r in log] == [(None, 200), ("bytes=50000-", 206)]


def test_file_truncated_at_a_source_without_a_length_is_never_renamed_into_place(tmp_path: Path):
    served = tmp_path / "served"
    served.mkdir()
    data = gzip.compress(b"".join(b"line %d\n" % i for i in range(50_000)))
    (served / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    with (serve_directory(served, send_length=False) as base_url,
          pytest.raises(DownloadError, match="no size announced and the file is incomplete")):
        fetch_url(base_url + "cut.jsonl.gz", tmp_path / "cut.jsonl.gz", **FETCH)
    assert not (tmp_path / "cut.jsonl.gz").exists()


@pytest.mark.parametrize("which", ["listing", "warc-file"])
def test_no_length_and_a_close_before_any_byte_is_an_error_and_a_rerun_refetches(
        mirror: Path, tmp_path: Path, capsys, which: str):
    # Before: a 0-byte .warc.gz (or warc.paths.gz) was renamed into place as complete.
    out = tmp_path / "out"
    listing_path = "crawl-data/PAGES-2026/warc.paths.gz"
    if which == "warc-file":  # the listing is already here, so the cut hits the WARC file
        (out / listing_path).parent.mkdir(parents=True)
        (out / listing_path).write_bytes((mirror / listing_path).read_bytes())
    argv = ["download", "--crawl", "PAGES-2026", "--files", "1", "--out", str(out),
            "--retries", "0", "--no-progress", "-q"]
    with serve_directory(mirror, send_length=False, cut_after_bytes=0) as base_url:
        assert main([*argv, "--base-url", base_url]) == 2
    relative = listing_path if which == "listing" else PAGES_0
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"gristmill download: error: could not download {base_url}{relative}: no "
                    "size announced and the file is incomplete (truncated gzip stream at "
                    "compressed byte 0: the body is empty, which a gzip file never is) (gave up "
                    "after 1 attempt)")
    assert not (out / relative).exists()
    with serve_directory(mirror, send_length=False) as base_url:  # the rerun fetches it
        assert main([*argv, "--base-url", base_url]) == 0
    assert (out / PAGES_0).read_bytes() == (mirror / PAGES_0).read_bytes()


@pytest.mark.parametrize("name, body, reason", [
    ("x.warc.gz", b"<html>error page</html>",
     "corrupt gzip stream at compressed byte 0: the body is not gzip data (it starts with "
     "b'<html>er', not the gzip magic bytes)"),
    ("x.jsonl.zst", b"", "truncated zstd stream at compressed byte 0: the body is empty, which "
                         "a zstd file never is"),
    ("x.jsonl.zst", gzip.compress(b"{}\n"), "the body is not zstd data"),
], ids=["html-for-gz", "empty-zst", "gzip-for-zst"])
def test_no_length_and_a_body_unlike_its_name_is_never_renamed_into_place(
        tmp_path: Path, name: str, body: bytes, reason: str):
    served = tmp_path / "served"
    served.mkdir()
    (served / name).write_bytes(body)
    with (serve_directory(served, send_length=False) as base_url,
          pytest.raises(DownloadError) as failure):
        fetch_url(base_url + name, tmp_path / name, **FETCH)
    assert f"could not download {base_url}{name}: no size announced" in str(failure.value)
    assert reason in str(failure.value)
    assert not (tmp_path / name).exists()


def test_no_length_and_an_uncompressed_name_is_kept_with_a_warning(tmp_path: Path, caplog):
    served = tmp_path / "served"
    served.mkdir()
    (served / "x.warc").write_bytes(b"WARC/1.0\r\n\r\n")
    with serve_directory(served, send_length=False) as base_url:
        fetch_url(base_url + "x.warc", tmp_path / "x.warc", **FETCH)
    assert (tmp_path / "x.warc").read_bytes() == b"WARC/1.0\r\n\r\n"
    assert f"{base_url}x.warc: no size announced and not compressed" in caplog.text
