"""Download Common Crawl files (whole, or the first N records) into a local mirror of the bucket.

``download_crawl`` reads ``crawl-data/<CRAWL>/<KIND>.paths.gz`` under a base URL (Common Crawl's
public HTTPS endpoint by default; ``file://`` URLs and plain paths work too, for clusters with a
local copy), picks files ``[offset, offset + files)`` of that list, and writes each to
``<out>/<same relative path>``; the paths file itself is kept at its own relative path, so ``out``
is again a mirror that ``--base-url`` can point at. Every transfer is resumable and atomic
(`gristmill.io.transfer`).

With ``records=N`` only the first N WARC records of each file are kept (see
`gristmill.io.warc_prefix`); the transfer stops once they are in. The sample is named
``<stem>.first-<N>-records.<warc extensions>`` (`sample_name`), so it can never be taken for the
whole file, samples of different sizes live side by side, and readers that look for ``.warc.gz``
/ ``.warc.wet.gz`` still recognise it.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path, PurePosixPath

from gristmill.core.errors import InputError
from gristmill.io.http import NotFoundError, TransientError, join_location
from gristmill.io.transfer import DownloadResult, Transfer, TransferProgress, fetch_url, file_size
from gristmill.io.warc_prefix import WarcFormatError, WarcPrefixCopier, scan_prefix

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://data.commoncrawl.org/"
KINDS = ("warc", "wet", "wat")

# Samples are read in small pieces, so that little is read past the last record wanted.
_SAMPLE_CHUNK = 64 << 10
_CRAWL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def sample_name(filename: str, records: int) -> str:
    """Name of the sample of a file's first ``records`` records.

    ``pages-00000.warc.gz`` → ``pages-00000.first-50-records.warc.gz``; the marker goes before
    ``.warc`` so ``.warc.gz`` / ``.warc.wet.gz`` / ``.warc.wat.gz`` endings survive.
    """
    marker = f".first-{records}-records"
    cut = filename.find(".warc")
    if cut <= 0:
        cut = filename.find(".")
        if cut <= 0:
            cut = len(filename)
    return filename[:cut] + marker + filename[cut:]


def _trim_partial_sample(part: Path) -> tuple[int, int, bool | None]:
    """Cut a partial sample back to its last safe point; (size, records, gzip or None)."""
    if not part.exists():
        return 0, 0, None
    safe, records, compressed = scan_prefix(part)
    if file_size(part) != safe:
        os.truncate(part, safe)
    return safe, records, compressed if safe else None


def fetch_warc_sample(
    url: str,
    dest: Path,
    records: int,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: TransferProgress | None = None,
    relative_path: str | None = None,
) -> DownloadResult:
    """Write the first ``records`` WARC records of ``url`` to ``dest``, reading only that far.

    Resumable like `fetch_url`: ``dest.part`` holds whole gzip members copied from the source,
    so a retry or a rerun continues with a Range request from its last record boundary. A file
    with fewer records gives a sample of all of them (with a warning); an existing ``dest`` is
    skipped.

    Raises:
        NotFoundError, DownloadError: as `fetch_url`.
        WarcFormatError: the source is not a (gzipped) WARC file.
    """
    t = Transfer(url, dest, retries=retries, backoff=backoff, timeout=timeout,
                  progress=progress, relative_path=relative_path)
    if t.already_complete():
        return t.result(skipped=True, records=scan_prefix(t.dest)[1])
    damage: str | None = None
    with t.shown(f"{PurePosixPath(t.name).name} (first {records} records)"):
        while True:
            safe, done_records, compressed = _trim_partial_sample(t.part)
            if done_records >= records:
                t.resumed = True
                break
            opened = t.open_from(safe)
            if opened is None:  # the source ends exactly where the partial sample does
                t.resumed = True
                break
            with opened:
                where = f"after record {done_records} (byte {safe})"
                if t.start_of(opened, safe, where) != safe:
                    safe, done_records, compressed = 0, 0, None
                t.progress.update(t.task, completed=safe)
                before = t.fetched
                try:
                    with t.writing(safe) as fh:
                        copier = WarcPrefixCopier(
                            url, fh, records - done_records, compressed=compressed, offset=safe
                        )
                        for chunk in t.chunks(opened.chunks(_SAMPLE_CHUNK)):
                            if copier.feed(chunk):
                                break
                        else:
                            total, received = opened.total, t.fetched - before
                            copier.end_of_input(total is None or opened.start + received >= total)
                except TransientError as exc:
                    t.interrupted(exc, safe)
                    continue
            if copier.done:
                done_records += copier.safe_records
                damage = copier.damage
                break
            t.budget.failed(
                f"connection closed after {opened.start + t.fetched - before:,} of "
                f"{opened.total or 0:,} bytes",
                progressed=file_size(t.part) > safe,
            )
        if done_records == 0:
            t.part.unlink(missing_ok=True)
            raise WarcFormatError(damage or f"{url}: no WARC record found")
        if damage is not None:
            log.warning("%s; keeping the %d whole records before it", damage, done_records)
        elif done_records < records:
            log.warning("%s: holds only %d records (asked for %d)", url, done_records, records)
        t.commit()
    return t.result(records=done_records)


def list_crawl_files(
    crawl: str,
    kind: str,
    out: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
) -> list[str]:
    """The relative paths listed in ``crawl-data/<crawl>/<kind>.paths.gz`` under ``base_url``.

    The paths file is kept under ``out`` at the same relative path (fetched once; a crawl's
    listing never changes). Every listed path is checked to stay inside ``out``.
    """
    _check_crawl_id(crawl)
    if kind not in KINDS:
        raise InputError(f"unknown file kind {kind!r}: choose one of {', '.join(KINDS)}")
    relative = f"crawl-data/{crawl}/{kind}.paths.gz"
    url = join_location(base_url, relative)
    try:
        listing = fetch_url(
            url, Path(out) / relative, retries=retries, backoff=backoff, timeout=timeout
        ).local_path
    except NotFoundError as exc:
        raise InputError(
            f"no {kind} file list for crawl {crawl!r} at {url} ({exc.reason}): "
            "is the crawl id right (Common Crawl ids look like CC-MAIN-2024-22)?"
        ) from None
    try:
        text = gzip.decompress(listing.read_bytes()).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        listing.unlink(missing_ok=True)  # so that a rerun fetches it again
        raise InputError(f"{url}: not a gzip-compressed UTF-8 list of paths ({exc})") from None
    paths = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = PurePosixPath(line)
        if parts.is_absolute() or ".." in parts.parts or "\\" in line or "://" in line:
            raise InputError(f"{url}: line {lineno}: refusing path {line!r} outside the mirror")
        paths.append(line)
    if not paths:
        raise InputError(f"{url}: lists no files")
    return paths


def _check_crawl_id(crawl: str) -> None:
    if not _CRAWL_ID.match(crawl):
        raise InputError(
            f"bad crawl id {crawl!r}: expected a name like CC-MAIN-2024-22 "
            "(letters, digits, '.', '_', '-')"
        )


def download_crawl(
    crawl: str,
    kind: str,
    files: int,
    out: Path,
    *,
    offset: int = 0,
    records: int | None = None,
    base_url: str = DEFAULT_BASE_URL,
    retries: int = 5,
    backoff: float = 1.0,
    progress: bool = True,
    timeout: float = 60.0,
    parallel: int = 1,
) -> list[DownloadResult]:
    """Download files ``[offset, offset + files)`` of a crawl's ``kind`` listing into ``out``.

    Each file lands at ``out/<its path in the bucket>``; with ``records`` only its first
    ``records`` WARC records are kept, as ``sample_name(...)`` beside where the whole file
    would go. ``parallel`` files are fetched at once, each with its own Range resume and retry
    budget; after the first failure no new file starts, the transfers in flight end, and the
    failure is raised. A rerun skips what is complete and resumes what is partial.

    Args:
        crawl: crawl id, e.g. ``CC-MAIN-2024-22``.
        kind: ``warc``, ``wet`` or ``wat``.
        files: how many files to take from the listing (fewer if it ends first).
        out: local mirror root.
        offset: index of the first file in the listing.
        records: keep only the first N records of each file.
        base_url: mirror root: http(s) URL, ``file://`` URL or local path.
        retries: retries per file after transient failures.
        backoff: first retry delay in seconds, doubled each time (capped at 60 s).
        progress: byte progress bars on stderr when it is a terminal.
        timeout: seconds without data before a connection counts as failed.
        parallel: how many files to transfer at once.
    """
    if parallel < 1:
        raise InputError(f"parallel must be at least 1, got {parallel}")
    if files < 1:
        raise InputError(f"files must be at least 1, got {files}")
    if offset < 0:
        raise InputError(f"offset must be 0 or more, got {offset}")
    if records is not None and records < 1:
        raise InputError(f"records must be at least 1, got {records}")
    if retries < 0 or backoff < 0:
        raise InputError("retries and backoff must not be negative")
    out = Path(out)
    listing = list_crawl_files(
        crawl, kind, out, base_url=base_url, retries=retries, backoff=backoff, timeout=timeout
    )
    if offset >= len(listing):
        raise InputError(
            f"offset {offset} is past the end of the {len(listing)} {kind} files "
            f"listed for crawl {crawl}"
        )
    chosen = listing[offset : offset + files]
    if len(chosen) < files:
        log.warning(
            "crawl %s lists %d %s files; taking the %d from offset %d",
            crawl,
            len(listing),
            kind,
            len(chosen),
            offset,
        )
    options = {"retries": retries, "backoff": backoff, "timeout": timeout}

    def fetch(relative: str, bar: TransferProgress) -> DownloadResult:
        url, dest = join_location(base_url, relative), out / relative
        if records is None:
            result = fetch_url(url, dest, progress=bar, relative_path=relative, **options)
        else:
            result = fetch_warc_sample(url, dest.with_name(sample_name(dest.name, records)),
                                       records, progress=bar, relative_path=relative, **options)
        bar.file_finished()
        return result

    with TransferProgress(enabled=progress, files=len(chosen)) as bar:
        if parallel == 1:
            return [fetch(relative, bar) for relative in chosen]
        return _fetch_in_parallel(chosen, lambda relative: fetch(relative, bar), parallel)


def _fetch_in_parallel(chosen: list[str], fetch: Callable[[str], DownloadResult],
                       parallel: int) -> list[DownloadResult]:
    """``fetch`` of every path, ``parallel`` at a time, results in listing order. After the
    first failure no new transfer starts; those in flight finish (or fail) and keep their
    ``.part`` files, and the first failure is raised, so a rerun resumes everything."""
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="download") as pool:
        futures = [pool.submit(fetch, relative) for relative in chosen]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            for future in futures:
                future.cancel()
        wait(futures)
    failed = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
    if failed:
        raise failed[0]
    return [f.result() for f in futures]
