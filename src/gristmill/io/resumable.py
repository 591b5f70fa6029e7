"""Read a resource to its end through broken connections: HTTP Range resume with retries.

The one implementation of "keep reading until every announced byte is in", shared by
`gristmill.io.transfer` (files written to disk) and `gristmill.io.paths.open_binary` (inputs a
run streams over http(s)). A connection that breaks, or closes before the length the server
announced (``Content-Length`` / ``Content-Range``), is reopened with ``Range: bytes=<position>-``
after a backoff; a transient refusal (5xx, 429, connection refused) is retried the same way. A
stream that ends short of its announced length is therefore never taken for a clean end: it
either continues or raises `DownloadError` once the retries are spent.

Retries count consecutive failures without progress: a link that keeps breaking but keeps
delivering bytes finishes; one that delivers nothing gives up after ``retries``.

A server that announces no size ends its body by closing the connection, so a break looks
like the end. A caller that can tell (a gzip/zstd file must end with a whole member/frame,
see `gristmill.io.compression.EndCheck`) passes ``check_end``: a reason it returns is spent
as a failed attempt and the transfer resumes at its position, like any other break. The
resumed request asks for ``Range: bytes=<position>-``; a server that answers 416 with that
very size confirms that the file ends there (``check_end`` is then told so).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator

from gristmill.core.errors import DownloadError
from gristmill.io.http import (
    OpenedResource,
    RangeNotSatisfiableError,
    TransientError,
    open_resource,
)

log = logging.getLogger(__name__)

# Cap on one backoff sleep, also on a server's Retry-After, so a bad hint cannot stall a run.
MAX_DELAY_S = 60.0
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF_S = 1.0
DEFAULT_TIMEOUT_S = 60.0
# Streamed run inputs have no command-line options of their own; these variables tune them
# (read when a stream opens, so worker processes and Ray tasks that inherit them agree).
RETRIES_ENV = "GRISTMILL_HTTP_RETRIES"
BACKOFF_ENV = "GRISTMILL_HTTP_BACKOFF"


class RetryBudget:
    """Counts consecutive failures of one transfer and sleeps with exponential backoff.

    A failure after which the transfer had made progress resets the count: a link that keeps
    breaking but keeps making progress finishes; one that makes none gives up after ``retries``.
    """

    def __init__(self, url: str, retries: int, backoff: float) -> None:
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.failures = 0

    def failed(
        self, reason: str, *, retry_after: float | None = None, progressed: bool = False
    ) -> None:
        if progressed:
            self.failures = 0
        self.failures += 1
        if self.failures > self.retries:
            raise DownloadError(
                f"could not download {self.url}: {reason} (gave up after {self.failures} "
                f"attempt{'s' if self.failures > 1 else ''})"
            )
        delay = min(MAX_DELAY_S, self.backoff * 2 ** (self.failures - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_DELAY_S))
        log.warning(
            "%s: %s; retry %d of %d in %.2f s", self.url, reason, self.failures, self.retries, delay
        )
        time.sleep(delay)


def budget_from_env(url: str) -> RetryBudget:
    """The retry budget of a streamed input: `DEFAULT_RETRIES` / `DEFAULT_BACKOFF_S`, or the
    values of ``GRISTMILL_HTTP_RETRIES`` / ``GRISTMILL_HTTP_BACKOFF``."""
    try:
        retries = int(os.environ.get(RETRIES_ENV, DEFAULT_RETRIES))
        backoff = float(os.environ.get(BACKOFF_ENV, DEFAULT_BACKOFF_S))
    except ValueError as exc:
        raise DownloadError(f"{RETRIES_ENV} / {BACKOFF_ENV}: not a number ({exc})") from None
    return RetryBudget(url, max(0, retries), max(0.0, backoff))


class SourceShorterError(DownloadError):
    """Asked for bytes from ``start``, but the resource ends at ``total`` < ``start``."""

    def __init__(self, url: str, start: int, total: int | None) -> None:
        super().__init__(f"{url}: resource is shorter ({total} bytes) than the {start:,} "
                         "bytes already read; it changed while being read")
        self.start = start
        self.total = total


def open_from(url: str, start: int, *, timeout: float, budget: RetryBudget) -> OpenedResource | None:
    """Open ``url`` at byte ``start``, retrying what is transient.

    Returns None when ``start`` is exactly the end of the resource. Raises `SourceShorterError`
    when it ends before ``start``. The returned stream starts at ``start`` or, from a server
    that ignored Range, at 0.
    """
    while True:
        try:
            opened = open_resource(url, start, timeout=timeout)
        except RangeNotSatisfiableError as exc:
            if start > 0 and exc.total == start:
                return None
            raise SourceShorterError(url, start, exc.total) from None
        except TransientError as exc:
            budget.failed(exc.reason, retry_after=exc.retry_after)
            continue
        if opened.start in (0, start):
            return opened
        opened.close()
        budget.failed(f"asked for bytes from {start}, got bytes from {opened.start}")


class ResumableReader:
    """The bytes of ``url`` from ``start`` to its end, reconnecting after every break.

    ``chunks(size)`` yields pieces in order; ``position`` is the offset of the next byte and
    ``total`` the size announced by any answer so far (None while none announced one: the
    stream's end is then its end unless ``check_end``, called there, returns why it cannot
    be). A server that ignores Range answers from byte 0: the bytes already
    delivered are skipped, or, when ``on_restart`` is given, it is called and the bytes are
    delivered again from 0 (a caller that appends to a file truncates it there). ``on_open``
    is called with each opened response and the position it continues at.

    Raises `DownloadError` when the retries are spent, and `gristmill.io.http.NotFoundError`
    for a missing resource (never retried).
    """

    def __init__(
        self,
        url: str,
        start: int = 0,
        *,
        budget: RetryBudget | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        on_restart: Callable[[], None] | None = None,
        on_open: Callable[[OpenedResource, int], None] | None = None,
        check_end: Callable[[bool], str | None] | None = None,
    ) -> None:
        self.url = url
        self.position = start
        self.total: int | None = None
        self.budget = budget or budget_from_env(url)
        self.timeout = timeout
        self.on_restart = on_restart
        self.on_open = on_open
        self.check_end = check_end
        self._opened: OpenedResource | None = None

    def chunks(self, size: int) -> Iterator[bytes]:
        try:
            while True:
                opened = open_from(self.url, self.position, timeout=self.timeout,
                                   budget=self.budget)
                if opened is None:  # the server says the position is exactly the end
                    reason = self._unfinished(confirmed=True)
                    if reason is None:
                        return
                    self.budget.failed(reason)
                    continue
                self._opened = opened
                skip = self._continue_at(opened)
                attempt_start = self.position
                try:
                    for chunk in opened.chunks(size):
                        if skip:
                            dropped = min(skip, len(chunk))
                            skip -= dropped
                            chunk = chunk[dropped:]
                            if not chunk:
                                continue
                        if self.total is not None and self.position + len(chunk) > self.total:
                            raise DownloadError(
                                f"{self.url}: received more than the {self.total:,} bytes announced"
                            )
                        self.position += len(chunk)
                        yield chunk
                except TransientError as exc:
                    self._close()
                    self.budget.failed(exc.reason, progressed=self.position > attempt_start)
                    continue
                self._close()
                if self.total is None:
                    reason = self._unfinished(confirmed=False)
                    if reason is None:
                        return
                elif self.position == self.total:
                    return
                else:
                    reason = f"connection closed after {self.position:,} of {self.total:,} bytes"
                self.budget.failed(reason, progressed=self.position > attempt_start)
        finally:
            self._close()

    def _unfinished(self, *, confirmed: bool) -> str | None:
        """Why a stream with no announced size cannot end at ``position`` (None: it can);
        ``confirmed``: the server answered that the resource ends there."""
        if self.total is not None or self.check_end is None:
            return None
        return self.check_end(confirmed)

    def _continue_at(self, opened: OpenedResource) -> int:
        """Bytes of ``opened`` to skip so that it continues at ``position``."""
        if opened.total is not None:  # (a size once announced stays known)
            self.total = opened.total
        skip = 0
        if opened.start != self.position:  # the server ignored Range and sends from byte 0
            if self.on_restart is not None:
                log.warning("%s: server ignored the Range request; restarting", self.url)
                self.on_restart()
                self.position = 0
            else:
                skip = self.position
        if self.on_open is not None:
            self.on_open(opened, self.position)
        return skip

    def _close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None
