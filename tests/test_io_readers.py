"""Readers on real crawl files, the WARC edge-case collection, and damaged inputs."""

from __future__ import annotations

import functools
import gzip
import http.server
import shutil
import threading
import urllib.parse
import zlib
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from fastwarc.warc import ArchiveIterator

from gristmill.core.document import Document
from gristmill.core.errors import InputError, RecordError
from gristmill.io.http_payload import dechunk, decode_body, decode_content
from gristmill.io.readers import read_documents
from gristmill.io.urls import clean_target_uri, url_host

CRAWL = "commoncrawl/crawl-data"
CC2020 = f"{CRAWL}/CC-MAIN-2020-34/segments/sample/warc/CC-MAIN-20200808165417-20200808195417-00395.warc.gz"
CC2024 = f"{CRAWL}/CC-MAIN-2024-22/segments/sample"
PAGES = f"{CRAWL}/PAGES-2026/segments/sample/warc"
EDGE = "web/warc/edge"
MORE = "web/more"

ARC = "arc"
# Expected (documents, errors, skipped) for every file of web/warc/edge, checked by hand:
# `zcat -f FILE | grep -a '^WARC-Type:' | sort | uniq -c` lists the records; responses,
# resources and conversions are documents. clipped.warc.gz holds one response whose
# Content-Length (88,275) runs past the end of the file. warcio-example-trunc.warc declares
# its response 2 bytes short (973 instead of 975, cf. warcio-example.warc), so the next header
# is garbage; reading resumes at the request record after it. ARC files are refused.
EDGE_EXPECTED: dict[str, tuple[int, int, dict[str, int]] | str] = {
    "block-sized-records.warc": (0, 0, {"warc:unknown": 3}),
    "block-sized-records.warc.gz": (0, 0, {"warc:unknown": 3}),
    "clipped.warc.gz": (0, 1, {}),
    "clueweb-quirk.warc.gz": (29, 0, {"warc:warcinfo": 1}),
    "warcio-bad.arc": ARC,
    "warcio-example-bad-non-chunked.warc.gz": (
        1, 0, {"warc:warcinfo": 2, "warc:request": 2, "warc:revisit": 1}),
    "warcio-example-bad.warc.gz.bad": (
        2, 0, {"warc:warcinfo": 1, "warc:request": 2, "warc:revisit": 1}),
    "warcio-example-digest.warc": (0, 0, {"warc:request": 4}),
    "warcio-example-iana.org-chunked.warc": (1, 0, {"warc:warcinfo": 1, "warc:request": 1}),
    "warcio-example-resource.warc.gz": (1, 0, {"warc:warcinfo": 2}),
    "warcio-example-space-in-target-uri.warc.gz": (1, 0, {"warc:warcinfo": 1}),
    "warcio-example-space-in-url.arc": ARC,
    "warcio-example-trunc.warc": (1, 1, {"warc:warcinfo": 2, "warc:request": 1}),
    "warcio-example-wget-bad-target-uri.warc.gz": (
        3, 0, {"warc:warcinfo": 1, "warc:request": 1, "warc:metadata": 1}),
    "warcio-example-wrong-chunks.warc.gz": (1, 0, {"warc:request": 1}),
    "warcio-example.arc": ARC,
    "warcio-example.arc.gz": ARC,
    "warcio-example.warc": (1, 0, {"warc:warcinfo": 2, "warc:request": 2, "warc:revisit": 1}),
    "warcio-example.warc.gz": (1, 0, {"warc:warcinfo": 2, "warc:request": 2, "warc:revisit": 1}),
    "warcio-post-test.warc.gz": (3, 0, {"warc:request": 3}),
}


def _split(items: list[Document | RecordError]) -> tuple[list[Document], list[RecordError]]:
    docs = [i for i in items if isinstance(i, Document)]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert len(docs) + len(errors) == len(items)
    return docs, errors


def _read(path: Path | str, **kwargs: str) -> tuple[list[Document], list[RecordError], Counter]:
    reader = read_documents(str(path), **kwargs)
    docs, errors = _split(list(reader))
    return docs, errors, reader.skipped


def _warc_record(record_id: str | None, uri: str, http: bytes, rtype: str = "response") -> bytes:
    headers = [b"WARC/1.0", b"WARC-Type: " + rtype.encode()]
    if record_id:
        headers.append(b"WARC-Record-ID: <urn:uuid:" + record_id.encode() + b">")
    headers += [b"WARC-Target-URI: " + uri.encode(), b"WARC-Date: 2026-01-01T00:00:00Z",
                b"Content-Type: application/http; msgtype=response",
                b"Content-Length: " + str(len(http)).encode()]
    return b"\r\n".join(headers) + b"\r\n\r\n" + http + b"\r\n\r\n"


