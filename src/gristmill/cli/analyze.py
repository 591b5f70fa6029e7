"""`gristmill analyze memorization RUN`: LLM360's memorization score over checkpoints and chunks."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gristmill.cli.evaluate import progress_bars

_EPILOG = """\
Writes RUN/analysis/memorization.json: for every checkpoint and every data chunk (and every canary
planted with gristmill tokenize --canaries), the mean position-wise match of k greedy-decoded
tokens after a k-token prompt (token_match), the share of exact matches (full_match), and the
share of those sequences the checkpoint had trained on (seen). gristmill report RUN plots it.

Example:
  gristmill tokenize ... --chunks 8 --canaries 4 -o tokens/ && gristmill train ... -o runs/a
  gristmill analyze memorization runs/a --samples 200
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="analyses of a training run (memorization)",
                              description="Analyses of a training run over its checkpoints.")
    sub = p.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    m = sub.add_parser("memorization", help="LLM360 memorization score per (checkpoint, data chunk)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
                       description="Greedy-decode l tokens after the first k tokens of sampled training rows of "
                       "every chunk, for every checkpoint of the run, using the run's data order (LLM360 "
                       "Analysis360; k = l = 32, 1,000 rows per chunk with seed 42).")
    m.add_argument("run", type=Path, metavar="RUN", help="a training run folder")
    m.add_argument("--samples", type=int, default=1000, metavar="N", help="rows per chunk (default 1000)")
    m.add_argument("-k", type=int, default=32, help="prompt tokens (default 32)")
    m.add_argument("-l", type=int, default=32, help="continuation tokens (default 32)")
    m.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    m.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward passes")
    m.add_argument("--quiet", "-q", action="store_true", help="no progress or summary table")
    return p


def _mean(records: list[dict[str, Any]]) -> str:
    if not records:
        return "-"
    return f"{sum(r['token_match']['value'] for r in records) / len(records):.3f}"


def run(args: argparse.Namespace) -> int:
    from gristmill.evaluate.memorization import analyze_memorization, write_memorization

    console = Console(stderr=True, quiet=args.quiet)
    with progress_bars(console) as bars:
        doc = analyze_memorization(args.run, samples=args.samples, k=args.k, cont_len=args.l, device=args.device,
                                   bf16=args.bf16, progress=None if args.quiet else bars)
    out = write_memorization(args.run, doc)
    table = Table(title=f"memorization (k={doc['k']}, l={doc['l']}): mean token match")
    for col in ("checkpoint", "tokens", "seen chunks", "unseen chunks", "seen canaries", "unseen canaries"):
        table.add_column(col, justify="right")
    for c in doc["checkpoints"]:
        table.add_row(c["checkpoint"], f"{c['tokens_seen']:,}",
                      _mean([r for r in c["chunks"] if r["seen"] == 1.0]),
                      _mean([r for r in c["chunks"] if r["seen"] == 0.0]),
                      _mean([r for r in c["canaries"] if r["copies_seen"]]),
                      _mean([r for r in c["canaries"] if not r["copies_seen"]]))
    console.print(table)
    print(out)
    return 0
