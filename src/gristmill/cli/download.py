"""``gristmill download [crawl]``: Common Crawl files into a local mirror of the bucket.

The first positional argument says what to download; ``crawl`` (the default) is the only kind
for now, and other kinds (``assets``) plug in as another entry of `_RUNNERS`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gristmill.core.errors import InputError
from gristmill.core.ranges import COUNT, POSITIVE, Range
from gristmill.io.download import DEFAULT_BASE_URL, KINDS, download_crawl
from gristmill.io.transfer import DownloadResult

# Beyond this many files the summary shows totals only; the files are all under --out anyway.
_MAX_TABLE_ROWS = 20

_EXAMPLES = """\
examples:
  gristmill download --crawl CC-MAIN-2024-22 --kind wet --files 2 --out data/cc
  gristmill download crawl --crawl CC-MAIN-2024-22 --files 1 --records 500 --out data/cc
  gristmill download --crawl CC-MAIN-2024-22 --files 8 --base-url /mnt/commoncrawl --out data/cc
  gristmill download --crawl CC-MAIN-2024-22 --files 64 --parallel 8 --out data/cc

Files land at OUT/<path in the bucket>; a sample of the first N records is named
<stem>.first-N-records.warc.gz. Partial files (*.part) resume with HTTP Range on a rerun;
complete files are skipped.
"""


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help="download Common Crawl files (whole, or their first N records), or filter assets",
        description="Download Common Crawl WARC/WET/WAT files listed in "
        "crawl-data/CRAWL/KIND.paths.gz, resumably, into a local mirror of the bucket.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "what",
        nargs="?",
        choices=sorted(_RUNNERS),
        default="crawl",
        help="what to download (default: crawl)",
    )
    crawl = parser.add_argument_group("crawl files")
    crawl.add_argument("--crawl", metavar="ID", help="crawl id, e.g. CC-MAIN-2024-22")
    crawl.add_argument("--kind", choices=KINDS, default="warc", help="file kind (default: warc)")
    crawl.add_argument(
        "--files", type=POSITIVE.parse, metavar="N", help="how many files of the listing to download"
    )
    crawl.add_argument(
        "--offset",
        type=COUNT.parse,
        default=0,
        metavar="K",
        help="start at the K-th file of the listing (default: 0)",
    )
    crawl.add_argument(
        "--records",
        type=POSITIVE.parse,
        metavar="N",
        help="keep only the first N WARC records of each file (reads only that far)",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="mirror root")
    parser.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        metavar="URL",
        help=f"bucket root: http(s) URL, file:// URL or local path (default: {DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--retries",
        type=COUNT.parse,
        default=5,
        metavar="N",
        help="retries per file after network failures (default: 5)",
    )
    parser.add_argument(
        "--backoff",
        type=Range(0.0).parse,
        default=1.0,
        metavar="S",
        help="first retry delay in seconds, doubled each retry (default: 1)",
    )
    parser.add_argument(
        "--timeout",
        type=Range(0.0, low_open=True).parse,
        default=60.0,
        metavar="S",
        help="seconds without data before a connection counts as failed (default: 60)",
    )
    parser.add_argument(
        "--parallel",
        type=POSITIVE.parse,
        default=1,
        metavar="N",
        help="transfer N files at once, each resumed and retried on its own (default: 1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    return parser


def run(args: argparse.Namespace) -> int:
    return _RUNNERS[args.what](args)


def _run_crawl(args: argparse.Namespace) -> int:
    if not args.crawl:
        raise InputError("--crawl is required, e.g. --crawl CC-MAIN-2024-22")
    if args.files is None:
        raise InputError("--files is required: how many files of the listing to download")
    started = time.monotonic()
    with _messages_to_stderr(logging.WARNING if args.quiet else logging.INFO):
        results = download_crawl(
            args.crawl,
            args.kind,
            args.files,
            args.out,
            offset=args.offset,
            records=args.records,
            base_url=args.base_url,
            retries=args.retries,
            backoff=args.backoff,
            timeout=args.timeout,
            progress=not (args.no_progress or args.quiet),
            parallel=args.parallel,
        )
    if not args.quiet:
        title = f"{args.crawl} {args.kind} → {args.out}"
        Console().print(summary_table(results, time.monotonic() - started, title=title))
    return 0


def _run_assets(args: argparse.Namespace) -> int:
    """Fetch the filter word lists, blocklists and models that recipes name with ${assets}."""
    from gristmill.assets.fetch import download_assets

    # --base-url defaults to the crawl bucket; assets come from their own public sources
    # unless a mirror of them is named explicitly.
    base = None if args.base_url == DEFAULT_BASE_URL else args.base_url
    with _messages_to_stderr(logging.WARNING if args.quiet else logging.INFO):
        fetched = download_assets(args.out, base_url=base, retries=args.retries,
                                  backoff=args.backoff, timeout=args.timeout)
    if args.quiet:
        return 0
    table = Table(title=f"assets → {args.out}")
    for col in ("asset", "file", "verified"):
        table.add_column(col)
    for item in fetched:
        table.add_row(item.asset.name, str(item.path.name), "yes" if item.verified else "NO (digest differs)")
    Console().print(table)
    return 0


_RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "crawl": _run_crawl,
    "assets": _run_assets,
}


def _rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e6:.1f}" if seconds > 0 and nbytes else ""


def summary_table(results: list[DownloadResult], seconds: float, *, title: str = "") -> Table:
    """Per-file rows (up to 20 files) and a total row: files, bytes, skipped, seconds, and the
    throughput of the bytes fetched in this run over its wall time (all transfers together)."""
    samples = any(r.records is not None for r in results)
    table = Table(title=title or None, show_footer=True)
    files = f"{len(results)} file{'' if len(results) == 1 else 's'}"
    table.add_column("file", footer=files, overflow="fold")
    if samples:
        table.add_column(
            "records", justify="right", footer=f"{sum(r.records or 0 for r in results):,}"
        )
    table.add_column("bytes", justify="right", footer=f"{sum(r.bytes for r in results):,}")
    skipped = sum(r.skipped for r in results)
    table.add_column("status", footer=f"{skipped} skipped")
    table.add_column("seconds", justify="right", footer=f"{seconds:.1f}")
    fetched = sum(r.fetched_bytes for r in results)
    table.add_column("MB/s", justify="right", footer=_rate(fetched, seconds))
    if len(results) <= _MAX_TABLE_ROWS:
        for result in results:
            status = "skipped" if result.skipped else "resumed" if result.resumed else "downloaded"
            row = [result.local_path.name]
            if samples:
                row.append(f"{result.records:,}" if result.records is not None else "")
            row += [f"{result.bytes:,}", status, f"{result.seconds:.1f}",
                    _rate(result.fetched_bytes, result.seconds)]
            table.add_row(*row)
    return table


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a progress bar or a test redirects it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextmanager
def _messages_to_stderr(level: int) -> Iterator[None]:
    """Show the download's skip/resume/retry messages on stderr while the command runs."""
    logger = logging.getLogger("gristmill.io")
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