def _http(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: text/html; charset=utf-8", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture(scope="module")
def served(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, folder) of a loopback HTTP server; ``<base>/shared`` is the shared data."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "shared").symlink_to(shared_data, target_is_directory=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


# -- the edge-case collection -------------------------------------------------------------------


def test_every_edge_file_is_read_with_exact_counts(shared_data: Path):
    folder = shared_data / EDGE
    assert sorted(p.name for p in folder.iterdir()) == sorted(EDGE_EXPECTED)
    for name, expected in EDGE_EXPECTED.items():
        path = folder / name
        if expected == ARC:
            with pytest.raises(InputError, match="ARC files are not supported"):
                read_documents(str(path))
            continue
        docs, errors, skipped = _read(path)
        assert (len(docs), len(errors), dict(skipped)) == expected, name
        for err in errors:
            assert err.source == str(path) and isinstance(err.offset, int)
        for doc in docs:
            assert doc.id and doc.metadata["source_file"] == name
            assert doc.content is not None and doc.text == ""


def test_edge_errors_name_offset_and_cause(shared_data: Path):
    _, errors, _ = _read(shared_data / EDGE / "clipped.warc.gz")
    assert errors[0].offset == 0
    assert "response record truncated: 74970 of 88038 payload bytes" in errors[0].message
    docs, errors, _ = _read(shared_data / EDGE / "warcio-example-trunc.warc")
    assert docs[0].metadata["record_offset"] == 1197
    assert errors[0].offset == 1197 and "unreadable WARC data after the record" in errors[0].message


def test_clueweb_bare_lf_http_headers_and_lying_content_encoding(shared_data: Path):
    docs, _, _ = _read(shared_data / EDGE / "clueweb-quirk.warc.gz")
    for doc in docs:
        # HTTP headers end with bare LF; the stored page is plain HTML although the header
        # says "Content-Encoding: gzip": it must come through untouched.
        assert doc.content.startswith(b"<html>")
        assert doc.metadata["http_charset"] == "euc-jp"
        assert doc.metadata["content_type"] == "text/html"
        assert doc.metadata["http_status"] == 200
        assert doc.metadata["host"] == "www.uraharajuku.st"
        assert doc.url.startswith("http://www.uraharajuku.st/shopdetail/")
    assert docs[0].id == "urn:uuid:8789ea4e-e914-4ec6-8b7a-ecdd45d340a7"


def test_http_transfer_and_content_encodings_are_undone(shared_data: Path):
    [chunked], _, _ = _read(shared_data / EDGE / "warcio-example-iana.org-chunked.warc")
    assert chunked.content.startswith(b"<!doctype html>")
    assert len(chunked.content) == 7223
    assert b"\r\n0\r\n" not in chunked.content[-10:]
    [gzipped], _, _ = _read(shared_data / EDGE / "warcio-example.warc.gz")
    assert gzipped.content.startswith(b"<!doctype html>") and b"Example Domain" in gzipped.content


def test_odd_target_uris_and_resource_records(shared_data: Path):
    docs, _, _ = _read(shared_data / EDGE / "warcio-example-wget-bad-target-uri.warc.gz")
    assert [d.url for d in docs] == [
        "http://example.com/",
        "metadata://gnu.org/software/wget/warc/wget_arguments.txt",
        "metadata://gnu.org/software/wget/warc/wget.log",
    ]
    assert [d.metadata["warc_type"] for d in docs] == ["response", "resource", "resource"]
    assert docs[0].id == "urn:uuid:FD8A6D04-AF8A-4A36-A889-8094487CDF2D"
    assert [d.metadata["host"] for d in docs] == ["example.com", "gnu.org", "gnu.org"]
    [png], _, _ = _read(shared_data / EDGE / "warcio-example-space-in-target-uri.warc.gz")
    assert png.url == "file:///example with spaces.png" and png.metadata["host"] == ""
    assert png.metadata["content_type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert png.metadata["http_status"] is None


# -- real crawl files ---------------------------------------------------------------------------


def test_common_crawl_2020_excerpt(shared_data: Path):
    path = shared_data / CC2020
    docs, errors, skipped = _read(path)
    assert (len(docs), errors) == (16, [])
    assert dict(skipped) == {"warc:warcinfo": 1, "warc:request": 17, "warc:metadata": 16}
    indexes = [d.metadata["record_index"] for d in docs]
    assert indexes == sorted(set(indexes))
    for doc in docs:
        meta = doc.metadata
        assert set(meta) == {"warc_record_id", "warc_date", "warc_type", "host", "content_type",
                             "http_charset", "http_status", "source_file", "record_offset",
                             "record_index"}
        assert meta["source_file"] == path.name and meta["warc_type"] == "response"
        assert doc.id == meta["warc_record_id"] and doc.id.startswith("urn:uuid:")
        assert meta["host"] == urllib.parse.urlsplit(doc.url).hostname
        assert not doc.content.startswith(b"HTTP/")  # the body, without HTTP headers
        # record_offset points at the record: a reader started there finds the same record.
        with open(path, "rb") as f:
            f.seek(meta["record_offset"])
            record = next(iter(ArchiveIterator(f)))
        assert record.record_id == f"<{doc.id}>"


def test_common_crawl_2024_warc_and_wet_agree(shared_data: Path):
    [page], _, skipped = _read(shared_data / CC2024 / "warc/whirlwind.warc.gz")
    assert dict(skipped) == {"warc:warcinfo": 1, "warc:request": 1, "warc:metadata": 1}
    assert page.url == "https://an.wikipedia.org/wiki/Escopete"
    assert page.metadata["host"] == "an.wikipedia.org" and b"Escopete" in page.content
    reader = read_documents(str(shared_data / CC2024 / "wet/whirlwind.warc.wet.gz"))
    assert reader.format == "wet"
    [text], errors = _split(list(reader))
    assert errors == [] and dict(reader.skipped) == {"warc:warcinfo": 1}
    assert text.content is None and text.text.startswith("Escopete - Biquipedia")
    assert text.metadata["warc_type"] == "conversion"
    assert text.metadata["content_type"] == "text/plain"
    assert text.metadata["warc_refers_to"] == page.id  # the WET record names its WARC record
    with pytest.raises(InputError, match="WAT files hold metadata"):
        read_documents(str(shared_data / CC2024 / "wat/whirlwind.warc.wat.gz"))


def test_pages_2026_all_records(shared_data: Path):
    files = sorted((shared_data / PAGES).glob("pages-*.warc.gz"))
    counts, ids = [], set()
    for path in files:
        docs, errors, skipped = _read(path)
        assert errors == [] and not skipped
        counts.append(len(docs))
        for doc in docs:
            assert doc.url.startswith(("http://", "https://")) and doc.content
            assert doc.metadata["host"] == urllib.parse.urlsplit(doc.url).hostname.lower()
            ids.add(doc.id)
    assert counts == [100] * 14 + [49]
    assert len(ids) == 1449


def test_wget_warcs(shared_data: Path):
    expected = {"sample-0000.warc.gz": (24, 22), "sample-0001.warc.gz": (17, 15)}
    for name, (n_docs, n_requests) in expected.items():
        docs, errors, skipped = _read(shared_data / "web/warc/wget" / name)
        assert (len(docs), errors) == (n_docs, [])
        assert dict(skipped) == {"warc:warcinfo": 1, "warc:request": n_requests,
                                 "warc:metadata": 1}
        assert all(not d.url.startswith("<") for d in docs)  # wget's <...> URIs are cleaned


def test_warc_over_http_equals_local(shared_data: Path, served: tuple[str, Path]):
    local, _, _ = _read(shared_data / CC2020)
    remote, errors, skipped = _read(f"{served[0]}/shared/{CC2020}")
    assert errors == [] and skipped["warc:request"] == 17
    assert [(d.id, d.url, d.metadata, d.content) for d in remote] == [
        (d.id, d.url, d.metadata, d.content) for d in local]


def test_reader_is_lazy_and_restartable(shared_data: Path, tmp_path: Path):
    with pytest.raises(InputError, match="input not found"):
        read_documents(str(tmp_path / "missing.warc.gz"))
    reader = read_documents(str(shared_data / CC2020), name="crawl/part-0.warc.gz")
    first = list(islice(reader, 3))
    assert [d.metadata["source_file"] for d in first] == ["crawl/part-0.warc.gz"] * 3
    again = list(reader)
    assert len(again) == 16 and again[:3] == first
    assert reader.skipped["warc:request"] == 17  # counted afresh on each iteration


# -- damaged WARC files -------------------------------------------------------------------------


def test_truncated_gzip_warc_gives_a_prefix_and_one_error(shared_data: Path, tmp_path: Path):
    data = (shared_data / CC2020).read_bytes()
    full = [d.id for d in _read(shared_data / CC2020)[0]]
    offsets = [r.stream_pos for r in ArchiveIterator(str(shared_data / CC2020))]
    assert offsets[:4] == [0, 481, 940, 11845]
    cut_path = tmp_path / "cut.warc.gz"
    # inside a response body, a request, a gzip header (fastwarc sees nothing of that
    # member), a gzip trailer, and exactly on member boundaries
    for cut, expect_error in [(5000, True), (700, True), (38526, True), (106152, True),
                              (87330, True), (11845, False), (31915, False)]:
        cut_path.write_bytes(data[:cut])
        docs, errors, _ = _read(cut_path)
        assert [d.id for d in docs] == full[: len(docs)], cut
        assert len(errors) == (1 if expect_error else 0), (cut, errors)
        if errors:
            assert errors[0].offset <= cut


def test_truncated_plain_warc(shared_data: Path, tmp_path: Path):
    data = gzip.decompress((shared_data / CC2020).read_bytes())
    full = [d.id for d in _read(shared_data / CC2020)[0]]
    path = tmp_path / "cut.warc"
    for cut in (300, 10_000, 60_000, len(data) - 10):
        path.write_bytes(data[:cut])
        docs, errors, _ = _read(path)
        assert [d.id for d in docs] == full[: len(docs)]
        assert len(errors) == 1, cut


def test_corrupt_gzip_member_loses_only_its_record(shared_data: Path, tmp_path: Path):
    full, _, _ = _read(shared_data / CC2020)
    data = bytearray((shared_data / CC2020).read_bytes())
    for i in range(40_000, 40_030):  # inside the member of one response record
        data[i] ^= 0x55
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(bytes(data))
    docs, errors, _ = _read(path)
    assert len(errors) == 1 and "Gzip decompression error" in errors[0].message
    assert len(docs) == 15
    lost = [d for d in full if d.id not in {x.id for x in docs}]
    assert len(lost) == 1 and lost[0].metadata["record_offset"] > errors[0].offset
    by_id = {d.id: d for d in full}
    for doc in docs:
        assert doc.content == by_id[doc.id].content
        assert doc.metadata["record_offset"] == by_id[doc.id].metadata["record_offset"]


def test_garbage_arc_and_empty_files(shared_data: Path, tmp_path: Path):
    arc_named_warc = tmp_path / "old.warc"
    shutil.copy(shared_data / EDGE / "warcio-example.arc", arc_named_warc)
    docs, errors, _ = _read(arc_named_warc)
    assert docs == [] and len(errors) == 1 and "ARC files are not supported" in errors[0].message
    garbage = tmp_path / "garbage.warc"
    garbage.write_bytes(b"this is not a WARC file\r\n\r\nat all\r\n")
    docs, errors, _ = _read(garbage)
    assert docs == [] and len(errors) == 1 and errors[0].offset == 0
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    assert _read(empty)[:2] == ([], [])


def test_lying_transfer_encoding_does_not_stop_the_file(tmp_path: Path):
    not_chunked = _http(b"<html>plain body</html>", "Transfer-Encoding: chunked")
    path = tmp_path / "synthetic.warc"
    path.write_bytes(
        _warc_record("1", "http://A.example:8080/x", not_chunked)
        + _warc_record(None, "<http://b.example/y>", _http(b"<p>second</p>"))
        + _warc_record("3", "http://c.example/", _http(b"tail"), rtype="revisit")
    )
    docs, errors, skipped = _read(path)
    assert errors == [] and dict(skipped) == {"warc:revisit": 1}
    assert docs[0].content == b"<html>plain body</html>"
    assert docs[0].metadata["host"] == "a.example"
    assert docs[1].id == "synthetic.warc:1"  # no WARC-Record-ID: file name and record index
    assert docs[1].url == "http://b.example/y" and docs[1].content == b"<p>second</p>"


# -- helpers on the read path -------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://Example.COM/a", "https://user:pw@host.example:8443/p?q#f", "http://h.example?x=1",
    "http://[2001:db8::1]:80/x", "http://h.example#frag", "ftp://files.example", "http://h.",
])
def test_url_host_agrees_with_urlsplit(url: str):
    assert url_host(url) == (urllib.parse.urlsplit(url).hostname or "")


