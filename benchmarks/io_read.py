"""Document I/O throughput: gristmill's readers and writer against bare library loops.

Side by side in one process, on the same files, alternately, best of several rounds:

- WARC: ``read_documents`` over the 15 PAGES-2026 WARCs (1,449 response records) against a
  bare fastwarc ``ArchiveIterator`` loop that parses HTTP and reads each response body, and
  nothing more (no metadata, no damage checks, no Document objects).
- JSONL: ``read_documents`` over ../shared/data/web/more/*.jsonl.gz (10,146 records)
  against ``gzip.open`` + ``orjson.loads`` per line.
- Write: ``open_writer(".jsonl.zst")`` against ``orjson.dumps(doc.to_record())`` into a
  zstandard level-3 stream writer.

Times are CPU seconds of this process (``time.process_time``), the best of the rounds: on a
shared machine wall time mostly measures the neighbours. The ratio column is gristmill time /
reference time (1.00 = same speed, above 1 = gristmill slower).

    python benchmarks/io_read.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import zstandard
from fastwarc.warc import ArchiveIterator, WarcRecordType

from gristmill.core.document import Document
from gristmill.io.readers import read_documents
from gristmill.io.writers import open_writer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAGES = SHARED / "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc"
MORE = SHARED / "web/more"


def bare_warc(files: list[Path]) -> tuple[int, int]:
    records = payload = 0
    for path in files:
        for record in ArchiveIterator(str(path), record_types=WarcRecordType.response,
                                      parse_http=True, fsspec_args=False):
            payload += len(record.reader.read())
            records += 1
    return records, payload


def gristmill_warc(files: list[Path]) -> tuple[int, int]:
    records = payload = 0
    for path in files:
        for doc in read_documents(str(path)):
            payload += len(doc.content)  # type: ignore[union-attr, arg-type]
            records += 1
    return records, payload


def bare_jsonl(files: list[Path]) -> tuple[int, int]:
    records = chars = 0
    for path in files:
        with gzip.open(path, "rb") as f:
            for line in f:
                chars += len(orjson.loads(line)["text"])
                records += 1
    return records, chars


def gristmill_jsonl(files: list[Path]) -> tuple[int, int]:
    records = chars = 0
    for path in files:
        for doc in read_documents(str(path)):
            chars += len(doc.text)  # type: ignore[union-attr]
            records += 1
    return records, chars


def bare_write(docs: list[Document], out: Path) -> tuple[int, int]:
    cctx = zstandard.ZstdCompressor(level=3)
    with open(out, "wb") as raw, cctx.stream_writer(raw) as writer:
        for doc in docs:
            writer.write(orjson.dumps(doc.to_record()) + b"\n")
    return len(docs), out.stat().st_size


def gristmill_write(docs: list[Document], out: Path) -> tuple[int, int]:
    with open_writer(out) as writer:
        for doc in docs:
            writer.write(doc)
    return len(docs), out.stat().st_size


def best_of(rounds: int, fn: Callable[[], tuple[int, int]]) -> tuple[float, tuple[int, int]]:
    best, result = float("inf"), (0, 0)
    for _ in range(rounds):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def report(label: str, input_bytes: int, runs: dict[str, tuple[float, tuple[int, int]]]) -> None:
    reference = runs["reference"][0]
    for name, (seconds, (records, _)) in runs.items():
        print(f"{label:<6} {name:<10} {records:>7,} rec  {seconds * 1000:8.1f} ms cpu  "
              f"{records / seconds:>10,.0f} rec/s  {input_bytes / seconds / 1e6:8.1f} MB/s  "
              f"ratio {seconds / reference:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    warcs = sorted(PAGES.glob("pages-*.warc.gz"))
    jsonls = sorted(MORE.glob("*.jsonl.gz"))
    warc_bytes = sum(p.stat().st_size for p in warcs)
    jsonl_bytes = sum(p.stat().st_size for p in jsonls)
    print(f"WARC input: {len(warcs)} files, {warc_bytes / 1e6:.1f} MB compressed; "
          f"JSONL input: {len(jsonls)} files, {jsonl_bytes / 1e6:.1f} MB compressed "
          "(MB/s are of compressed input; write MB/s of uncompressed text)")

    runs: dict[str, tuple[float, tuple[int, int]]] = {"reference": (float("inf"), (0, 0)),
                                                      "gristmill": (float("inf"), (0, 0))}
    for _ in range(args.rounds):  # alternate so that both see the same cache and CPU state
        for name, fn in (("reference", bare_warc), ("gristmill", gristmill_warc)):
            seconds, result = best_of(1, lambda fn=fn: fn(warcs))
            runs[name] = min(runs[name], (seconds, result))
    assert runs["reference"][1] == runs["gristmill"][1], "readers disagree on the records"
    report("warc", warc_bytes, runs)

    runs = {"reference": (float("inf"), (0, 0)), "gristmill": (float("inf"), (0, 0))}
    for _ in range(args.rounds):
        for name, fn in (("reference", bare_jsonl), ("gristmill", gristmill_jsonl)):
            seconds, result = best_of(1, lambda fn=fn: fn(jsonls))
            runs[name] = min(runs[name], (seconds, result))
    assert runs["reference"][1] == runs["gristmill"][1], "readers disagree on the records"
    report("jsonl", jsonl_bytes, runs)

    docs = [d for path in jsonls for d in read_documents(str(path)) if isinstance(d, Document)]
    text_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    runs = {"reference": (float("inf"), (0, 0)), "gristmill": (float("inf"), (0, 0))}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name, fn in (("reference", bare_write), ("gristmill", gristmill_write)):
                out = Path(tmp) / f"{name}.jsonl.zst"
                seconds, result = best_of(1, lambda fn=fn, out=out: fn(docs, out))
                runs[name] = min(runs[name], (seconds, result))
    report("write", text_bytes, runs)


if __name__ == "__main__":
    main()
