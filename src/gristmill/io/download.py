"""Download Common Crawl files (whole, or the first N records) into a local mirror of the bucket.

``download_crawl`` reads ``crawl-data/<CRAWL>/<KIND>.paths.gz`` under a base URL (Common Crawl's
public HTTPS endpoint by default; ``file://`` URLs and plain paths work too, for clusters with a
local copy), picks files ``[offset, offset + files)`` of that list, and writes each to
``<out>/<same relative path>``; the paths file itself is kept at its own relative path, so ``out``
is again a mirror that ``--base-url`` can point at.

Every transfer is resumable and atomic: bytes go to ``<name>.part``, a retry after a cut
connection or a rerun after a crash continues with ``Range: bytes=<size>-`` (restarting from zero
when a server ignores Range), the final size is checked against Content-Length / Content-Range,
and only then is ``.part`` renamed to the final name. A final name therefore always holds a
complete, checked file, and an existing one is skipped without any request. A server that
announces no size ends the body by closing the connection: a ``.gz`` / ``.zst`` file must then
hold a whole gzip/zstd stream (not empty, its magic bytes first, its last member/frame ended),
else the transfer is resumed or fails naming the URL. A cut exactly at a member boundary (one
gzip member per WARC record) leaves a shorter file that is itself whole: no client can see it.

With ``records=N`` only the first N WARC records of each file are kept (see
`gristmill.io.warc_prefix`); the transfer stops once they are in. The sample is named
``<stem>.first-<N>-records.<warc extensions>`` (`sample_name`), so it can never be taken for the
whole file, samples of different sizes live side by side, and readers that look for ``.warc.gz``
/ ``.warc.wet.gz`` still recognise it.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from gristmill.core.errors import InputError
from gristmill.io.atomic import sync
from gristmill.io.compression import EndCheck, StreamError, codec_of_name
from gristmill.io.http import NotFoundError, OpenedResource, TransientError, join_location
from gristmill.io.resumable import (
    ResumableReader,
    RetryBudget,
    SourceShorterError,
    open_from,
)
from gristmill.io.warc_prefix import WarcFormatError, WarcPrefixCopier, scan_prefix

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://data.commoncrawl.org/"
KINDS = ("warc", "wet", "wat")

# Whole files are read in big pieces (fewer syscalls); samples in small ones, so that little is
# read past the last record wanted.
_FILE_CHUNK = 1 << 20
_SAMPLE_CHUNK = 64 << 10
_CRAWL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class DownloadResult:
    """What one file's download did.

    Attributes:
        relative_path: path of the file under the mirror root (``crawl-data/...``).
        local_path: where it is on disk (for a sample, the sample's own name).
        bytes: size of the local file.
        skipped: it was already complete; nothing was requested.
        resumed: bytes from an earlier attempt (a ``.part``) were kept and continued.
        fetched_bytes: bytes read from the source during this call.
        seconds: wall time of this call.
        records: records in a sample (``records=N`` downloads); None for whole files.
    """

    relative_path: str
    local_path: Path
    bytes: int
    skipped: bool = False
    resumed: bool = False
    fetched_bytes: int = 0
    seconds: float = 0.0
    records: int | None = None


class TransferProgress:
    """Byte progress bars on stderr (rich): one row per transfer in flight and, when ``files``
    is given, a combined row for the whole download (files finished, bytes, speed).

    A no-op when disabled or when stderr is not a terminal (logs and CI get no bar spam).
    Safe to update from several transfer threads at once (rich's progress takes a lock).
    """

    def __init__(self, enabled: bool = True, *, files: int | None = None) -> None:
        console = Console(stderr=True)
        self._bar: Progress | None = None
        self._overall: TaskID | None = None
        self._files = files
        self._finished = 0
        if enabled and console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            if files is not None:
                self._overall = self._bar.add_task(self._overall_label(), total=None)

    def _overall_label(self) -> str:
        return f"all: {self._finished}/{self._files} files"

    def __enter__(self) -> TransferProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def add(self, description: str) -> TaskID | None:
        return None if self._bar is None else self._bar.add_task(description, total=None)

    def update(
        self,
        task: TaskID | None,
        *,
        total: int | None = None,
        completed: int | None = None,
        advance: int | None = None,
    ) -> None:
        if self._bar is not None and task is not None:
            self._bar.update(task, total=total, completed=completed, advance=advance)
            if advance and self._overall is not None:
                self._bar.update(self._overall, advance=advance)

    def file_finished(self) -> None:
        """One more file of the combined row is complete (downloaded or skipped)."""
        if self._bar is not None and self._overall is not None:
            self._finished += 1
            self._bar.update(self._overall, description=self._overall_label())

    def remove(self, task: TaskID | None) -> None:
        if self._bar is not None and task is not None:
            self._bar.remove_task(task)


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _open_from(
    url: str, start: int, part: Path, *, timeout: float, budget: RetryBudget
) -> OpenedResource | None:
    """`open_from`, discarding ``part`` (and starting from 0) when it is longer than the
    resource: it cannot be a prefix of it."""
    try:
        return open_from(url, start, timeout=timeout, budget=budget)
    except SourceShorterError:
        _discard_longer_part(url, part)
        return open_from(url, 0, timeout=timeout, budget=budget)


def _discard_longer_part(url: str, part: Path) -> None:
    log.warning("%s: local partial file is longer than the source; starting again", url)
    part.unlink(missing_ok=True)


class _Transfer:
    """One file's transfer into ``dest`` through ``dest.part``: its retry budget, progress row,
    counters and result. The steps both `fetch_url` and `fetch_warc_sample` take."""

    def __init__(
        self,
        url: str,
        dest: Path,
        *,
        retries: int,
        backoff: float,
        timeout: float,
        progress: TransferProgress | None,
        relative_path: str | None,
    ) -> None:
        self.url = url
        self.dest = Path(dest)
        self.name = relative_path or self.dest.name
        self.part = _part_path(self.dest)
        self.started = time.monotonic()
        self.budget = RetryBudget(url, retries, backoff)
        self.timeout = timeout
        self.progress = progress or TransferProgress(enabled=False)
        self.task: TaskID | None = None
        self.resumed = False
        self.fetched = 0

    def already_complete(self) -> bool:
        """An existing ``dest`` is complete (only a checked transfer ever creates it)."""
        if not self.dest.exists():
            return False
        self.part.unlink(missing_ok=True)
        log.info("%s: already complete, skipped", self.dest)
        return True

    @contextlib.contextmanager
    def shown(self, label: str) -> Iterator[None]:
        """A progress row for the duration of the transfer."""
        self.task = self.progress.add(label)
        try:
            yield
        finally:
            self.progress.remove(self.task)

    def open_from(self, start: int) -> OpenedResource | None:
        return _open_from(self.url, start, self.part, timeout=self.timeout, budget=self.budget)

    def start_of(self, opened: OpenedResource, start: int, where: str) -> int:
        """Where ``opened`` begins in the file: ``start`` as asked, or 0 from a server that
        ignored the Range request (the ``.part`` is then rewritten from scratch)."""
        if opened.start != start:
            if self.part.exists():  # (else `_open_from` discarded it)
                log.warning("%s: server ignored the Range request; restarting", self.url)
            return 0
        if start:
            self.resumed = True
            log.info("%s: resuming %s", self.dest, where)
        return start

    @contextlib.contextmanager
    def writing(self, start: int) -> Iterator[BinaryIO]:
        """``.part`` open for appending after its first ``start`` bytes; synced to disk at the
        end, so that a kept ``.part`` never claims bytes that a crash lost."""
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        with self.part.open("ab" if start else "wb") as fh:
            yield fh
            sync(fh)

    def chunks(self, source: Iterable[bytes]) -> Iterator[bytes]:
        """The chunks of ``source``, counted as fetched and shown as progress."""
        for chunk in source:
            self.fetched += len(chunk)
            self.progress.update(self.task, advance=len(chunk))
            yield chunk

    def opened(self, opened: OpenedResource, position: int) -> None:
        """A (re)opened response that continues the file at ``position``."""
        self.progress.update(self.task, total=opened.total, completed=position)
        if position:
            self.resumed = True
            log.info("%s: resuming at byte %d", self.dest, position)

    def fill(self, start: int) -> ResumableReader:
        """Append the source's bytes from ``start`` to ``.part`` until the source's end.

        ``.part`` is opened once the source answers (a missing source leaves nothing behind)
        and synced at the end. One longer than the source cannot be a prefix of it: it is
        emptied and the transfer starts from byte 0.
        """
        holder: list[BinaryIO] = []

        def opened(response: OpenedResource, position: int) -> None:
            if not holder:
                self.dest.parent.mkdir(parents=True, exist_ok=True)
                holder.append(self.part.open("ab" if position else "wb"))
            self.opened(response, position)

        reader = ResumableReader(self.url, start, budget=self.budget, timeout=self.timeout,
                                 on_restart=lambda: holder and _truncate(holder[0]),
                                 on_open=opened)
        try:
            for chunk in self.chunks(reader.chunks(_FILE_CHUNK)):
                holder[0].write(chunk)
            if holder:
                sync(holder[0])
        except SourceShorterError:
            if start == 0 or reader.position != start:
                raise
            _discard_longer_part(self.url, self.part)
            return self.fill(0)
        finally:
            if holder:
                holder[0].close()
        return reader

    def interrupted(self, exc: TransientError, start: int) -> None:
        """A transfer from ``start`` broke off: spend a retry (none if the ``.part`` grew)."""
        self.budget.failed(exc.reason, progressed=_size(self.part) > start)

    def commit(self) -> None:
        os.replace(self.part, self.dest)

    def result(self, *, skipped: bool = False, records: int | None = None) -> DownloadResult:
        if skipped:
            return DownloadResult(self.name, self.dest, _size(self.dest), skipped=True,
                                  records=records)
        return DownloadResult(
            self.name,
            self.dest,
            _size(self.dest),
            resumed=self.resumed,
            fetched_bytes=self.fetched,
            seconds=time.monotonic() - self.started,
            records=records,
        )


def fetch_url(
    url: str,
    dest: Path,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    progress: TransferProgress | None = None,
    relative_path: str | None = None,
) -> DownloadResult:
    """Download ``url`` (http(s), ``file://`` or a path) to ``dest``, resumably and atomically.

    An existing ``dest`` is taken as complete (only a checked transfer ever creates it) and
    skipped. Otherwise bytes go to ``dest.part``, continued with a Range request if it exists,
    retried ``retries`` times after transient failures with ``backoff * 2**k`` seconds between
    attempts, checked against the announced size and renamed to ``dest``.

    Raises:
        NotFoundError: the source does not exist (never retried).
        DownloadError: network failures outlasted the retries, or the server refused.
    """
    t = _Transfer(url, dest, retries=retries, backoff=backoff, timeout=timeout,
                  progress=progress, relative_path=relative_path)
    if t.already_complete():
        return t.result(skipped=True)
    with t.shown(PurePosixPath(t.name).name):
        while True:
            have = _size(t.part)
            reader = t.fill(have)
            if reader.total is not None:  # every announced byte is in (the reader checks)
                break
            # No size was announced, so the end of the stream may be a closed connection:
            # a compressed file must end with a whole gzip member / zstd frame.
            damage = _unfinished(t.part, url)
            if damage is None:
                break
            if not damage.truncated:
                t.part.unlink()
            t.budget.failed(f"no size announced and the file is incomplete ({damage})",
                            progressed=_size(t.part) > have)
        if have and not t.fetched:  # a complete .part finished by a 416 answer
            t.resumed = True
        t.commit()
    return t.result()


def _truncate(fh: BinaryIO) -> None:
    fh.seek(0)
    fh.truncate()


def _unfinished(path: Path, url: str) -> StreamError | None:
    """Why a file whose server announced no size is not whole; None when it may be.

    A name ending in ``.gz`` / ``.zst`` must hold a whole gzip/zstd stream: an empty or
    non-gzip body is refused, and so is one that ends inside a member/frame (see
    `EndCheck`). A file that is not compressed has no end to check (a warning says so).
    """
    check = EndCheck(codec_of_name(path.name.removesuffix(".part")))
    with path.open("rb") as fh:
        while chunk := fh.read(_FILE_CHUNK):
            check.feed(chunk)
    problem = check.problem()
    if problem is None and not check.checkable:
        log.warning("%s: no size announced and not compressed; completeness not checked", url)
    return problem


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
    if _size(part) != safe:
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
    t = _Transfer(url, dest, retries=retries, backoff=backoff, timeout=timeout,
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
                progressed=_size(t.part) > safe,
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