def test_url_helpers_edge_cases():
    assert url_host("no scheme here") == ""
    assert url_host("mailto:a@b") == ""
    assert clean_target_uri(" <http://x/> ") == "http://x/"
    assert clean_target_uri(None) == ""


def test_http_payload_decoding():
    assert dechunk(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n") == b"hello world"
    assert dechunk(b"4\nabcd\n0\n") == b"abcd"
    assert dechunk(b"a\r\n0123") == b"0123"  # truncated last chunk keeps what is there
    assert dechunk(b"<html>") is None and dechunk(b"zz\r\nabc") is None
    body = b"<p>caf\xc3\xa9</p>" * 50
    assert decode_content(gzip.compress(body), "gzip") == body
    assert decode_content(zlib.compress(body), "deflate") == body
    raw = zlib.compressobj(wbits=-15)
    assert decode_content(raw.compress(body) + raw.flush(), "deflate") == body
    assert decode_content(body, "gzip") is None and decode_content(body, "br") is None
    assert decode_body(body, "chunked", "gzip") == body  # neither applies: stored bytes kept


# -- JSONL --------------------------------------------------------------------------------------


def test_jsonl_real_files(shared_data: Path):
    expected = {"se_archives": 5000, "spamassassin": 2146, "wikipedia": 3000}
    for source, count in expected.items():
        path = shared_data / MORE / f"{source}-00000.jsonl.gz"
        docs, errors, skipped = _read(path)
        assert (len(docs), errors, dict(skipped)) == (count, [], {})
        assert all(d.id.startswith(f"{source}:") and d.text for d in docs)
        assert {"source", "license", "meta"} <= set(docs[0].metadata)
        assert docs[0].metadata["source"] == source
    wiki = _read(shared_data / MORE / "wikipedia-00000.jsonl.gz")[0]
    assert all(d.url.startswith("https://en.wikipedia.org/") for d in wiki)


def test_jsonl_bad_lines_are_errors_and_reading_goes_on(tmp_path: Path):
    lines = [
        b'{"id": "a", "text": "first", "url": "http://x/", "metadata": {"k": 1}}',
        b'{"id": "b", "text": "unterminated',
        b"",
        b"[1, 2, 3]",
        b'{"id": "c", "text": 42}',
        b'{"id": "d", "text": "caf\xe9 latin-1 byte"}',
        b'{"text": "lone \\ud800 surrogate", "metadata": {"WARC-Target-URI": "http://d/",'
        b' "WARC-Record-ID": "<urn:uuid:x>"}}',
        b'   \r',
        b'{"text": "no id, crlf ending"}\r',
        b'{"id": "e", "text": "last line without newline"}',
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines))
    items = list(read_documents(str(path)))
    docs, errors = _split(items)
    assert [(e.offset, e.message.split(":")[0]) for e in errors] == [
        (2, "invalid JSON"),
        (4, "expected a JSON object, got list"),
        (5, "field 'text' must be a string, got int"),
        (6, "line is not valid UTF-8 (invalid continuation byte at byte 24)"),
    ]
    assert all(e.source == str(path) for e in errors)
    assert [d.id for d in docs] == ["a", "<urn:uuid:x>", "mixed.jsonl:9", "e"]
    assert docs[1].text == "lone \ufffd surrogate" and docs[1].url == "http://d/"
    reader = read_documents(str(path))
    list(reader)
    assert dict(reader.skipped) == {"jsonl:blank_line": 2}


