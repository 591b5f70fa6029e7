"""One resumable, atomic transfer of a URL to a local file, with progress bars.

Bytes go to ``<name>.part``; a retry after a cut connection or a rerun after a crash continues
with ``Range: bytes=<size>-`` (restarting from zero when a server ignores Range), the final size
is checked against Content-Length / Content-Range, and only then is ``.part`` renamed to the
final name. A final name therefore always holds a complete, checked file, and an existing one is
skipped without any request. A server that announces no size ends the body by closing the
connection: a ``.gz`` / ``.zst`` file must then hold a whole gzip/zstd stream (not empty, its
magic bytes first, its last member/frame ended), else the transfer is resumed or fails naming
the URL. A cut exactly at a member boundary (one gzip member per WARC record) leaves a shorter
file that is itself whole: no client can see it.

`gristmill.io.download` builds Common Crawl downloads (whole files and record samples) on it;
`gristmill.assets.fetch` fetches model and list files through `fetch_url`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
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

from gristmill.io.atomic import sync
from gristmill.io.compression import EndCheck, StreamError, codec_of_name
from gristmill.io.http import OpenedResource, TransientError
from gristmill.io.resumable import (
    ResumableReader,
    RetryBudget,
    SourceShorterError,
    open_from,
)

log = logging.getLogger(__name__)

#: Whole files are read in big pieces (fewer syscalls).
FILE_CHUNK = 1 << 20


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


def file_size(path: Path) -> int:
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


class Transfer:
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
            for chunk in self.chunks(reader.chunks(FILE_CHUNK)):
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
        self.budget.failed(exc.reason, progressed=file_size(self.part) > start)

    def commit(self) -> None:
        os.replace(self.part, self.dest)

    def result(self, *, skipped: bool = False, records: int | None = None) -> DownloadResult:
        if skipped:
            return DownloadResult(self.name, self.dest, file_size(self.dest), skipped=True,
                                  records=records)
        return DownloadResult(
            self.name,
            self.dest,
            file_size(self.dest),
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
    t = Transfer(url, dest, retries=retries, backoff=backoff, timeout=timeout,
                  progress=progress, relative_path=relative_path)
    if t.already_complete():
        return t.result(skipped=True)
    with t.shown(PurePosixPath(t.name).name):
        while True:
            have = file_size(t.part)
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
                            progressed=file_size(t.part) > have)
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
        while chunk := fh.read(FILE_CHUNK):
            check.feed(chunk)
    problem = check.problem()
    if problem is None and not check.checkable:
        log.warning("%s: no size announced and not compressed; completeness not checked", url)
    return problem
