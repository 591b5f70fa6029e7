"""Inputs to files, files to streams and shard names (gristmill.io.paths, gristmill.io.formats)."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import xxhash

from gristmill.core.errors import InputError
from gristmill.io.formats import detect_format, split_extension
from gristmill.io.paths import common_root, expand_inputs, open_binary, shard_name

CRAWL = "commoncrawl/crawl-data"
PAGES = f"{CRAWL}/PAGES-2026/segments/sample/warc"
EDGE = "web/warc/edge"


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on loopback over a temporary folder: (base URL, folder)."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


# -- expand_inputs -----------------------------------------------------------------------------


def test_folder_expands_recursively_to_sorted_document_files(tmp_path: Path):
    for name in ("b/2.warc.gz", "a/1.jsonl.zst", "a/0.parquet", "c.warc.wet.gz", "d.json.gz",
                 "a/deep/er/3.jsonl", "z.warc"):
        _touch(tmp_path / name)
    for name in ("manifest.json", "notes.txt", "x.warc.wat.gz", "old.arc.gz", ".hidden.jsonl",
                 ".state/done.jsonl.zst", "a/.out.jsonl.zst.123.tmp"):
        _touch(tmp_path / name)
    files = expand_inputs([str(tmp_path)])
    rel = [str(Path(f).relative_to(tmp_path)) for f in files]
    assert rel == ["a/0.parquet", "a/1.jsonl.zst", "a/deep/er/3.jsonl", "b/2.warc.gz",
                   "c.warc.wet.gz", "d.json.gz", "z.warc"]


def test_real_crawl_folder_and_glob(shared_data: Path):
    folder = expand_inputs([str(shared_data / PAGES)])
    assert [Path(f).name for f in folder] == [f"pages-{i:05d}.warc.gz" for i in range(15)]
    globbed = expand_inputs([str(shared_data / PAGES / "pages-0001*.warc.gz")])
    assert [Path(f).name for f in globbed] == [f"pages-{i:05d}.warc.gz" for i in range(10, 15)]
    # The WAT of the CC-MAIN-2024-22 sample is not a document file; its WARC and WET are.
    sample = expand_inputs([str(shared_data / CRAWL / "CC-MAIN-2024-22")])
    assert [Path(f).name for f in sample] == ["whirlwind.warc.gz", "whirlwind.warc.wet.gz"]


def test_specs_keep_their_order_and_duplicates_are_dropped(tmp_path: Path):
    a, b = _touch(tmp_path / "b.jsonl"), _touch(tmp_path / "a.jsonl")
    url = "https://data.commoncrawl.org/crawl-data/x.warc.gz"
    files = expand_inputs([str(a), url, str(tmp_path), str(tmp_path / "." / "b.jsonl")])
    assert files == [str(a), url, str(b)]


def test_missing_inputs_are_named(tmp_path: Path):
    with pytest.raises(InputError, match=r"input not found: .*nope\.jsonl"):
        expand_inputs([str(tmp_path / "nope.jsonl")])
    with pytest.raises(InputError, match=r"no input matches '.*\*\.warc\.gz'"):
        expand_inputs([str(tmp_path / "*.warc.gz")])
    (tmp_path / "empty").mkdir()
    _touch(tmp_path / "empty" / "readme.txt")
    with pytest.raises(InputError, match="no input matches"):
        expand_inputs([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="no inputs"):
        expand_inputs([])
    with pytest.raises(InputError, match="unsupported URL scheme 's3'"):
        expand_inputs(["s3://bucket/crawl/x.warc.gz"])


def test_inputs_that_would_overwrite_each_other_are_refused(tmp_path: Path):
    _touch(tmp_path / "part.warc.gz")
    _touch(tmp_path / "part.jsonl.gz")
    with pytest.raises(InputError, match="both be written as shard 'part'"):
        expand_inputs([str(tmp_path)])


# -- common_root and shard_name ----------------------------------------------------------------


def test_shard_names_follow_the_crawl_layout(shared_data: Path):
    files = expand_inputs([str(shared_data / CRAWL / "CC-MAIN-2024-22"),
                           str(shared_data / PAGES / "pages-00000.warc.gz")])
    root = common_root(files)
    assert root == str((shared_data / CRAWL).resolve()) or root == str(shared_data / CRAWL)
    assert [shard_name(f, root) for f in files] == [
        "CC-MAIN-2024-22__segments__sample__warc__whirlwind",
        "CC-MAIN-2024-22__segments__sample__wet__whirlwind",
        "PAGES-2026__segments__sample__warc__pages-00000",
    ]
    one = str(shared_data / PAGES / "pages-00003.warc.gz")
    assert shard_name(one, common_root([one])) == "pages-00003"


def test_shard_names_do_not_depend_on_where_the_data_lives(tmp_path: Path):
    names = []
    for machine in ("m1/data", "m2/elsewhere/deeper"):
        base = tmp_path / machine
        files = [str(_touch(base / "crawl" / f"seg{i % 2}" / f"f-{i}.warc.gz"))
                 for i in range(3)]
        names.append([shard_name(f, common_root(files)) for f in files])
    assert names[0] == names[1] == ["seg0__f-0", "seg1__f-1", "seg0__f-2"]


def test_unsafe_characters_get_a_hash_so_names_stay_distinct(tmp_path: Path):
    a = _touch(tmp_path / "my file.jsonl")
    b = _touch(tmp_path / "my?file.jsonl")
    c = _touch(tmp_path / "my_file.jsonl")
    root = common_root([str(a), str(b), str(c)])
    na, nb, nc = (shard_name(str(p), root) for p in (a, b, c))
    assert nc == "my_file"
    assert na.startswith("my_file-") and nb.startswith("my_file-") and na != nb
    assert len({na, nb, nc}) == 3
    # The suffix is xxh64 (seed 0) of the relative path: the same on every machine and run.
    assert na == "my_file-" + xxhash.xxh64_hexdigest(b"my file.jsonl", seed=0)[:8]
    hidden = _touch(tmp_path / "sub" / ".x.jsonl")
    assert not shard_name(str(hidden), str(tmp_path)).startswith(".")


def test_common_root_of_urls_and_mixtures(tmp_path: Path):
    urls = [
        "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/segments/1/warc/a.warc.gz",
        "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/segments/2/warc/b.warc.gz",
    ]
    root = common_root(urls)
    assert root == "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-22/segments"
    assert [shard_name(u, root) for u in urls] == ["1__warc__a", "2__warc__b"]
    assert common_root([urls[0], "https://other.example/x.warc.gz"]) is None
    assert common_root([urls[0], str(tmp_path / "x.warc.gz")]) is None
    assert common_root([]) is None
    # Without a root the host is part of the name: still safe and distinct.
    assert shard_name(urls[0], None) == (
        "data.commoncrawl.org__crawl-data__CC-MAIN-2024-22__segments__1__warc__a")
    local = _touch(tmp_path / "d" / "x.jsonl.zst")
    file_url = local.as_uri()
    assert common_root([file_url]) == str(local.parent)
    assert shard_name(file_url, common_root([file_url])) == "x"


def test_extensions_are_stripped_longest_first():
    assert split_extension("a.b.warc.wet.gz") == ("a.b", ".warc.wet.gz")
    assert split_extension("x.jsonl.zst") == ("x", ".jsonl.zst")
    assert split_extension("x.json.gz") == ("x", ".json.gz")
    assert split_extension("README") == ("README", None)
    assert split_extension(".warc.gz") == (".warc.gz", None)


# -- detect_format ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [
    ("x.warc", "warc"), ("x.warc.gz", "warc"), ("X.WARC.GZ", "warc"), ("x.warc.zst", "warc"),
    ("x.warc.wet.gz", "wet"), ("x.wet", "wet"), ("x.wet.gz", "wet"),
    ("x.jsonl", "jsonl"), ("x.jsonl.gz", "jsonl"), ("x.jsonl.zst", "jsonl"),
    ("x.json.gz", "jsonl"), ("x.json.zst", "jsonl"), ("x.parquet", "parquet"),
    ("https://h/crawl/x.warc.gz", "warc"),
])
def test_detect_format_by_extension(name: str, fmt: str):
    assert detect_format(name) == fmt


def test_wat_and_arc_are_refused_with_a_reason(shared_data: Path):
    wat = shared_data / CRAWL / "CC-MAIN-2024-22/segments/sample/wat/whirlwind.warc.wat.gz"
    with pytest.raises(InputError, match="WAT files hold metadata, not documents"):
        detect_format(str(wat))
    with pytest.raises(InputError, match="ARC files are not supported"):
        detect_format(str(shared_data / EDGE / "warcio-example.arc.gz"))
    with pytest.raises(InputError, match="unknown document format"):
        detect_format("notes.txt")


def test_unknown_extension_is_sniffed_from_content(shared_data: Path, tmp_path: Path):
    assert detect_format(str(shared_data / EDGE / "warcio-example-bad.warc.gz.bad")) == "warc"
    arc = tmp_path / "renamed.bin"
    shutil.copy(shared_data / EDGE / "warcio-example.arc", arc)
    with pytest.raises(InputError, match="ARC files are not supported"):
        detect_format(str(arc))
    assert detect_format(str(_touch(tmp_path / "docs.ndjson", b'{"text": "a"}\n'))) == "jsonl"
    with pytest.raises(InputError, match="unknown document format"):
        detect_format(str(_touch(tmp_path / "x.bin", b"\x00\x01binary")))


# -- open_binary --------------------------------------------------------------------------------


def test_open_binary_local_file_url_and_http(tmp_path: Path, http_root: tuple[str, Path]):
    payload = bytes(range(256)) * 1000
    local = _touch(tmp_path / "blob.bin", payload)
    with open_binary(str(local)) as f:
        assert f.read() == payload
    with open_binary(local.as_uri()) as f:
        assert f.read() == payload
    base, served = http_root
    _touch(served / "dir" / "blob.bin", payload)
    with open_binary(f"{base}/dir/blob.bin") as f:
        assert f.peek(4)[:4] == payload[:4]
        assert f.read() == payload


def test_open_binary_errors_name_the_input(tmp_path: Path, http_root: tuple[str, Path]):
    with pytest.raises(InputError, match=r"input not found: .*missing\.bin"):
        open_binary(str(tmp_path / "missing.bin"))
    base, _ = http_root
    with pytest.raises(InputError, match=r"input not found: .*/nothing-here\.warc\.gz"):
        open_binary(f"{base}/nothing-here.warc.gz")


def test_uncompressed_twins_get_a_tag(shared_data: Path):
    files = expand_inputs([str(shared_data / EDGE)])
    names = [shard_name(f, common_root(files)) for f in files]
    assert len(set(names)) == len(names)
    assert "block-sized-records" in names and "block-sized-records-warc" in names
    assert "warcio-example" in names and "warcio-example-warc" in names
    assert shard_name("/d/x.jsonl", "/d") == "x" and shard_name("/d/x.wet", "/d") == "x-wet"
    assert shard_name("/d/x.warc.zst", "/d") == "x-warc-zst"


def test_folder_input_warns_about_files_it_does_not_read(shared_data, caplog):
    import logging

    from gristmill.io.paths import expand_inputs

    with caplog.at_level(logging.WARNING, logger="gristmill.io.paths"):
        files = expand_inputs([str(shared_data / "web" / "warc" / "edge")])
    assert not any(f.endswith((".arc", ".arc.gz", ".bad")) for f in files)
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "5 file(s) not in a document format were not read" in warning
    assert "warcio-example.arc" in warning
