"""`gristmill dedup`: run one dedup method over input files, or plan a BFF filter's memory.

    gristmill dedup --method bff --input DIR --output OUT [--shards 100] [--executor ray]
    gristmill dedup --method minhash --input a.jsonl.zst b.jsonl.zst --output OUT --verify
    gristmill dedup plan --ngrams 1e9 --fp-rate 0.01        # or --bytes 12TB [--shards 100]

A dedup run is a recipe of one global step run by the pipeline engine (WARC inputs get
``extract_text`` first), so its output folder is a standard run folder:
``OUT/documents/<shard>.jsonl.zst`` (survivors; one shard per input file, named from its path),
``OUT/stats.json`` (the same schema as ``gristmill run``; the dedup step's counters, clusters
and paragraphs removed, are under its ``extra``), ``OUT/errors.jsonl``, ``OUT/manifest.json``,
with ``--keep-dropped`` ``OUT/dropped/<step>/<reason>/<shard>.jsonl.zst`` (each removed
document with ``drop_reason`` and, where there is one, ``duplicate_of``: the id of its
surviving copy). Scratch files live in ``OUT/.state`` while the job runs; a killed run
resumes from them and a finished one is not redone.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

import orjson

from gristmill.cli.summary import (
    add_error_rate_option,
    check_error_rate,
    print_error_notice,
    print_run_summary,
)
from gristmill.core.errors import GristmillError
from gristmill.core.ranges import POSITIVE, SEED, Range

METHOD_STEPS = {"exact": "exact_dedup", "bff": "bff_dedup", "minhash": "minhash_dedup"}

# Options each method's step takes, under the same name as the step keyword (only options
# given on the command line are passed, so every default lives in one place: the step's
# signature).
_METHOD_OPTIONS = {
    "exact": frozenset({"key", "keep", "normalize", "partitions", "seed"}),
    "bff": frozenset({"ngram_size", "min_ngram_size", "threshold", "fp_rate", "expected_ngrams",
                      "shards", "blocks", "batch_ngrams", "actors", "seed"}),
    "minhash": frozenset({"ngram", "num_perm", "bands", "rows", "threshold", "verify", "partitions",
                          "seed"}),
}
_ALL_METHOD_OPTIONS = frozenset().union(*_METHOD_OPTIONS.values())

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgtp]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"12TB"`` -> 12e12, ``"1.5GiB"`` -> 1.5 * 2^30, ``"1e9"`` -> 1e9."""
    m = _SIZE.match(text)
    if not m:
        raise GristmillError(f"cannot read size {text!r} (examples: 700GB, 1.5TiB, 1e9)")
    number, unit, binary = float(m.group(1)), m.group(2).lower(), bool(m.group(3))
    power = "kmgtp".index(unit) + 1 if unit else 0
    return int(number * (1024 if binary else 1000) ** power)


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help="deduplicate documents (exact, BFF, MinHash-LSH) or plan BFF memory",
        description="Deduplicate input files with one method, or print the memory a BFF Bloom "
        "filter needs ('gristmill dedup plan --ngrams N' / '--bytes SIZE'). Method options left "
        "out take the step's defaults (DCLM-Baseline's for BFF).",
    )
    p.add_argument("action", nargs="?", choices=["plan"], help="'plan': print the BFF memory plan")
    run = p.add_argument_group("dedup")
    run.add_argument("--method", choices=sorted(METHOD_STEPS), help="dedup method")
    run.add_argument("--input", "-i", nargs="+", metavar="PATH", help="input files, folders, globs")
    run.add_argument("--output", "-o", type=Path, metavar="DIR", help="output folder")
    run.add_argument("--executor", choices=["local", "ray"], default="local", help="local (default) or ray")
    run.add_argument("--workers", type=POSITIVE.parse, default=None,
                     help="worker processes (default: all cores)")
    run.add_argument("--ray-address", default=None, help="Ray cluster address (e.g. auto)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the run the output folder holds (without it, a folder "
                     "holding a different run is refused; the same run resumes)")
    run.add_argument("--keep-dropped", action="store_true",
                     help="write removed documents under DIR/dropped/<reason>/")
    run.add_argument("--keep-work", action="store_true",
                     help="keep the dedup job's scratch files under DIR/.state")
    run.add_argument("--quiet", "-q", action="store_true", help="no summary table")
    run.add_argument("--seed", type=SEED.parse, default=None, help="hash seed (default 0)")
    run.add_argument("--plugins", nargs="+", default=[], metavar="MODULE",
                     help="modules to import first (steps of your own)")
    add_error_rate_option(run)
    ex = p.add_argument_group("exact")
    ex.add_argument("--key", choices=["text", "url", "lines"], default=None,
                    help="compare whole texts, URLs or lines (default text)")
    ex.add_argument("--keep", choices=["first", "url_hash"], default=None,
                    help="survivor: first in corpus order, or smallest normalized-URL hash")
    ex.add_argument("--no-normalize", dest="normalize", action="store_false", default=None,
                    help="compare raw text instead of stripped, lowercased text")
    bff = p.add_argument_group("bff (defaults: DCLM-Baseline)")
    bff.add_argument("--ngram-size", type=int, default=None, help="tokens per n-gram (13)")
    bff.add_argument("--min-ngram-size", type=int, default=None, help="shortest paragraph hashed whole (13)")
    bff.add_argument("--threshold", type=float, default=None,
                     help="BFF containment / MinHash Jaccard threshold (0.8)")
    bff.add_argument("--fp-rate", type=float, default=None, help="Bloom false-positive rate (0.01)")
    bff.add_argument("--expected-ngrams", type=float, default=None,
                     help="n-grams the filter is sized for (default: counted)")
    bff.add_argument("--shards", type=int, default=None, help="independent dedup shards (1; DCLM: 100)")
    bff.add_argument("--blocks", type=int, default=None, help="filter blocks (64)")
    bff.add_argument("--batch-ngrams", type=int, default=None, help="n-grams per vectorised batch")
    bff.add_argument("--actors", type=int, default=None, help="Ray actors for a global filter")
    mh = p.add_argument_group("minhash")
    mh.add_argument("--ngram", type=int, default=None, help="words per shingle (5)")
    mh.add_argument("--num-perm", type=int, default=None, help="signature length (128)")
    mh.add_argument("--bands", type=int, default=None, help="LSH bands (solved when omitted)")
    mh.add_argument("--rows", type=int, default=None, help="LSH rows per band")
    mh.add_argument("--verify", action="store_true", default=None, help="check true Jaccard of candidates")
    mh.add_argument("--partitions", type=int, default=None, help="partitions of intermediate files (0: automatic)")
    plan = p.add_argument_group("plan")
    plan.add_argument("--ngrams", default=None, help="expected n-gram count (e.g. 1e9)")
    plan.add_argument("--bytes", dest="corpus_bytes", default=None,
                      help="corpus text size instead of --ngrams (e.g. 12TB)")
    plan.add_argument("--bytes-per-token", type=Range(0.0, low_open=True).parse, default=None,
                      help="UTF-8 bytes per token when sizing from --bytes (5.0)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    if args.action == "plan":
        return _plan(args)
    missing = [o for o, v in (("--method", args.method), ("--input", args.input), ("--output", args.output))
               if not v]
    if missing:
        raise GristmillError(f"missing {', '.join(missing)} (or use 'gristmill dedup plan')")
    return _dedup(args)


# -- plan ---------------------------------------------------------------------------------


def _plan(args: argparse.Namespace) -> int:
    from gristmill.dedup.plan import BYTES_PER_TOKEN, ngrams_for_bytes, plan_bloom

    if (args.ngrams is None) == (args.corpus_bytes is None):
        raise GristmillError("give exactly one of --ngrams or --bytes")
    if args.ngrams is not None:
        total = int(parse_size(args.ngrams))
        source = f"{total:,} n-grams"
    else:
        corpus = parse_size(args.corpus_bytes)
        per_token = args.bytes_per_token or BYTES_PER_TOKEN
        total = ngrams_for_bytes(corpus, per_token)
        source = f"{corpus:,} bytes at {per_token} bytes/token = {total:,} n-grams"
    if total < 1:
        raise GristmillError(f"the plan needs at least one n-gram, got {source}")
    # The filter options take the values the bff_dedup step accepts.
    shards = _checked("bff_dedup", "shards", 1 if args.shards is None else args.shards)
    fp = _checked("bff_dedup", "fp_rate", args.fp_rate if args.fp_rate is not None else 0.01)
    blocks = _checked("bff_dedup", "blocks", 64 if args.blocks is None else args.blocks)
    per_shard = math.ceil(total / shards)
    try:
        p = plan_bloom(per_shard, fp, blocks)
    except ValueError as exc:
        raise GristmillError(str(exc)) from exc
    result: dict[str, Any] = {"source": source, "shards": shards, "per_shard": p.to_dict(),
                              "total_allocated_bytes": p.allocated_bytes * shards}
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"BFF Bloom filter for {source}, false-positive rate {fp}")
    print(f"  per dedup shard ({shards} shard(s)): {per_shard:,} n-grams, {p.hashers} hashers, "
          f"{p.bits_per_ngram:.2f} bits/n-gram")
    print(f"  bytes per shard: {p.allocated_bytes:,} ({_human(p.allocated_bytes)}); "
          f"DCLM size {p.theoretical_bytes:,}")
    print(f"  total: {p.allocated_bytes * shards:,} bytes ({_human(p.allocated_bytes * shards)})"
          + (" held one shard at a time per worker" if shards > 1 else ""))
    return 0


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"  # pragma: no cover


