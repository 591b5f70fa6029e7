"""Open a remote or local resource from a byte offset: HTTP(S) with ``Range``, ``file://``, paths.

This is the one place that speaks HTTP (stdlib ``urllib`` only). It turns every way a request
can go wrong into one of three exceptions, so callers decide about retries without knowing HTTP:

- `NotFoundError` (an `InputError`): the resource does not exist (404/410, and 403, which is
  what S3-backed hosts such as data.commoncrawl.org answer for a missing key); never retried.
- `TransientError`: worth retrying (connection refused/reset, DNS, timeouts, 408/425/429, 5xx).
- `RangeNotSatisfiableError`: 416, the asked start is at or past the end; carries the total size.

Any other refusal (400, 401, ...) is a `DownloadError` right away.
"""

from __future__ import annotations

import email.utils
import http.client
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gristmill.core.errors import DownloadError, InputError
from gristmill.core.version import gristmill_version

USER_AGENT = f"gristmill/{gristmill_version()}"

# Hosts that never go through an HTTP proxy, whatever the environment says: tests serve a
# mirror on loopback and must not leak to a proxy (or to the network) by accident.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)

# S3 (and so data.commoncrawl.org) answers 403 for a key that does not exist when listing is
# not allowed, so 403 is reported as "not found" rather than retried.
_NOT_FOUND_STATUSES = frozenset({403, 404, 410})
_RETRYABLE_STATUSES = frozenset({408, 425, 429})


class NotFoundError(InputError):
    """The resource does not exist (HTTP 403/404/410 or a missing local file)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: not found ({reason})")
        self.url = url
        self.reason = reason


class TransientError(Exception):
    """A failure worth retrying; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, url: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.retry_after = retry_after


class RangeNotSatisfiableError(Exception):
    """HTTP 416: the requested start offset is at or beyond the end of the resource."""

    def __init__(self, url: str, total: int | None) -> None:
        super().__init__(f"{url}: range not satisfiable (size {total})")
        self.url = url
        self.total = total


@dataclass
class OpenedResource:
    """A readable byte stream positioned at ``start`` within a resource of ``total`` bytes.

    ``start`` is where the stream really begins: 0 when a server ignored the ``Range`` header,
    even though a later offset was asked for. ``total`` is None when the size is unknown.
    """

    url: str
    stream: BinaryIO
    start: int
    total: int | None

    def chunks(self, size: int) -> Iterator[bytes]:
        """Yield the body in pieces of at most ``size`` bytes; stop at end of stream.

        A connection that breaks mid-body raises `TransientError`; a connection that simply
        closes early ends the iteration, and the caller compares what it got with ``total``.
        """
        while True:
            try:
                chunk = self.stream.read(size)
            except (OSError, http.client.HTTPException) as exc:
                raise TransientError(self.url, f"connection broken while reading: {exc}") from exc
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> OpenedResource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def is_http_url(location: str) -> bool:
    """True for ``http://`` and ``https://`` locations."""
    return urllib.parse.urlsplit(location).scheme.lower() in {"http", "https"}


def local_path(location: str) -> Path | None:
    """The filesystem path of a ``file://`` URL or a plain path; None for remote URLs."""
    parts = urllib.parse.urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InputError(f"{location}: file:// URLs on another host are not supported")
        return Path(urllib.request.url2pathname(parts.path))
    # A single-letter "scheme" is a Windows drive (C:\...), i.e. a plain path.
    if scheme and len(scheme) > 1:
        if is_http_url(location):
            return None
        raise InputError(f"{location}: unsupported URL scheme {scheme!r} (use http, https, file)")
    return Path(location)


def join_location(base: str, relative: str) -> str:
    """``base`` + a '/'-separated relative path, for URLs (percent-quoted) and local paths."""
    if is_http_url(base) or urllib.parse.urlsplit(base).scheme.lower() == "file":
        return base.rstrip("/") + "/" + urllib.parse.quote(relative.lstrip("/"), safe="/")
    return str(Path(base) / relative)


def open_resource(location: str, start: int = 0, *, timeout: float = 60.0) -> OpenedResource:
    """Open ``location`` (http(s) URL, ``file://`` URL or local path) from byte ``start``."""
    path = local_path(location)
    if path is None:
        return _open_http(location, start, timeout)
    return _open_local(location, path, start)


def _open_local(location: str, path: Path, start: int) -> OpenedResource:
    try:
        stream = path.open("rb")
    except FileNotFoundError as exc:
        raise NotFoundError(location, "no such file") from exc
    except IsADirectoryError as exc:
        raise NotFoundError(location, "is a directory") from exc
    except OSError as exc:
        raise InputError(f"{location}: cannot open: {exc.strerror or exc}") from exc
    total = path.stat().st_size
    if start > total:
        stream.close()
        raise RangeNotSatisfiableError(location, total)
    stream.seek(start)
    return OpenedResource(location, stream, start, total)


def _opener_for(url: str) -> urllib.request.OpenerDirector:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_HOSTS:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _open_http(url: str, start: int, timeout: float) -> OpenedResource:
    # identity: a transparently gzip-encoded body would make byte offsets meaningless.
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = _opener_for(url).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            raise _classify_http_error(url, exc) from None
    except urllib.error.URLError as exc:
        raise TransientError(url, f"cannot connect: {_reason_text(exc.reason)}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError(url, f"cannot connect: {_reason_text(exc)}") from exc

    status = response.status
    if status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match:
            response.close()
            raise TransientError(url, "206 answer without a usable Content-Range header")
        first, total_text = int(match.group(1)), match.group(3)
        total = None if total_text == "*" else int(total_text)
        return OpenedResource(url, response, first, total)
    if status == 200:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.strip().isdigit() else None
        return OpenedResource(url, response, 0, total)
    response.close()
    raise DownloadError(f"{url}: unexpected HTTP {status} {response.reason}")


def _classify_http_error(url: str, exc: urllib.error.HTTPError) -> Exception:
    status = exc.code
    label = f"HTTP {status} {exc.reason}".strip()
    if status == 416:
        match = _UNSATISFIED_RANGE.match(
            exc.headers.get("Content-Range", "") if exc.headers else ""
        )
        return RangeNotSatisfiableError(url, int(match.group(1)) if match else None)
    if status in _NOT_FOUND_STATUSES:
        return NotFoundError(url, label)
    if status in _RETRYABLE_STATUSES or status >= 500:
        retry_after = _retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
        return TransientError(url, label, retry_after)
    return DownloadError(f"{url}: {label}")


def _retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason_text(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)
