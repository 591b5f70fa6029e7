"""`gristmill eval`: DCLM CORE, small-scale signals and MeCo conditional inference on a model."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from gristmill.core.errors import GristmillError

DEFAULT_DATA = os.environ.get("GRISTMILL_EVAL_DATA", "../shared/data")

_EPILOG = """\
Suites (or a comma-separated list of task and suite names):
  core      DCLM's 22 CORE tasks (squad and coqa are not here: use --allow-missing for a partial CORE)
  extended  every DCLM task whose data is here
  mmlu      MMLU 5-shot
  small     signals for 1-20M-parameter models: blimp, zorro, bits_per_byte, lambada_target,
            sciq, arc_easy_zeroshot, piqa_zeroshot
Each figure has a standard error and its chance level; multiple choice reports DCLM's accuracy
(lowest mean per-token loss) with lm-eval's acc and acc_norm beside it; CORE is reported with
the v1 and v2 random baselines.

Examples:
  gristmill eval runs/a --suite small --out runs/a/small.json
  gristmill eval hf-export/ --suite core --allow-missing --out core.json
  gristmill eval runs/meco --suite arc_easy,piqa --prefix 'URL: en.wikipedia.org\\n\\n' --out meco.json
  gristmill eval --all-checkpoints runs/a --suite small     (results in runs/a/evals/)
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="evaluate a model: DCLM CORE, small-scale signals, MeCo conditional inference",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
        description="Score a gristmill run, checkpoint or exported Hugging Face model on in-context-learning "
        "tasks in the LLM-Foundry format (forward passes only, batched by length).")
    p.add_argument("model", type=Path, metavar="RUN_OR_CKPT_OR_HF_DIR",
                   help="a training run (its latest checkpoint), a checkpoint folder or a Hugging Face model folder")
    p.add_argument("--suite", default="small", metavar="SPEC", help="suite or task names (default small)")
    p.add_argument("--out", "-o", type=Path, default=None, metavar="FILE", help="results JSON to write")
    p.add_argument("--all-checkpoints", action="store_true",
                   help="evaluate every checkpoint of the run (skipping those already done) into RUN/evals/")
    p.add_argument("--allow-missing", action="store_true",
                   help="report the tasks whose data is here; CORE is then marked partial")
    p.add_argument("--prefix", default="", metavar="TEXT",
                   help="MeCo conditional inference: text placed once before every prompt (\\n means a newline); "
                   "each task is reported with and without it")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="score only the first N items of each task (BLiMP/Zorro: of each paradigm)")
    p.add_argument("--data", type=Path, default=Path(DEFAULT_DATA), metavar="DIR",
                   help=f"folder holding evals/ and reference/ (default {DEFAULT_DATA}, or $GRISTMILL_EVAL_DATA)")
    p.add_argument("--tokenizer", default=None, metavar="FILE", help="tokenizer JSON (default: the model's own)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward passes")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or summary table")
    return p


@contextmanager
def progress_bars(console: Console) -> Iterator[Callable[[str], Callable[[int], None]]]:
    """One bar per task counting scored items (the total is not known before tokenizing)."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} items"),
                  TimeElapsedColumn(), console=console, transient=True) as bars:
        def factory(label: str) -> Callable[[int], None]:
            task = bars.add_task(label, total=None)
            return lambda n: bars.advance(task, n)
        yield factory


def _fmt(m: dict[str, float] | None) -> str:
    if not m or m.get("value") is None:
        return "n/a"
    se = m.get("se")
    return f"{m['value']:.4f} ± {se:.4f}" if se is not None and math.isfinite(se) else f"{m['value']:.4f}"


def summary(doc: dict[str, Any]) -> Table:
    prefixed = (doc.get("prefixed") or {}).get("tasks", {})
    table = Table(title=f"{doc['model']['source']}" + (f" (first {doc['limit']} items per task)" if doc["limit"] else ""))
    for col in ("task", "metric", "value ± se", "chance", *(("with prefix",) if prefixed else ())):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for name, rec in doc["tasks"].items():
        key = rec["primary"]
        row = [name, key, _fmt(rec["metrics"][key]), f"{rec['chance'][key]:.4f}"]
        if prefixed:
            row.append(_fmt(prefixed[name]["metrics"][key]))
        table.add_row(*row)
    for name, agg in doc["aggregates"].items():
        mark = " (partial)" if agg["partial"] else ""
        row = [name + mark, f"{agg['tasks']}/{agg['of']} tasks", _fmt(agg), "0.0000"]
        if prefixed:
            row.append(_fmt(doc["prefixed"]["aggregates"].get(name)))
        table.add_row(*row)
    return table


def run(args: argparse.Namespace) -> int:
    from gristmill.evaluate.runner import evaluate, evaluate_all_checkpoints, write_results
    from gristmill.evaluate.tasks import resolve_tasks
    from gristmill.train.load_model import load_language_model

    names = resolve_tasks(args.suite)
    prefix = args.prefix.replace("\\n", "\n")
    console = Console(stderr=True, quiet=args.quiet)
    if not args.all_checkpoints and args.out is None:
        raise GristmillError("--out FILE is required (or --all-checkpoints, which writes into RUN/evals/)")
    if not args.data.is_dir():
        raise GristmillError(f"evaluation data folder not found: {args.data} (set --data)")
    with progress_bars(console) as bars:
        if args.all_checkpoints:
            def report(ckpt: Path, out: Path, skipped: bool) -> None:
                console.print(f"{ckpt.name}: {'already evaluated' if skipped else 'evaluated'} -> {out}")

            evaluate_all_checkpoints(args.model, args.suite, names, args.data, limit=args.limit, prefix=prefix,
                                     allow_missing=args.allow_missing, device=args.device, bf16=args.bf16,
                                     progress=None if args.quiet else bars, on_checkpoint=report)
            return 0
        lm = load_language_model(args.model, tokenizer=args.tokenizer, device=args.device, bf16=args.bf16)
        doc = evaluate(lm, names, args.data, limit=args.limit, prefix=prefix, allow_missing=args.allow_missing,
                       progress=None if args.quiet else bars)
    write_results(doc | {"suite": args.suite}, args.out)
    console.print(summary(doc))
    for name, agg in doc["aggregates"].items():
        if agg["partial"] and agg["missing"] and name.startswith("core"):
            print(f"gristmill eval: {name} is PARTIAL: missing {', '.join(agg['missing'])}", file=sys.stderr)
            break
    print(args.out)
    return 0
