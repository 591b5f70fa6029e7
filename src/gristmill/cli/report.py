"""`gristmill report RUN_DIR`: (re)write the HTML report of a curation run."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

from gristmill.core.errors import GristmillError


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="write the HTML report of a run",
                       description="Write RUN_DIR/report.html from a run's stats, errors and documents.")
    p.add_argument("run_dir", type=Path, help="output folder of `gristmill run`")
    return p


# What the report reads from stats.json; a folder whose stats lack them is not a curation run.
_STATS_KEYS = ("recipe", "recipe_hash", "shards", "totals", "steps")


def check_run_folder(run_dir: Path) -> None:
    """Raise a one-line `GristmillError` unless ``run_dir`` is a finished curation run whose
    stats.json and errors.jsonl can be read (naming the damaged file and line)."""
    stats_path = run_dir / "stats.json"
    if not stats_path.is_file():
        raise GristmillError(f"{run_dir} has no stats.json (not a finished gristmill run)")
    try:
        stats = orjson.loads(stats_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise GristmillError(f"{stats_path} is damaged: {exc}") from None
    missing = [k for k in _STATS_KEYS if not isinstance(stats, dict) or k not in stats]
    if missing:
        raise GristmillError(f"{stats_path} is not the stats of a curation run (no "
                             f"{', '.join(missing)}); gristmill report reads `gristmill run` "
                             "and `gristmill dedup` folders")
    errors_path = run_dir / "errors.jsonl"
    if errors_path.is_file():
        with errors_path.open("rb") as fh:
            for line_no, line in enumerate(fh, 1):
                try:
                    if not isinstance(orjson.loads(line), dict):
                        raise orjson.JSONDecodeError("not a JSON object", line.decode(errors="replace"), 0)
                except orjson.JSONDecodeError as exc:
                    raise GristmillError(f"{errors_path} line {line_no} is damaged: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from gristmill.report.html import write_run_report

    check_run_folder(args.run_dir)
    print(write_run_report(args.run_dir))
    return 0
