"""`gristmill run RECIPE --input PATH... --output DIR`: a curation recipe end to end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gristmill.cli.summary import (
    add_error_rate_option,
    check_error_rate,
    print_error_notice,
    print_run_summary,
)
from gristmill.core.ranges import POSITIVE, SEED


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="run a curation recipe over input files",
        description="Run the curation steps of a recipe over WARC/WET/JSONL/Parquet inputs. "
        "A shard is one input file; finished shards are skipped on rerun.",
    )
    p.add_argument("recipe", help="recipe YAML file, or the name of a shipped recipe (raw, refinedweb, ...)")
    p.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH",
                   help="input files, folders, globs or URLs")
    p.add_argument("--output", "-o", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--workers", type=POSITIVE.parse, default=None,
                   help="worker processes (default: all cores; at most the CPU count with the "
                   "local executor)")
    p.add_argument("--ray-address", default=None, help="Ray cluster address (e.g. auto)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run the output folder holds (without it, a folder holding "
                   "a different run is refused; the same run resumes)")
    p.add_argument("--keep-dropped", action="store_true",
                   help="also write dropped documents under DIR/dropped/<step>/<reason>/")
    p.add_argument("--assets", type=Path, default=None,
                   help="folder that ${assets} in the recipe resolves to (default: $GRISTMILL_ASSETS)")
    p.add_argument("--seed", type=SEED.parse, default=None,
                   help="override the recipe's seed (hash seeds of dedup steps, sampling)")
    p.add_argument("--plugins", nargs="+", default=[], metavar="MODULE",
                   help="import these modules first: steps of your own, registered with "
                   "@gristmill.register (shipped to every worker)")
    add_error_rate_option(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary table")
    return p


def run(args: argparse.Namespace) -> int:
    from gristmill.engine.pipeline import Pipeline
    from gristmill.engine.recipe import load_recipe
    from gristmill.engine.registry import import_plugins

    import_plugins(args.plugins)  # before the recipe is validated: it may name their steps
    recipe = load_recipe(args.recipe, assets=args.assets)
    recipe.add_plugins(args.plugins)
    pipeline = Pipeline(recipe)
    result = pipeline.run(
        args.input, args.output, executor=args.executor, workers=args.workers,
        ray_address=args.ray_address, keep_dropped=args.keep_dropped, seed=args.seed,
        progress=not args.quiet, overwrite=args.overwrite,
    )
    if result.nothing_to_do:
        print(f"nothing to do: all {result.shards_total} shard(s) already done in {args.output}",
              file=sys.stderr)
    elif not args.quiet:
        print_run_summary(result.stats)
    if not args.quiet:
        print(f"documents: {args.output / 'documents'}\nstats: {args.output / 'stats.json'}",
              file=sys.stderr)
    if not result.nothing_to_do:
        print_error_notice(result.stats, args.output)
    check_error_rate(result.stats, args.max_error_rate)
    return 0
