"""Tokenization throughput: `gristmill tokenize` against a bare `tokenizers` loop, like for like.

Corpus: real documents (shared Wikipedia + Stack Exchange text) written as ``--files``
``.jsonl.zst`` files; DCLM's GPT-NeoX-20B tokenizer. Every run uses the whole machine: a bare
``encode_batch`` call already spreads each batch over all cores (Rayon), and the full command
runs with its default workers (one per core; each worker's Rayon pool gets its share of cores).
Runs alternate in one process and the best of ``--repeats`` counts.

Two comparisons, each against the reference that does the same work:

* encode path: ``render_batch`` (encode + EOT + uint32 stream + loss mask) against a bare
  ``encode_batch`` loop, both over the same texts already in memory, batches of `BATCH_DOCS`.
* full command: ``tokenize_corpus`` (read .jsonl.zst, parse, encode, pack, shuffle, write chunks,
  document tables and data order) against a bare loop that reads the same ``.jsonl.zst`` files
  (zstd stream + orjson) and runs ``encode_batch`` on batches of the same size.

Token counts differ by the EOT per document; each ratio uses its own path's count.

(Named tokenization.py, not tokenize.py: a script's folder is first on sys.path, and a
benchmarks/tokenize.py would shadow the standard library's `tokenize` for every script here.)

    python benchmarks/tokenization.py [--docs N] [--files F] [--repeats R]
"""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import zstandard

from gristmill.engine.executors import LocalExecutor
from gristmill.tokenize import MecoConfig, eot_id, load_tokenizer, tokenize_corpus
from gristmill.tokenize.documents import BATCH_DOCS
from gristmill.tokenize.render import render_batch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCES = ("web/more/wikipedia-00000.jsonl.gz", "web/more/se_archives-00000.jsonl.gz")
TOKENIZER = SHARED / "tokenizers/gpt-neox-20b.tokenizer.json"


def load_records(n: int) -> list[dict]:
    records: list[dict] = []
    for rel in SOURCES:
        with gzip.open(SHARED / rel, "rb") as fh:
            records += [orjson.loads(line) for line in itertools.islice(fh, n // len(SOURCES))]
    return records


def write_files(records: list[dict], folder: Path, files: int) -> list[str]:
    """Documents dealt round-robin into ``files`` .jsonl.zst files."""
    paths = []
    for i in range(files):
        path = folder / f"docs-{i:02d}.jsonl.zst"
        lines = b"".join(orjson.dumps(r) + b"\n" for r in records[i::files])
        path.write_bytes(zstandard.ZstdCompressor(level=3).compress(lines))
        paths.append(str(path))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=8000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    tok = load_tokenizer(TOKENIZER)
    eot = eot_id(tok)
    records = load_records(args.docs)
    texts = [r["text"] for r in records]
    meco = MecoConfig("host")
    prefixes = [meco.prefix_text(r["url"], {}) for r in records]
    batches = [slice(i, i + BATCH_DOCS) for i in range(0, len(texts), BATCH_DOCS)]
    tmp = Path(tempfile.mkdtemp(prefix="gristmill-bench-"))
    files = write_files(records, tmp, args.files)

    def bare_in_memory() -> int:
        return sum(len(e.ids) for b in batches for e in tok.encode_batch(texts[b], add_special_tokens=False))

    def render() -> int:
        return sum(len(render_batch(tok, texts[b], None, eot).ids) for b in batches)

    def render_meco() -> int:
        return sum(len(render_batch(tok, texts[b], prefixes[b], eot).ids) for b in batches)

    def bare_read_encode() -> int:
        n = 0
        for path in files:
            with open(path, "rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as raw:
                lines = io.BufferedReader(raw)
                while chunk := list(itertools.islice(lines, BATCH_DOCS)):
                    batch = [orjson.loads(line)["text"] for line in chunk]
                    n += sum(len(e.ids) for e in tok.encode_batch(batch, add_special_tokens=False))
        return n

    def command(workers: int | None) -> Callable[[], int]:
        def run() -> int:
            out = tmp / "tokens"
            shutil.rmtree(out, ignore_errors=True)
            pool = LocalExecutor(workers)
            try:
                index = tokenize_corpus(files, TOKENIZER, 2048, out, executor=pool)
            finally:
                pool.close()
            return index["totals"]["tokens"]["main"]
        return run

    runs = {
        "bare encode_batch (in memory)": bare_in_memory,
        "gristmill render": render,
        "gristmill render + MeCo": render_meco,
        "bare read .jsonl.zst + encode": bare_read_encode,
        "gristmill tokenize (default)": command(None),
        "gristmill tokenize (1 worker)": command(1),
    }
    best: dict[str, tuple[float, int]] = {}
    try:
        for _ in range(args.repeats):
            for name, fn in runs.items():
                t = time.perf_counter()
                n = fn()
                dt = time.perf_counter() - t
                if name not in best or dt < best[name][0]:
                    best[name] = (dt, n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def tps(name: str) -> float:
        return best[name][1] / best[name][0]

    print(f"{len(texts)} documents in {args.files} .jsonl.zst files, {sum(map(len, texts)) / 1e6:.1f}M chars, "
          f"GPT-NeoX-20B tokenizer, {os.cpu_count()} cores, best of {args.repeats}")
    refs = {"gristmill render": "bare encode_batch (in memory)", "gristmill render + MeCo": "bare encode_batch (in memory)",
            "gristmill tokenize (default)": "bare read .jsonl.zst + encode",
            "gristmill tokenize (1 worker)": "bare read .jsonl.zst + encode"}
    for name, (dt, n) in best.items():
        ratio = f"ratio {tps(name) / tps(refs[name]):.3f}x vs {refs[name]}" if name in refs else "(reference)"
        print(f"{name:<32} {n:>11,} tokens {dt:7.2f} s {tps(name):>12,.0f} tokens/s  {ratio}")
    full = tps("gristmill tokenize (default)")
    print(f"encode-path ratio {tps('gristmill render') / tps('bare encode_batch (in memory)'):.3f}x; "
          f"full-command ratio {full / tps('bare read .jsonl.zst + encode'):.3f}x "
          f"({full / tps('bare encode_batch (in memory)'):.3f}x even against encoding in-memory text)")


if __name__ == "__main__":
    main()
