"""`gristmill decontaminate --evals DIR --input DOCS --report FILE [--remove]`.

Indexes the eval items once, scans the documents once, and writes a JSON report: per task
the items, dirty (over 80% of tokens in 10-token spans shared with the corpus) and clean
(under 20%) counts and rates, documents flagged, and every flagged (item, document) pair with
its matched span (Llama 2 §4.1; DCLM §4.6's targeted MMLU/HellaSwag rule). ``--remove``
writes the corpus without the flagged documents to ``--output`` (``--remove strings``: only
the matched strings are cut out, as DCLM did).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import orjson

from gristmill.cli.summary import add_error_rate_option, check_error_rate
from gristmill.core.errors import GristmillError


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="find eval items in documents; report and optionally remove",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--evals", required=True, help="folder of LLM-Foundry ICL *.jsonl eval sets")
    p.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH")
    p.add_argument("--report", required=True, type=Path, help="JSON report to write")
    p.add_argument("--remove", nargs="?", const="documents", choices=["documents", "strings"],
                   default=None, help="drop flagged documents (or only the matched strings)")
    p.add_argument("--output", "-o", type=Path, default=None, help="output folder (needed with --remove)")
    p.add_argument("--tasks", nargs="+", default=[], help="only these tasks (file stems)")
    p.add_argument("--ngram", type=int, default=None, help="shared span length in tokens (10)")
    p.add_argument("--max-doc-frequency", type=int, default=None,
                   help="spans found in more documents are common phrases, ignored (100)")
    p.add_argument("--no-targeted", dest="targeted", action="store_false", default=None,
                   help="skip DCLM's MMLU/HellaSwag question+option rule")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--ray-address", default=None)
    p.add_argument("--quiet", "-q", action="store_true")
    add_error_rate_option(p)
    return p


def run(args: argparse.Namespace) -> int:
    from gristmill.engine.pipeline import Pipeline
    from gristmill.engine.recipe import recipe_from_steps
    from gristmill.io.formats import detect_format
    from gristmill.io.paths import expand_inputs

    if args.remove and args.output is None:
        raise GristmillError("--remove needs --output (where the cleaned documents go)")
    kwargs = {"evals": args.evals, "report": str(args.report.resolve()),
              "remove": args.remove or "none", "tasks": args.tasks}
    for key in ("ngram", "max_doc_frequency", "targeted"):
        if getattr(args, key) is not None:
            kwargs[key] = getattr(args, key)
    steps: list = [{"decontaminate": kwargs}]
    if any(detect_format(f) == "warc" for f in expand_inputs(args.input)):
        steps.insert(0, {"extract_text": {"backend": "auto"}})
    with tempfile.TemporaryDirectory(prefix="gristmill-decontam-") as tmp:
        out = args.output or Path(tmp) / "run"
        result = Pipeline(recipe_from_steps(steps, name="decontaminate")).run(
            args.input, out, executor=args.executor, workers=args.workers,
            ray_address=args.ray_address, progress=not args.quiet)
    report = orjson.loads(args.report.read_bytes())
    if not args.quiet:
        print(f"{'task':<34} {'items':>7} {'dirty':>6} {'dirty%':>8} {'clean%':>8} {'docs':>6}")
        for task, t in report["tasks"].items():
            print(f"{task:<34} {t['items']:>7} {t['dirty']:>6} {100 * t['dirty_rate']:>7.3f}% "
                  f"{100 * t['clean_rate']:>7.3f}% {t['documents_flagged']:>6}")
        print(f"flagged pairs: {len(report['flagged'])}; report: {args.report}", file=sys.stderr)
    check_error_rate(result.stats, args.max_error_rate)
    return 0
