"""`gristmill export`: a checkpoint as a Hugging Face transformers model folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="export a checkpoint for transformers / lm-evaluation-harness",
        description="Write a checkpoint (or a run folder's latest) as a stock transformers Qwen3ForCausalLM "
        "folder with the tokenizer, loadable by AutoModelForCausalLM and lm-eval --model hf without "
        "trust_remote_code.")
    p.add_argument("checkpoint", type=Path, metavar="CKPT", help="checkpoint folder or run folder")
    p.add_argument("--format", default="hf", help="export format: hf (the only one so far)")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR")
    p.add_argument("--tokenizer", default=None, metavar="FILE",
                   help="tokenizer JSON (default: the one recorded at tokenization)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or messages")
    return p


def run(args: argparse.Namespace) -> int:
    from gristmill.train.export import export_checkpoint

    if args.quiet:  # transformers' "Writing model shards" bar and its info lines
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
    out = export_checkpoint(args.checkpoint, args.out, args.format, args.tokenizer)
    if not args.quiet:
        print(f"exported {args.checkpoint} to {out}", file=sys.stderr)
    if not (out / "tokenizer.json").is_file():
        print(f"gristmill export: warning: the tokenizer recorded at training is gone, so {out} has none; "
              "rerun with --tokenizer FILE", file=sys.stderr)
    return 0
