"""`gristmill report RUN_DIR`: (re)write the HTML report of a curation run."""

from __future__ import annotations

import argparse
from pathlib import Path

from gristmill.core.errors import GristmillError


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="write the HTML report of a run",
                       description="Write RUN_DIR/report.html from a run's stats, errors and documents.")
    p.add_argument("run_dir", type=Path, help="output folder of `gristmill run`")
    return p


def run(args: argparse.Namespace) -> int:
    from gristmill.report.html import write_run_report

    if not (args.run_dir / "stats.json").is_file():
        raise GristmillError(f"{args.run_dir} has no stats.json (not a finished gristmill run)")
    print(write_run_report(args.run_dir))
    return 0
