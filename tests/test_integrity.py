"""A damaged compressed input never lets a document through: data is used only once its
gzip CRC-32 / zstd checksum has passed, and what the damage costs is counted as errored."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
import zstandard

from gristmill.cli import main
from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.io import compression, jsonl
from gristmill.io.readers import read_documents
from gristmill.io.writers import open_writer

WIKI = "web/more/wikipedia-00000.jsonl.gz"


@pytest.fixture(scope="module")
def lines(shared_data: Path) -> list[bytes]:
    return gzip.decompress((shared_data / WIKI).read_bytes()).splitlines()[:300]


@pytest.fixture(scope="module")
def texts(lines) -> dict[str, str]:
    return {(r := orjson.loads(line))["id"]: r["text"] for line in lines}


def _compress(codec: str, raw: bytes) -> bytes:
    if codec == "gzip":
        return gzip.compress(raw)
    return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(raw)


def _flip(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0x01
    return bytes(damaged)


def _read(path: Path) -> tuple[list[Document], list[RecordError]]:
    items = list(read_documents(str(path)))
    return ([i for i in items if not isinstance(i, RecordError)],
            [i for i in items if isinstance(i, RecordError)])


@pytest.mark.parametrize("codec,suffix", [("gzip", ".jsonl.gz"), ("zstd", ".jsonl.zst")])
@pytest.mark.parametrize("where", [0.3, 0.5, 0.9])
def test_one_flipped_byte_lets_no_document_through(lines, texts, tmp_path, codec, suffix, where):
    data = _compress(codec, b"\n".join(lines) + b"\n")
    path = tmp_path / f"flipped{suffix}"
    path.write_bytes(_flip(data, int(len(data) * where)))
    docs, errors = _read(path)
    # One member/frame holds the whole file: its check fails, so nothing of it is used.
    assert docs == []
    [error] = errors
    assert f"corrupt {codec} stream" in error.message and "is not used" in error.message
    assert 1 <= error.count <= len(lines)


def test_damage_in_a_later_frame_keeps_the_verified_frames_before_it(lines, texts, tmp_path,
                                                                    monkeypatch):
    # Several frames from 300 documents (the writer hands the compressor 1 MiB at a time).
    monkeypatch.setattr(compression, "FRAME_BYTES", 100_000)
    monkeypatch.setattr(jsonl, "_FLUSH_BYTES", 50_000)
    path = tmp_path / "frames.jsonl.zst"
    with open_writer(path) as writer:
        for n, line in enumerate(lines):
            writer.write(Document.from_record(orjson.loads(line), fallback_id=str(n)))
    data = path.read_bytes()
    frames = _frame_starts(data)
    assert len(frames) >= 3
    path.write_bytes(_flip(data, frames[2] + 200))  # inside the third frame
    docs, errors = _read(path)
    assert 0 < len(docs) < len(lines)
    assert all(texts[d.id] == d.text for d in docs)
    assert [d.id for d in docs] == list(texts)[: len(docs)]
    [error] = errors
    assert error.offset == len(docs) + 1 and error.count >= 1


def _frame_starts(data: bytes) -> list[int]:
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        pos += _frame_length(data[pos:])
    return starts


def _frame_length(data: bytes) -> int:
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    decompressor.decompress(data)
    return len(data) - len(decompressor.unused_data)


def test_a_member_larger_than_memory_holds_is_verified_through_a_temp_file(lines, texts,
                                                                          tmp_path, monkeypatch):
    monkeypatch.setattr(compression, "HOLD_IN_MEMORY", 10_000)
    data = gzip.compress(b"\n".join(lines) + b"\n")
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(data)
    docs, errors = _read(path)
    assert errors == [] and [(d.id, d.text) for d in docs] == list(texts.items())
    path.write_bytes(_flip(data, len(data) // 2))
    assert _read(path)[0] == []


def test_run_over_a_flipped_file_keeps_only_true_documents_and_counts_the_rest(
        lines, texts, tmp_path, capsys):
    good = tmp_path / "in" / "good.jsonl.gz"
    bad = tmp_path / "in" / "bad.jsonl.gz"
    good.parent.mkdir()
    good.write_bytes(gzip.compress(b"\n".join(lines[:100]) + b"\n"))
    data = gzip.compress(b"\n".join(lines[100:]) + b"\n")
    bad.write_bytes(_flip(data, len(data) // 2))
    out = tmp_path / "out"
    code = main(["run", "raw", "--input", str(good.parent), "--output", str(out),
                 "--workers", "1", "-q"])
    assert code == 2  # far above the default --max-error-rate
    assert "input records errored" in capsys.readouterr().err
    totals = orjson.loads((out / "stats.json").read_bytes())["totals"]
    assert totals["accounted"] and totals["documents_read"] == 100
    assert 100 < totals["input_records"] <= 300 and totals["read_errors"] >= 100
    kept = [d for p in sorted((out / "documents").glob("*.jsonl.zst")) for d in _read(p)[0]]
    assert kept and all(texts[d.id] == d.text for d in kept)
    [error] = [orjson.loads(x) for x in (out / "errors.jsonl").read_bytes().splitlines()]
    assert error["file"] == "bad.jsonl.gz" and error["records"] == totals["read_errors"]
