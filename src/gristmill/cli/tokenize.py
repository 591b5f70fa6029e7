"""`gristmill tokenize`: documents to packed, shuffled, chunked token shards (+ MeCo)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gristmill.core.errors import GristmillError
from gristmill.tokenize.documents import expand_inputs
from gristmill.tokenize.meco import MECO_COOLDOWN_FRACTION, MECO_MODES, MecoConfig


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="tokenize, pack, shuffle and chunk documents for training",
        description="Render each document (optionally behind a MeCo 'URL: <meta>\\n\\n' prefix that is "
        "masked out of the loss), append end-of-text, pack into windows of seq-len + 1 tokens, shuffle "
        "globally with a seed and write numbered chunks (numpy memmaps) with a JSON index and "
        "per-chunk manifests. Output is identical for any executor and worker count.")
    p.add_argument("--tokenizer", required=True, type=Path, metavar="FILE", help="Hugging Face tokenizers JSON")
    p.add_argument("--seq-len", type=int, required=True, help="training context length (windows hold seq-len + 1)")
    p.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH", help="document files, folders or globs")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR", help="token folder to write")
    p.add_argument("--meco", choices=MECO_MODES, default="none", help="MeCo metadata mode (default none)")
    p.add_argument("--meco-value", default="example.com", help="the string used by --meco fixed")
    p.add_argument("--meco-field", default="topic", help="metadata key used by --meco topic")
    p.add_argument("--cooldown-fraction", type=float, default=MECO_COOLDOWN_FRACTION,
                   help="with --meco: share of documents kept metadata-free for the cooldown (default 0.1)")
    p.add_argument("--chunks", type=int, default=None, help="number of chunks (default: 8192 sequences each)")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (e.g. auto)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or summary table")
    return p


def run(args: argparse.Namespace) -> int:
    from gristmill.tokenize.pipeline import tokenize_corpus

    try:
        meco = MecoConfig(args.meco, fixed_value=args.meco_value, topic_field=args.meco_field,
                          cooldown_fraction=args.cooldown_fraction if args.meco != "none" else 0.0)
    except ValueError as exc:
        raise GristmillError(str(exc)) from exc
    console = Console(stderr=True, quiet=args.quiet)

    def progress(stage: str, done: int, total: int) -> None:
        console.print(f"{stage}: {done}/{total}", end="\r")

    index = tokenize_corpus(
        expand_inputs(args.input), args.tokenizer, args.seq_len, args.out, meco=meco, chunks=args.chunks,
        seed=args.seed, executor=args.executor, workers=args.workers, address=args.ray_address,
        progress=progress if console.is_terminal and not args.quiet else None,
    )
    table = Table(title=f"tokenized into {args.out} ({len(index['chunks'])} chunks)")
    for col in ("phase", "documents", "tokens", "sequences", "chunks"):
        table.add_column(col, justify="right")
    t = index["totals"]
    for phase in ("main", "cooldown"):
        if t["sequences"][phase]:
            n = sum(1 for c in index["chunks"] if c["phase"] == phase)
            table.add_row(phase, f"{t['documents'][phase]:,}", f"{t['tokens'][phase]:,}",
                          f"{t['sequences'][phase]:,}", str(n))
    console.print(table)
    if t["errors"]:
        print(f"gristmill tokenize: {t['errors']} bad record(s), listed in {args.out / 'errors.jsonl'}",
              file=sys.stderr)
    return 0
