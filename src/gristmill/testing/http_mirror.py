"""A loopback HTTP server over a directory, with Range support and faults on demand, for tests.

``serve_directory(root)`` serves ``root`` (for instance ``../shared/data/commoncrawl``, laid out
like Common Crawl's bucket) on ``127.0.0.1`` at a free port, in a thread, and yields the base URL:

    with serve_directory(root, log=requests) as base_url:
        download_crawl("CC-MAIN-2024-22", "wet", 1, out, base_url=base_url)

Unlike ``http.server.SimpleHTTPRequestHandler`` it answers ``Range: bytes=a-b`` / ``bytes=a-`` /
``bytes=-n`` with 206 + Content-Range, and 416 past the end. Faults, counted per URL path so
that they do not depend on the order in which a client fetches files:

- ``fail_first=K``: the first K requests of each path get ``fail_status`` (503) and no body;
- ``cut_after_bytes=M``: the first response with a body, per path, announces the full length
  but closes the connection after M body bytes (``M=0``: it closes before any body);
- ``send_length=False``: no ``Content-Length`` header (the body ends when the connection
  closes, as HTTP/1.0 allows), so a cut is indistinguishable from the end to the client;
- ``ignore_range=True``: Range headers are ignored (always 200 with the whole file).

``fail_status=500`` with ``fail_first=1`` is "500 then success".

Every request is appended to ``log`` (when given) as a `ServedRequest`; read it after the
``with`` block, when all handler threads have finished.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_PIECE = 64 << 10


@dataclass
class ServedRequest:
    """One request as the mirror saw it; ``body_bytes`` is what it managed to send."""

    method: str
    path: str
    range: str | None
    status: int = 0
    body_bytes: int = 0
    started: float = 0.0  # time.monotonic() when the request arrived and when its answer ended
    finished: float = 0.0


@dataclass
class _MirrorConfig:
    root: Path
    cut_after_bytes: int | None
    fail_first: int
    fail_status: int
    ignore_range: bool
    send_length: bool
    log: list[ServedRequest]
    piece_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests_per_path: Counter[str] = field(default_factory=Counter)
    cut_paths: set[str] = field(default_factory=set)

    def resolve(self, url_path: str) -> Path | None:
        relative = urllib.parse.unquote(url_path).lstrip("/")
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path


class _MirrorServer(ThreadingHTTPServer):
    config: _MirrorConfig
    # Handler threads are joined on close, so the request log is final after the `with`.
    daemon_threads = False
    block_on_close = True


class _MirrorHandler(BaseHTTPRequestHandler):
    server: _MirrorServer
    server_version = "gristmill-test-mirror/1"
    # A client that stops reading must not pin a handler thread (and the shutdown) for ever.
    timeout = 10

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log is the `log` list, not stderr."""

    def _serve(self, send_body: bool) -> None:
        config = self.server.config
        url_path = urllib.parse.urlsplit(self.path).path
        record = ServedRequest(self.command, url_path, self.headers.get("Range"),
                               started=time.monotonic())
        config.log.append(record)
        try:
            self._answer(config, url_path, record, send_body)
        finally:
            record.finished = time.monotonic()

    def _answer(self, config: _MirrorConfig, url_path: str, record: ServedRequest,
                send_body: bool) -> None:
        with config.lock:
            config.requests_per_path[url_path] += 1
            failing = config.requests_per_path[url_path] <= config.fail_first
        if failing:
            self._answer_empty(record, config.fail_status, {"Retry-After": "0"})
            return
        path = config.resolve(url_path)
        if path is None:
            self._answer_empty(record, 404)
            return
        size = path.stat().st_size
        first, last, status = 0, size - 1, 200
        headers = {"Accept-Ranges": "none" if config.ignore_range else "bytes"}
        wanted = None if config.ignore_range else _parse_range(record.range, size)
        if wanted == "unsatisfiable":
            self._answer_empty(record, 416, {"Content-Range": f"bytes */{size}"})
            return
        if isinstance(wanted, tuple):
            first, last = wanted
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = last - first + 1
        limit = length
        if send_body and config.cut_after_bytes is not None:
            with config.lock:
                if url_path not in config.cut_paths:
                    config.cut_paths.add(url_path)
                    limit = min(length, config.cut_after_bytes)
        record.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if config.send_length:
            self.send_header("Content-Length", str(length))
        else:
            self.close_connection = True
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not send_body:
            return
        with path.open("rb") as fh:
            fh.seek(first)
            try:
                while record.body_bytes < limit:
                    piece = fh.read(min(_PIECE, limit - record.body_bytes))
                    self.wfile.write(piece)
                    record.body_bytes += len(piece)
                    if config.piece_delay:
                        time.sleep(config.piece_delay)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass  # the client went away (a sample that has what it needs)
        if limit < length:
            self.close_connection = True

    def _answer_empty(
        self, record: ServedRequest, status: int, headers: dict[str, str] | None = None
    ) -> None:
        record.status = status
        self.send_response(status)
        self.send_header("Content-Length", "0")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """A single byte range as (first, last) inclusive; None to ignore (RFC 9110 §14.2)."""
    if not header:
        return None
    match = _RANGE.match(header)
    if not match or not (match.group(1) or match.group(2)):
        return None  # unparsable or multi-range: serve the whole file, as the RFC allows
    start_text, end_text = match.groups()
    if not start_text:  # suffix range: the last n bytes
        suffix = int(end_text)
        if suffix == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(start_text)
    last = min(int(end_text), size - 1) if end_text else size - 1
    if first >= size:
        return "unsatisfiable"
    if last < first:
        return None
    return first, last


@contextmanager
def serve_directory(
    root: Path | str,
    *,
    cut_after_bytes: int | None = None,
    fail_first: int = 0,
    fail_status: int = 503,
    ignore_range: bool = False,
    send_length: bool = True,
    log: list[ServedRequest] | None = None,
    piece_delay: float = 0.0,
) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (free port) in a thread; yield the base URL ending in '/'.
    ``piece_delay`` seconds pass after each 64 KiB sent (a slow link, so transfers overlap)."""
    config = _MirrorConfig(
        root=Path(root).resolve(),
        cut_after_bytes=cut_after_bytes,
        fail_first=fail_first,
        fail_status=fail_status,
        ignore_range=ignore_range,
        send_length=send_length,
        log=log if log is not None else [],
        piece_delay=piece_delay,
    )
    server = _MirrorServer(("127.0.0.1", 0), _MirrorHandler)
    server.config = config
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()  # joins the handler threads
        thread.join()
