"""`gristmill tokenize`: documents to packed, shuffled, chunked token shards (+ MeCo)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gristmill.core.errors import GristmillError
from gristmill.core.ranges import COUNT, POSITIVE, SEED, Range
from gristmill.io.lock import folder_lock
from gristmill.tokenize.canaries import DEFAULT_COPIES
from gristmill.tokenize.documents import expand_inputs
from gristmill.tokenize.meco import MECO_COOLDOWN_FRACTION, MECO_MODES, MecoConfig

# The MeCo cooldown share (MeCo trains its last 10%): [0, 1), a run needs a main phase.
COOLDOWN_SHARE = Range(0.0, 1.0, high_open=True)
# A window holds seq_len + 1 tokens; a context of 2^20 (about a million) tokens is beyond any
# model this trains (DCLM's scales use 2048), and a typo's 10^8 would pad every file's last
# window to gigabytes.
SEQ_LEN = Range(1, 1 << 20, integer=True)

_EPILOG = """\
MeCo metadata modes (--meco; the prefix is "URL: <meta>\\n\\n", masked out of the loss):
  none     no prefix (default)          host     en.wikipedia.org (MeCo's default)
  url      the full URL                 domain   wikipedia.org (registered domain)
  suffix   org, co.uk (public suffix)   hash     stable hash of the host
  fixed    --meco-value for every doc   topic    metadata[--meco-field]
With --meco the last --cooldown-fraction of training reads metadata-free cooldown chunks: either
documents held out of --input by a seeded hash of their id, or the separate --cooldown-input pool.

Output folder:
  index.json, tokenizer.json, stats.json, errors.jsonl
  chunk-NNNNN.tokens.bin / .mask.bin   (sequences, seq-len + 1) token ids and loss mask (memmaps)
  chunk-NNNNN.json                     manifest: phase, sequences, tokens, documents, sources
  chunk-NNNNN.rows.npy / .spans.npy    data order: window of each row; documents in each row
  sources/part-NNNNN.PHASE.docs.jsonl.zst   per input file and phase: id, url, token offset, tokens
gristmill.tokenize.order maps rows (and checkpoints) back to documents.

Examples:
  gristmill tokenize --tokenizer gpt-neox-20b.tokenizer.json --seq-len 2048 -i docs/ -o tokens/
  gristmill tokenize --tokenizer bpe4k.json --seq-len 256 -i web/*.jsonl.zst -o tokens/ \\
      --meco host --cooldown-input hq/*.jsonl.zst --executor ray --ray-address auto
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="tokenize, pack, shuffle and chunk documents for training",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Render each document (optionally behind a MeCo metadata prefix), append end-of-text, "
        "pack into windows of seq-len + 1 tokens (across documents, never across input files), shuffle "
        "all windows with one seeded permutation and write numbered chunks with a JSON index, per-chunk "
        "manifests and the data order (LLM360). Output is byte-identical for any executor and worker "
        "count; a killed run resumes where it stopped.")
    p.add_argument("--tokenizer", required=True, type=Path, metavar="FILE",
                   help="Hugging Face tokenizers JSON (DCLM: GPT-NeoX-20B; or one from gristmill tokenizer train)")
    p.add_argument("--seq-len", type=SEQ_LEN.parse, required=True, metavar="N",
                   help="training context length; windows hold N + 1 tokens (a scale's seq_len must match)")
    p.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH",
                   help="documents: .jsonl[.gz|.zst], Parquet or WARC files, folders or globs")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR", help="token folder to write (must not exist)")
    p.add_argument("--meco", choices=MECO_MODES, default="none", metavar="MODE",
                   help="MeCo metadata mode, see below (default none)")
    p.add_argument("--meco-value", default=None, metavar="TEXT",
                   help="the metadata of every document with --meco fixed (default example.com)")
    p.add_argument("--meco-field", default=None, metavar="KEY",
                   help="the metadata key read by --meco topic (default topic)")
    p.add_argument("--cooldown-fraction", type=COOLDOWN_SHARE.parse, default=None, metavar="F",
                   help="with --meco: share of training tokens in the metadata-free cooldown (default 0.1, "
                   "MeCo); without --cooldown-input also the share of input documents, chosen by a seeded "
                   "hash of their id, held out as the cooldown pool")
    p.add_argument("--cooldown-input", nargs="+", default=None, metavar="PATH",
                   help="with --meco: documents that form a separate cooldown pool (tokenized without "
                   "metadata, never in the main phase, as MeCo trained its cooldown); replaces the hash split")
    p.add_argument("--chunks", type=POSITIVE.parse, default=None, metavar="K",
                   help="number of chunks, split between main and cooldown by size (default: chunks of "
                   "8192 sequences, as DCLM's shards); the trainer checkpoints after each")
    p.add_argument("--shuffle-buffer", type=Range(0.0625).parse, default=256, metavar="MB",
                   help="memory one shuffle task may hold, in MiB (default 256, at least 0.0625); the "
                   "global shuffle goes through buckets of this size, so memory stays flat whatever the "
                   "corpus size, and the output does not depend on it")
    p.add_argument("--canaries", type=COUNT.parse, default=0, metavar="N",
                   help="plant N canary sequences (seeded random words, an extra input file) whose chunk, row "
                   "and step the data order records: the control of gristmill analyze memorization")
    p.add_argument("--canary-copies", type=POSITIVE.parse, default=DEFAULT_COPIES, metavar="R",
                   help=f"copies of each canary (default {DEFAULT_COPIES})")
    p.add_argument("--seed", type=SEED.parse, default=0, metavar="S",
                   help="seed of the shuffle and of the cooldown hash split (default 0)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local process pool (default) or Ray tasks; same output either way")
    p.add_argument("--workers", type=POSITIVE.parse, default=None, metavar="N",
                   help="parallel files (default: all cores); each worker encodes with its share of cores")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster to join, e.g. auto (default: start a local Ray)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or summary table")
    return p


# Options that only mean something with one --meco mode (None: any mode but "none").
_MECO_ONLY = (("meco_value", "fixed"), ("meco_field", "topic"), ("cooldown_fraction", None),
              ("cooldown_input", None))


def _check_meco_options(args: argparse.Namespace) -> None:
    """Refuse MeCo options that the chosen --meco mode would ignore."""
    for option, mode in _MECO_ONLY:
        if getattr(args, option) is None:
            continue
        flag = "--" + option.replace("_", "-")
        if mode is None and args.meco == "none":
            raise GristmillError(f"{flag} needs --meco (a MeCo mode); without it, it has no effect")
        if mode is not None and args.meco != mode:
            raise GristmillError(f"{flag} is read only by --meco {mode} (this run: --meco {args.meco})")


def run(args: argparse.Namespace) -> int:
    from gristmill.engine.executors import make_executor
    from gristmill.tokenize.pipeline import tokenize_corpus

    _check_meco_options(args)
    try:
        meco = MecoConfig(
            args.meco, fixed_value=args.meco_value or "example.com",
            topic_field=args.meco_field or "topic",
            cooldown_fraction=(0.0 if args.meco == "none" else MECO_COOLDOWN_FRACTION
                               if args.cooldown_fraction is None else args.cooldown_fraction))
    except ValueError as exc:
        raise GristmillError(str(exc)) from exc
    console = Console(stderr=True, quiet=args.quiet)

    def progress(stage: str, done: int, total: int) -> None:
        console.print(f"{stage}: {done}/{total}", end="\r")

    executor = make_executor(args.executor, args.workers, args.ray_address, quiet=args.quiet)
    try:
        with folder_lock(args.out, "gristmill tokenize"):  # one writer per token folder
            index = tokenize_corpus(
                expand_inputs(args.input), args.tokenizer, args.seq_len, args.out, meco=meco,
                cooldown_inputs=expand_inputs(args.cooldown_input) if args.cooldown_input else None,
                chunks=args.chunks, seed=args.seed, executor=executor,
                shuffle_buffer=int(args.shuffle_buffer * (1 << 20)),
                canaries=args.canaries, canary_copies=args.canary_copies,
                progress=progress if console.is_terminal and not args.quiet else None,
            )
    finally:
        executor.close()
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
