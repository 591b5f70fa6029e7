"""`gristmill mix`: mix document sources to target token shares or budgets.

    gristmill mix --source wiki=out/wiki/documents --source web=out/dclm/documents \\
        --weight wiki=0.2 --weight web=0.8 --output out/mix
    gristmill mix --source wiki=... --source web=... --tokens wiki=2e9 --tokens web=8e9 \\
        --tokenizer ../shared/data/tokenizers/gpt-neox-20b.tokenizer.json --output out/mix

With weights and no ``--total-tokens`` the mix is the largest that repeats no source. A source
whose target exceeds what it has is upsampled: every document repeats ``floor(epochs)`` times
and a seeded selection once more (the epochs are printed and stored). The realized token
share of every source is printed beside its target and saved in ``OUT/mix.json``. Tokens are
counted with ``--tokenizer`` (a `tokenizers` JSON file), else as words.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

from gristmill.cli.summary import add_run_options, check_error_rate
from gristmill.core.errors import GristmillError


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="mix sources to token shares or budgets (with stated upsampling)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", action="append", required=True, metavar="NAME=PATH[,PATH...]",
                   help="a source and its document files or folders (repeat per source)")
    p.add_argument("--weight", action="append", default=[], metavar="NAME=W", help="token share of a source")
    p.add_argument("--tokens", action="append", default=[], metavar="NAME=N", help="token budget of a source")
    p.add_argument("--total-tokens", type=float, default=0,
                   help="size of the mix with --weight (default: the largest that repeats no source)")
    p.add_argument("--tokenizer", default="", help="tokenizers JSON file to count tokens (default: words)")
    p.add_argument("--max-epochs", type=float, default=10.0, help="most repeats of one source (10)")
    p.add_argument("--output", "-o", required=True, type=Path, metavar="DIR")
    p.add_argument("--seed", type=int, default=0, help="seed of the partial-epoch selection")
    add_run_options(p)
    return p


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise GristmillError(f"{what} {item!r}: expected NAME=VALUE")
        if name in out:
            raise GristmillError(f"{what}: {name!r} given twice")
        out[name] = value
    return out


def _number(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise GristmillError(f"{what}: {value!r} is not a number") from None


def run(args: argparse.Namespace) -> int:
    from gristmill.engine.pipeline import Pipeline
    from gristmill.engine.recipe import recipe_from_steps
    from gristmill.io.formats import detect_format
    from gristmill.io.paths import common_root, expand_inputs, shard_name

    sources = {name: value.split(",") for name, value in _pairs(args.source, "--source").items()}
    weights, budgets = _pairs(args.weight, "--weight"), _pairs(args.tokens, "--tokens")
    if bool(weights) == bool(budgets):
        raise GristmillError("give --weight for every source, or --tokens for every source")
    targets = weights or budgets
    if set(targets) != set(sources):
        raise GristmillError(f"targets given for {sorted(targets)} but sources are {sorted(sources)}")
    files = {name: expand_inputs(paths) for name, paths in sources.items()}
    everything = [f for fs in files.values() for f in fs]
    root = common_root(everything)
    spec = {}
    for name, fs in files.items():
        key = "weight" if weights else "tokens"
        value = _number(targets[name], f"--{key} {name}")
        spec[name] = {"match": [shard_name(f, root) for f in fs], key: value if weights else int(value)}
    steps: list = [{"mix": {"sources": spec, "total_tokens": int(args.total_tokens),
                            "tokenizer": args.tokenizer, "max_epochs": args.max_epochs}}]
    if any(detect_format(f) == "warc" for f in everything):
        steps.insert(0, {"extract_text": {"backend": "auto"}})
    result = Pipeline(recipe_from_steps(steps, name="mix", seed=args.seed)).run(
        everything, args.output, executor=args.executor, workers=args.workers,
        ray_address=args.ray_address, keep_dropped=args.keep_dropped, progress=not args.quiet)
    report = orjson.loads((args.output / "mix.json").read_bytes())
    if not args.quiet:
        print(f"{'source':<20} {'available':>12} {'target':>12} {'epochs':>8} {'target%':>8} {'realized%':>9}")
        for name, s in report["sources"].items():
            print(f"{name:<20} {s['available_tokens']:>12} {s['target_tokens']:>12.0f} {s['epochs']:>8.3f} "
                  f"{100 * s['target_share']:>7.2f}% {100 * s['realized_share']:>8.2f}%")
        print(f"unit: {report['unit']}; documents: {args.output / 'documents'}; report: {args.output / 'mix.json'}")
    check_error_rate(result.stats, args.max_error_rate)
    return 0
