"""The summary table printed at the end of a run (rich, to stderr so stdout stays parseable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from gristmill.core.errors import GristmillError


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f}"


# Share of input records that may error (bad records, steps that raised) before the run
# counts as failed. Web crawls always hold a few broken records; many more mean a bug.
DEFAULT_MAX_ERROR_RATE = 0.01


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_error_rate_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-error-rate", type=_rate, default=DEFAULT_MAX_ERROR_RATE, metavar="F",
                        help="exit non-zero when more than this share of input records errored "
                        f"(default {DEFAULT_MAX_ERROR_RATE})")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Executor, workers, Ray address, --keep-dropped, --quiet and --max-error-rate: the
    options of a verb that runs a pipeline over its inputs."""
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--ray-address", default=None)
    parser.add_argument("--keep-dropped", action="store_true")
    parser.add_argument("--quiet", "-q", action="store_true")
    add_error_rate_option(parser)


def check_error_rate(stats: dict[str, Any], max_rate: float) -> None:
    """Raise a one-line `GristmillError` when more than ``max_rate`` of the input records
    errored (after the outputs, stats and error lists are written)."""
    totals = stats["totals"]
    records, errored = totals["input_records"], totals["errored"]
    if records and errored / records > max_rate:
        raise GristmillError(
            f"{errored:,} of {records:,} input records errored ({errored / records:.1%}, above "
            f"--max-error-rate {max_rate:g}); see errors.jsonl and quarantine/")


def print_error_notice(stats: dict[str, Any], output: Path) -> None:
    """One warning line when records errored (printed even with ``-q``): how many, the
    first one's file, offset and message, and where the rest are listed."""
    errored = stats["totals"]["errored"]
    if not errored:
        return
    first = ""
    errors_file = output / "errors.jsonl"
    try:
        with open(errors_file, "rb") as fh:
            line = fh.readline()
        if line:
            e = orjson.loads(line)
            first = f"; first: {e.get('file') or e.get('id')}@{e.get('offset')}: {e.get('message')}"
    except (OSError, orjson.JSONDecodeError):
        pass
    print(f"warning: {errored:,} record(s) errored{first}; all listed in {errors_file}",
          file=sys.stderr)


def print_run_summary(stats: dict[str, Any], console: Console | None = None) -> None:
    """Per step: documents in/out, dropped (top reasons), errors, MB in/out, CPU seconds."""
    if console is None:
        console = Console(stderr=True)
        if not console.is_terminal:  # logs and CI: rich would wrap the table at 80 columns
            console = Console(stderr=True, width=160)
    table = Table(title=f"recipe {stats['recipe']} — {stats['shards']} shard(s)")
    for col in ("step", "docs in", "docs out", "dropped", "errors", "MB in", "MB out", "cpu s"):
        table.add_column(col, justify="left" if col in ("step", "dropped") else "right",
                         no_wrap=col == "step")
    for s in stats["steps"]:
        reasons = sorted(s["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))
        dropped = f"{s['docs_dropped']:,}"
        if reasons:
            shown = ", ".join(f"{r}: {n:,}" for r, n in reasons[:2])
            more = f", +{len(reasons) - 2} more" if len(reasons) > 2 else ""
            dropped += f" ({shown}{more})"
        table.add_row(
            s["name"], f"{s['docs_in']:,}", f"{s['docs_out']:,}", dropped, f"{s['errors']:,}",
            _mb(s["bytes_in"]), _mb(s["bytes_out"]), f"{s['seconds']:.2f}",
        )
    console.print(table)
    t = stats["totals"]
    balance = "accounted" if t["accounted"] else "NOT ACCOUNTED"
    console.print(
        f"input records {t['input_records']:,} = kept {t['kept']:,} + dropped {t['dropped']:,}"
        f" + errored {t['errored']:,} ({balance})"
    )
