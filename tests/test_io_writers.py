"""Writers: round trips, byte-identical output, atomic commit, unrepresentable text."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest
import zstandard

from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.io.parquet import ROW_GROUP_ROWS, SCHEMA
from gristmill.io.readers import read_documents
from gristmill.io.writers import open_writer, writer_format

FORMATS = ["jsonl.zst", "jsonl.gz", "jsonl", "parquet"]
CC2020 = ("commoncrawl/crawl-data/CC-MAIN-2020-34/segments/sample/warc/"
          "CC-MAIN-20200808165417-20200808195417-00395.warc.gz")


def _fields(doc: Document) -> tuple:
    return doc.id, doc.text, doc.url, doc.metadata


def _write(path: Path, docs: list[Document], fmt: str | None = None) -> Path:
    with open_writer(path, fmt) as writer:
        for doc in docs:
            writer.write(doc)
    return path


def _read_back(path: Path) -> list[Document]:
    items = list(read_documents(str(path)))
    assert not [i for i in items if isinstance(i, RecordError)]
    return items  # type: ignore[return-value]


@pytest.fixture(scope="module")
def real_docs(shared_data: Path) -> list[Document]:
    """Real documents of three kinds plus hand-made hard cases."""
    docs: list[Document] = []
    for name in ("wikipedia", "spamassassin"):
        reader = read_documents(str(shared_data / f"web/more/{name}-00000.jsonl.gz"))
        docs += [d for _, d in zip(range(300), reader, strict=False)]  # type: ignore[misc]
    docs += [
        Document(id="empty"),
        Document(id="unicode", text="Grüße, 日本語, emoji 😀, rtl שלום, nul \x00 and\nnew\r\nlines",
                 url="https://bücher.example/ä?q=ü",
                 metadata={"nested": {"list": [1, 2.5, None, True], "s": "ß"}, "n": -3}),
        Document(id="html-in-text", text="<script>alert('x')</script> \"quoted\" \\ backslash",
                 metadata={"score": 0.1 + 0.2, "big": 2**62}),
    ]
    return docs


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_gives_identical_documents(tmp_path: Path, real_docs: list[Document],
                                              fmt: str):
    path = _write(tmp_path / f"out.{fmt}", real_docs)
    back = _read_back(path)
    assert [_fields(d) for d in back] == [_fields(d) for d in real_docs]


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_input_gives_the_same_bytes(tmp_path: Path, real_docs: list[Document], fmt: str):
    first = _write(tmp_path / "a" / f"out.{fmt}", real_docs).read_bytes()
    # Same documents whose metadata keys were added in another order (nested too).
    shuffled = [
        Document(id=d.id, text=d.text, url=d.url,
                 metadata=json.loads(json.dumps(d.metadata), object_pairs_hook=lambda kv: dict(
                     reversed(kv))))
        for d in real_docs
    ]
    assert any(list(a.metadata) != list(b.metadata) for a, b in zip(real_docs, shuffled,
                                                                     strict=True))
    second = _write(tmp_path / "b" / f"out.{fmt}", shuffled).read_bytes()
    assert first == second


def test_jsonl_lines_are_dclm_readable_with_fixed_key_order(tmp_path: Path,
                                                            real_docs: list[Document]):
    path = _write(tmp_path / "out.jsonl.zst", real_docs)
    with zstandard.ZstdDecompressor().stream_reader(path.open("rb")) as f:
        raw = f.read()
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(real_docs) + 1
    for line, doc in zip(lines, real_docs, strict=False):
        record = json.loads(line)  # plain stdlib json, as DCLM/Dolma tooling reads it
        assert list(record) == ["id", "text", "url", "metadata"]
        assert record["text"] == doc.text and record["url"] == doc.url
        assert list(record["metadata"]) == sorted(record["metadata"])


def test_compressed_output_is_deterministic_and_checked(tmp_path: Path, real_docs: list[Document]):
    gz = _write(tmp_path / "out.jsonl.gz", real_docs).read_bytes()
    assert gz[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME zero: no clock in the bytes
    assert gz[3] & 0x08 == 0  # no FNAME field (the temp name must not leak)
    zst = _write(tmp_path / "out.jsonl.zst", real_docs).read_bytes()
    params = zstandard.get_frame_parameters(zst)
    assert params.has_checksum
    assert gzip.decompress(gz) == zstandard.ZstdDecompressor().stream_reader(zst).read()


def test_counts_and_content_is_never_written(tmp_path: Path, shared_data: Path):
    warc_docs = [d for d in read_documents(str(shared_data / CC2020)) if isinstance(d, Document)]
    assert all(d.content for d in warc_docs)
    docs = [*warc_docs, Document(id="t", text="ünï 😀")]
    with open_writer(tmp_path / "out.jsonl") as writer:
        for doc in docs:
            writer.write(doc)
        assert writer.documents == len(docs)
    assert writer.bytes_written == len("ünï 😀".encode())
    raw = (tmp_path / "out.jsonl").read_bytes()
    assert b'"content":' not in raw and b"<html" not in raw.lower()
    back = _read_back(tmp_path / "out.jsonl")
    assert [d.metadata for d in back[:-1]] == [d.metadata for d in warc_docs]
    assert all(d.content is None for d in back)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lone_surrogates_are_replaced_not_fatal(tmp_path: Path, fmt: str):
    broken = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    docs = [
        Document(id="s1", text=f"before {broken} after", url="http://x/\ud800",
                 metadata={"k\udc80": ["\udfff", {"deep": "\ud83d"}], "ok": 1}),
        Document(id="s2", text="clean"),
    ]
    with open_writer(tmp_path / f"out.{fmt}") as writer:
        for doc in docs:
            writer.write(doc)
    assert writer.bytes_written == len("before caf\ufffd \ufffd after".encode()) + len("clean")
    first, second = _read_back(tmp_path / f"out.{fmt}")
    assert first.text == "before caf\ufffd \ufffd after"
    assert first.url == "http://x/\ufffd"
    assert first.metadata == {"k\ufffd": ["\ufffd", {"deep": "\ufffd"}], "ok": 1}
    assert _fields(second) == _fields(docs[1])


def test_numpy_metadata_is_written_and_unserialisable_metadata_is_named(tmp_path: Path):
    with open_writer(tmp_path / "ok.jsonl") as writer:
        writer.write(Document(id="np", metadata={"score": np.float32(0.5), "v": np.arange(3)}))
    assert _read_back(tmp_path / "ok.jsonl")[0].metadata == {"score": 0.5, "v": [0, 1, 2]}
    for fmt in ("jsonl.zst", "parquet"):
        with pytest.raises(ValueError, match="document 'bad'"), \
                open_writer(tmp_path / f"bad.{fmt}") as writer:
            writer.write(Document(id="bad", metadata={"set": {1, 2}}))
        assert not (tmp_path / f"bad.{fmt}").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_commit_is_atomic(tmp_path: Path, fmt: str):
    final = tmp_path / "sub" / "dir" / f"out.{fmt}"
    with open_writer(final) as writer:
        writer.write(Document(id="1", text="one"))
        assert not final.exists()  # only the hidden temporary file exists while writing
        assert writer.temp_path.exists() and writer.temp_path.parent == final.parent
        assert writer.temp_path.name.startswith(".")
    assert final.exists() and not writer.temp_path.exists()
    good = final.read_bytes()
    # A failing shard leaves neither a new file nor a temp file, and the old output intact.
    with pytest.raises(RuntimeError), open_writer(final) as writer:
        writer.write(Document(id="2", text="two"))
        raise RuntimeError("step crashed")
    assert final.read_bytes() == good
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]
    # The engine's protocol: __exit__ with an exception aborts, without one commits.
    writer = open_writer(tmp_path / f"engine.{fmt}")
    writer.write(Document(id="3"))
    writer.__exit__(RuntimeError, RuntimeError("shard failed"), None)
    assert not (tmp_path / f"engine.{fmt}").exists()
    writer = open_writer(tmp_path / f"empty.{fmt}")
    writer.__exit__(None, None, None)
    writer.close()  # idempotent
    assert _read_back(tmp_path / f"empty.{fmt}") == []


def test_parquet_schema_and_row_groups(tmp_path: Path):
    n = 2 * ROW_GROUP_ROWS + 123
    docs = [Document(id=str(i), text=f"t{i}", metadata={"i": i}) for i in range(n)]
    path = _write(tmp_path / "out.parquet", docs)
    parquet = pq.ParquetFile(path)
    assert parquet.schema_arrow == SCHEMA
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert sizes == [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 123]
    row = parquet.read_row_group(2).slice(0, 1).to_pylist()[0]
    assert row == {"id": str(2 * ROW_GROUP_ROWS), "text": f"t{2 * ROW_GROUP_ROWS}", "url": "",
                   "metadata": orjson.dumps({"i": 2 * ROW_GROUP_ROWS}).decode()}
    back = _read_back(path)
    assert [d.metadata["i"] for d in back] == list(range(n))


def test_writer_format_from_suffix_or_argument(tmp_path: Path):
    assert writer_format("x/out.jsonl.zst") == "jsonl.zst"
    assert writer_format("x/out.JSONL.GZ") == "jsonl.gz"
    assert writer_format("x/out.jsonl") == "jsonl"
    assert writer_format("x/out.parquet") == "parquet"
    assert writer_format("x/out.bin") == "jsonl.zst"  # default
    assert writer_format("x/out.bin", ".parquet") == "parquet"
    with pytest.raises(ValueError, match="unknown output format 'csv'"):
        writer_format("x/out.csv", "csv")
    path = _write(tmp_path / "forced.data", [Document(id="a", text="b")], fmt="jsonl.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
