"""`gristmill report PATH...`: the HTML report of a curation run, of a training run, or one page
comparing several runs."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

from gristmill.core.errors import GristmillError

_EPILOG = """\
One PATH:  a curation run (gristmill run: funnel, drop reasons, score histograms, kept and dropped
           samples) -> PATH/report.html; a training run (loss, learning rate, gradient norm, eval
           curves, memorization heatmap) -> PATH/report.html
Several:   a leaderboard with lineage (recipe hash, dataset, scale, tokens) and scores with standard
           errors, plus overlaid curves -> --out (default compare.html). A PATH may also be a results
           file of gristmill eval --out.
Every page is one self-contained HTML file (inline SVG, no network).
"""


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="write the HTML report of a run, or one comparing runs",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
                       description="Write a self-contained HTML report of a curation or training run, "
                       "or a page comparing several runs.")
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="run folder(s) or eval results file(s)")
    p.add_argument("--out", "-o", type=Path, default=None, metavar="FILE",
                   help="where to write (default PATH/report.html, or compare.html for several)")
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
    from gristmill.report.compare import render_comparison
    from gristmill.report.html import write_run_report
    from gristmill.report.training import is_training_run, render_training_report

    for path in args.paths:
        if not path.exists():
            raise GristmillError(f"{path} does not exist")
    if len(args.paths) == 1 and (args.paths[0] / "stats.json").is_file():
        check_run_folder(args.paths[0])
        out = write_run_report(args.paths[0])
        if args.out:
            out = out.replace(args.out)
        print(out)
        return 0
    if len(args.paths) == 1 and is_training_run(args.paths[0]):
        html, out = render_training_report(args.paths[0]), args.out or args.paths[0] / "report.html"
    elif len(args.paths) > 1:
        html, out = render_comparison(args.paths), args.out or Path("compare.html")
    else:
        raise GristmillError(f"{args.paths[0]} has no stats.json (not a finished curation run) and is not a "
                             "training run (config.json + metrics.jsonl); give two or more PATHs to compare")
    from gristmill.io.atomic import write_atomic

    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, html.encode("utf-8"))
    print(out)
    return 0