# -- dedup --------------------------------------------------------------------------------


def _checked(step: str, option: str, value: Any) -> Any:
    """``value`` if the step accepts it for ``option``; else a one-line error naming the flag
    and the allowed values (the step's own declared range: one statement of it)."""
    from gristmill.core.step import config_problem
    from gristmill.engine.registry import step_class

    problem = config_problem(step_class(step), option, value)
    if problem is not None:
        raise GristmillError(f"--{option.replace('_', '-')} {problem}")
    return value


def step_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Step keywords from the options given on the command line for ``args.method``."""
    allowed = _METHOD_OPTIONS[args.method]
    kwargs: dict[str, Any] = {}
    for option, value in vars(args).items():
        if value is None or option not in _ALL_METHOD_OPTIONS:
            continue
        if option not in allowed:
            flag = "--" + option.replace("_", "-")
            raise GristmillError(f"{flag} does not apply to --method {args.method}")
        if option == "expected_ngrams" and float(value).is_integer():
            value = int(value)
        kwargs[option] = _checked(METHOD_STEPS[args.method], option, value)
    return kwargs


def dedup_recipe(method: str, kwargs: dict[str, Any], inputs: list[str], seed: int):
    """The one-step recipe of a dedup run; WARC inputs are extracted (``extract_text``,
    backend ``auto``) first, since deduplicating raw payloads would compare empty texts."""
    from gristmill.engine.recipe import recipe_from_steps
    from gristmill.io.formats import detect_format
    from gristmill.io.paths import expand_inputs

    steps: list[Any] = [{METHOD_STEPS[method]: kwargs}]
    if any(detect_format(f) == "warc" for f in expand_inputs(inputs)):
        steps.insert(0, {"extract_text": {"backend": "auto"}})
    return recipe_from_steps(steps, name=f"dedup-{method}", seed=seed)


def _dedup(args: argparse.Namespace) -> int:
    from gristmill.engine.pipeline import Pipeline
    from gristmill.engine.registry import import_plugins

    import_plugins(args.plugins)
    recipe = dedup_recipe(args.method, step_kwargs(args), args.input, args.seed or 0)
    recipe.plugins.extend(args.plugins)
    if len(recipe.steps) > 1 and not args.quiet:
        print("WARC input: extracting the text of its pages first (extract_text, backend auto); "
              "the extraction is in the stats", file=sys.stderr)
    result = Pipeline(recipe).run(
        args.input, args.output, executor=args.executor, workers=args.workers,
        ray_address=args.ray_address, keep_dropped=args.keep_dropped, progress=not args.quiet,
        overwrite=args.overwrite,
        keep_work=args.keep_work,
    )
    if result.nothing_to_do:
        print(f"nothing to do: {args.output} already holds this dedup run", file=sys.stderr)
    elif not args.quiet:
        print_run_summary(result.stats)
    if not args.quiet:
        print(f"documents: {args.output / 'documents'}\nstats: {args.output / 'stats.json'}",
              file=sys.stderr)
    if not result.nothing_to_do:
        print_error_notice(result.stats, args.output)
    check_error_rate(result.stats, args.max_error_rate)
    return 0
