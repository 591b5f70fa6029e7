"""Tokenize-shuffle memory and throughput as the corpus grows: 1x, 4x, 16x.

The input is real text (Wikipedia articles and Stack Exchange threads from
../shared/data/web/more), repeated with new ids: scale N is N copies of the same two files,
each copy a file of its own. Each scale runs `gristmill tokenize` (GPT-NeoX tokenizer, seq-len
2048, one worker, a small ``--shuffle-buffer`` so that the bucketed shuffle has to work in
many buckets) in a fresh process, and prints tokens/s and the peak resident memory of the
largest process involved (``ru_maxrss`` of the children). With the bucketed shuffle, memory
must stay flat and tokens/s constant (time linear in size).

For scale, the last column is what a permutation of all windows held in one process (the
previous design) would take: 8 bytes per window, 15 GB at DCLM-Baseline's 3.8T tokens.

    python benchmarks/shuffle.py [--docs 1000] [--scales 1 4 16] [--buffer-mb 8]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import zstandard

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCES = ("web/more/wikipedia-00000.jsonl.gz", "web/more/se_archives-00000.jsonl.gz")
TOKENIZER = SHARED / "tokenizers/gpt-neox-20b.tokenizer.json"


def write_copies(root: Path, docs: int, copies: int) -> list[Path]:
    """``copies`` copies of ``docs`` real documents from each source, every copy with new ids."""
    files = []
    for source in SOURCES:
        with gzip.open(SHARED / source, "rt") as fh:
            records = [json.loads(line) for line in itertools.islice(fh, docs)]
        for c in range(copies):
            path = root / f"{Path(source).name.split('-')[0]}-{c:03d}.jsonl.zst"
            lines = b"".join(orjson.dumps({"id": f"{r['id']}#{c}", "text": r["text"], "url": r["url"],
                                           "metadata": {}}) + b"\n" for r in records)
            path.write_bytes(zstandard.ZstdCompressor().compress(lines))
            files.append(path)
    return files


def run_scale(root: Path, files: list[Path], buffer_mb: float) -> dict:
    out = root / "tokens"
    argv = [sys.executable, "-m", "gristmill", "tokenize", "--tokenizer", str(TOKENIZER),
            "--seq-len", "2048", "--input", *map(str, files), "--out", str(out), "--workers", "1",
            "--shuffle-buffer", str(buffer_mb), "-q"]
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status:
        raise SystemExit(f"tokenize failed at {root}")
    stats = json.loads((out / "stats.json").read_text())
    # wait4's ru_maxrss: the largest of the process and its reaped children (the pool's workers).
    peak_kb = usage.ru_maxrss
    return {"tokens": sum(stats["tokens"].values()), "windows": sum(stats["sequences"].values()),
            "seconds": seconds, "peak_mb": peak_kb / 1024, "buckets": stats["shuffle_buckets"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000, help="documents per source at 1x")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--buffer-mb", type=float, default=8.0)
    args = parser.parse_args()
    print(f"gristmill tokenize, GPT-NeoX, seq-len 2048, 1 worker, --shuffle-buffer {args.buffer_mb} MiB")
    print(f"{'scale':>5} {'files':>5} {'tokens':>12} {'windows':>8} {'buckets':>8} {'seconds':>8} "
          f"{'tokens/s':>10} {'vs 1x':>6} {'peak MB':>8} {'one-permutation MB':>18}")
    base = None
    for scale in args.scales:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            files = write_copies(root, args.docs, scale)
            r = run_scale(root, files, args.buffer_mb)
        rate = r["tokens"] / r["seconds"]
        base = base or rate
        print(f"{scale:>4}x {len(files):>5} {r['tokens']:>12,} {r['windows']:>8,} "
              f"{r['buckets'].get('main', 0):>8} {r['seconds']:>8.1f} {rate:>10,.0f} {rate / base:>6.2f} "
              f"{r['peak_mb']:>8.0f} {r['windows'] * 8 / 1e6:>18.2f}")
    print("tokens/s relative to 1x is the linearity check (1.00 = time grows exactly with size)")


if __name__ == "__main__":
    main()
