"""The `gristmill` command: one verb per stage.

Each verb lives in its own module `gristmill.cli.<verb>` exposing ``add_parser(subparsers)``
and ``run(args) -> int``. User errors (`GristmillError`) become a one-line reason on stderr
and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gristmill import __version__
from gristmill.core.errors import GristmillError

# Verb name -> module under gristmill.cli. Modules not yet written are left out of --help.
VERBS = {
    "download": "download",
    "run": "run",
    "dedup": "dedup",
    "quality": "quality",
    "decontaminate": "decontaminate",
    "mix": "mix",
    "tokenizer": "tokenizer",
    "tokenize": "tokenize",
    "train": "train",
    "eval": "evaluate",
    "analyze": "analyze",
    "report": "report",
    "export": "export",
    "demo": "demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gristmill",
        description="Raw web crawl to language-model training data: "
        "download, curate, tokenize, train, evaluate, compare.",
    )
    parser.add_argument("--version", action="version", version=f"gristmill {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, module in VERBS.items():
        try:
            mod = importlib.import_module(f"gristmill.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gristmill.cli.{module}":
                continue
            raise
        verb_parser = mod.add_parser(sub, verb)
        verb_parser.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except GristmillError as exc:
        print(f"gristmill {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gristmill {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
