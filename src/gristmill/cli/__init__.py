"""The `gristmill` command: one verb per stage.

Each verb lives in its own module `gristmill.cli.<verb>` exposing ``add_parser(subparsers)``
and ``run(args) -> int``. User errors become a one-line reason on stderr and exit code 2:
`GristmillError`, a bad option (argparse's usage text is left to ``--help``), and what the
operating system refuses (no permission, read-only, no space, a file where a folder should
be), named by its path, in every verb. Anything else is a bug and keeps its traceback
(``GRISTMILL_DEBUG=1`` keeps it for the errors above too).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
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
    "experiment": "experiment",
}


# What the operating system refuses because of where or how a user asked to read or write:
# their message, naming the path, is the whole story. Other OSErrors keep their traceback.
_USER_ERRNOS = frozenset({
    errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG,
    errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY,
    errno.ENAMETOOLONG, errno.ELOOP, errno.EMFILE, errno.ENFILE, errno.EIO, errno.EXDEV,
})
# Refusals that concern the file being written.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
# Argument names under which verbs take the folder or file they write.
_OUTPUT_ARGS = ("output", "out", "run_dir", "paths")


class _UsageError(Exception):
    """A command line argparse refused (its message is one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def os_error_line(exc: OSError, args: argparse.Namespace) -> str:
    """One line for an OSError: the path and the system's reason. A write that fails without
    a path (a full disk noticed on ``write``) names the verb's output instead."""
    reason = exc.strerror or str(exc)
    path = exc.filename if exc.filename is not None else exc.filename2
    if exc.errno in _WRITE_ERRNOS and exc.filename2 is not None:
        path = exc.filename2  # a copy (shutil) names its source first, but the target failed
    if path is not None:
        return f"{os.fsdecode(path)}: {reason}"
    output = next((getattr(args, name) for name in _OUTPUT_ARGS if getattr(args, name, None)), None)
    if isinstance(output, (list, tuple)):  # `report PATH...` writes into its one PATH
        output = output[0] if len(output) == 1 else None
    return f"{reason} (while writing {output})" if output is not None else reason


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    debug = os.environ.get("GRISTMILL_DEBUG") == "1"
    try:
        return int(args._run(args) or 0)
    except GristmillError as exc:
        if debug:
            raise
        print(f"gristmill {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if debug or exc.errno not in _USER_ERRNOS:
            raise
        print(f"gristmill {args.verb}: error: {os_error_line(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gristmill {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