def test_truncated_gzip_jsonl_is_one_error_after_the_good_lines(shared_data: Path,
                                                               tmp_path: Path):
    source = shared_data / MORE / "wikipedia-00000.jsonl.gz"
    full = [d.id for d in _read(source)[0]]
    data = source.read_bytes()
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    items = list(read_documents(str(path)))
    docs, errors = _split(items)
    assert 0 < len(docs) < len(full) and [d.id for d in docs] == full[: len(docs)]
    assert len(errors) == 1 and items[-1] is errors[0]
    assert errors[0].offset == len(docs) + 1
    assert "truncated gzip stream" in errors[0].message
    assert f"line {len(docs) + 1} is incomplete" in errors[0].message


def test_truncated_and_corrupt_zstd_jsonl(shared_data: Path, tmp_path: Path):
    docs = _read(shared_data / MORE / "spamassassin-00000.jsonl.gz")[0]
    raw = b"".join(orjson.dumps({"id": d.id, "text": d.text}) + b"\n" for d in docs)
    data = zstandard.ZstdCompressor(level=3).compress(raw)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[: len(data) // 3])
    got, errors, _ = _read(path)
    assert 0 < len(got) < len(docs) and [d.id for d in got] == [d.id for d in docs[: len(got)]]
    assert len(errors) == 1 and "truncated zstd stream" in errors[0].message
    corrupt = bytearray(data)
    for i in range(len(data) // 2, len(data) // 2 + 64):
        corrupt[i] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    got, errors, _ = _read(path)
    assert len(got) < len(docs) and len(errors) == 1 and "zstd" in errors[0].message


def test_jsonl_codec_comes_from_magic_bytes_and_members_concatenate(tmp_path: Path):
    part1 = gzip.compress(b'{"id": "1", "text": "one"}\n')
    part2 = gzip.compress(b'{"id": "2", "text": "two"}\n') + b"\x00" * 512  # padded
    path = tmp_path / "misnamed.jsonl"  # gzip data under a plain name
    path.write_bytes(part1 + part2)
    docs, errors, _ = _read(path)
    assert errors == [] and [d.text for d in docs] == ["one", "two"]
    cctx = zstandard.ZstdCompressor(level=3)
    frames = tmp_path / "frames.jsonl.zst"  # two zstd frames, as pzstd and appenders write
    frames.write_bytes(cctx.compress(b'{"id": "1", "text": "one"}\n')
                       + cctx.compress(b'{"id": "2", "text": "two"}'))
    docs, errors, _ = _read(frames)
    assert errors == [] and [d.text for d in docs] == ["one", "two"]


def test_jsonl_over_http(served: tuple[str, Path]):
    docs, errors, _ = _read(f"{served[0]}/shared/{MORE}/wikipedia-00000.jsonl.gz")
    assert (len(docs), errors) == (3000, [])
    assert docs[0].metadata["source"] == "wikipedia"


# -- Parquet ------------------------------------------------------------------------------------


def test_parquet_dclm_layout_with_struct_metadata(tmp_path: Path):
    n = 2500
    table = pa.table({
        "text": [f"document {i}" for i in range(n)],
        "url": [f"https://site{i % 7}.example/{i}" for i in range(n)],
        "metadata": [{"WARC-Record-ID": f"<urn:uuid:{i}>", "WARC-Type": "response"}
                     for i in range(n)],
        "language_id_whole_page_fasttext": [{"en": 0.5 + i / (2 * n)} for i in range(n)],
        "previous_word_count": list(range(n)),
    })
    path = tmp_path / "dclm.parquet"
    pq.write_table(table, path, row_group_size=1000)
    assert pq.ParquetFile(path).num_row_groups == 3
    docs, errors, _ = _read(path)
    assert (len(docs), errors) == (n, [])
    assert [d.text for d in docs] == [f"document {i}" for i in range(n)]
    last = docs[-1]
    assert last.id == f"<urn:uuid:{n - 1}>"
    assert last.metadata["previous_word_count"] == n - 1
    assert last.metadata["language_id_whole_page_fasttext"]["en"] == pytest.approx(1 - 1 / (2 * n))


def test_parquet_bad_rows_and_bad_files(tmp_path: Path):
    path = tmp_path / "json-meta.parquet"
    pq.write_table(pa.table({
        "id": ["a", "b", "c"], "text": ["x", "y", "z"],
        "metadata": ['{"k": 1}', "{not json", ""],
    }), path)
    docs, errors, _ = _read(path)
    assert [d.id for d in docs] == ["a", "c"]
    assert docs[0].metadata == {"k": 1} and docs[1].metadata == {}
    assert [(e.offset, e.message.split(":")[0]) for e in errors] == [
        (1, "column 'metadata' is not valid JSON")]
    no_text = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": [7]}), no_text)
    docs, errors, _ = _read(no_text)
    assert docs == [] and "must be a string" in errors[0].message
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(path.read_bytes()[:-20])
    docs, errors, _ = _read(broken)
    assert docs == [] and len(errors) == 1 and "not a readable Parquet file" in errors[0].message


def test_parquet_over_http_and_file_url(served: tuple[str, Path]):
    base, folder = served
    path = folder / "remote.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["t", "u"], "url": ["x", "y"]}), path)
    for location in (f"{base}/remote.parquet", path.as_uri()):
        docs, errors, _ = _read(location)
        assert errors == [] and [(d.id, d.text, d.url) for d in docs] == [
            ("a", "t", "x"), ("b", "u", "y")]
