"""Input specs to files, files to streams, files to stable shard names.

A run's inputs are files, folders, globs or URLs. They expand to a sorted, de-duplicated list
of document files; each becomes a shard whose name is derived from its path relative to the
common root of all inputs, so the same inputs give the same output names on every machine.
"""

from __future__ import annotations

import glob
import io
import logging
import os
import posixpath
import re
import urllib.parse
from typing import Any, BinaryIO

import xxhash

from gristmill.core.errors import DownloadError, InputError
from gristmill.io.compression import EndCheck, codec_of_name
from gristmill.io.formats import file_name, is_document_file, split_extension
from gristmill.io.http import NotFoundError, is_http_url, local_path, open_resource
from gristmill.io.resumable import ResumableReader

log = logging.getLogger(__name__)

_URL_SCHEMES = ("http://", "https://", "file://")
_GLOB_CHARS = frozenset("*?[")
# Characters kept in shard names: portable on every filesystem and in URLs. "=" and "+" stay
# because partitioned layouts (DCLM's "crawl=CC-MAIN-...") use them.
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._=+-]")
_SHARD_SEPARATOR = "__"
# Suffixes dropped from shard names without a trace: the usual form of each format. Rarer
# forms leave a tag ("x.warc" -> "x-warc") because they tend to sit beside the usual one (an
# uncompressed WARC next to its .warc.gz, as in warcio's test data), and the two must not
# write the same output.
_UNTAGGED_SUFFIXES = frozenset({
    ".warc.gz", ".warc.wet.gz", ".wet.gz", ".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz",
    ".json.zst", ".parquet",
})
# xxhash seed for the disambiguating suffix of names that needed character replacement.
_NAME_HASH_SEED = 0
# Bytes asked of an http(s) input per read.
_STREAM_CHUNK = 1 << 16


def is_url(spec: str) -> bool:
    """True for http://, https:// and file:// specs."""
    return spec[:8].lower().startswith(_URL_SCHEMES)


def _walk_folder(folder: str) -> list[str]:
    """Document files under ``folder``, recursively; hidden files and folders are skipped.

    Other files are left out with one warning naming how many and a few of them, so a user
    sees that e.g. ARC or WAT files in the folder were not read.
    """
    found: list[str] = []
    passed_over: list[str] = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if f.startswith("."):
                continue
            (found if is_document_file(f) else passed_over).append(os.path.join(parent, f))
    if passed_over:
        passed_over.sort()
        shown = ", ".join(os.path.basename(p) for p in passed_over[:5])
        more = f" and {len(passed_over) - 5} more" if len(passed_over) > 5 else ""
        log.warning("%s: %d file(s) not in a document format were not read: %s%s",
                    folder, len(passed_over), shown, more)
    return sorted(found)


def _expand_one(spec: str) -> list[str]:
    if is_url(spec):
        return [spec]
    if "://" in spec:
        local_path(spec)  # raises InputError naming the unsupported scheme (s3://, gs://, ...)
    if _GLOB_CHARS.intersection(spec):
        files: list[str] = []
        for match in sorted(glob.glob(spec, recursive=True)):
            files.extend(_walk_folder(match) if os.path.isdir(match) else [match])
        if not files:
            raise InputError(f"no input matches {spec!r}")
        return files
    if os.path.isdir(spec):
        files = _walk_folder(spec)
        if not files:
            raise InputError(
                f"no input matches {spec!r} (no .warc[.gz], .wet.gz, .jsonl[.gz|.zst] or "
                ".parquet files in that folder)"
            )
        return files
    if os.path.isfile(spec):
        return [spec]
    raise InputError(f"input not found: {spec}")


def expand_inputs(specs: list[str]) -> list[str]:
    """Expand files, folders, globs and URLs into the list of input files.

    Folders are walked recursively for known document extensions and globs are expanded,
    each sorted; URLs pass through. Duplicates are dropped (first occurrence kept). Raises
    `InputError` for a spec that matches nothing, and for two inputs that would get the same
    shard name (their outputs would overwrite each other).
    """
    if not specs:
        raise InputError("no inputs given")
    seen: set[str] = set()
    files: list[str] = []
    for spec in specs:
        for path in _expand_one(spec):
            key = path if is_url(path) else os.path.normpath(os.path.abspath(path))
            if key not in seen:
                seen.add(key)
                files.append(path)
    _check_unique_names(files)
    return files


def _check_unique_names(files: list[str]) -> None:
    root = common_root(files)
    owners: dict[str, str] = {}
    for path in files:
        name = shard_name(path, root)
        if name in owners:
            raise InputError(
                f"inputs {owners[name]} and {path} would both be written as shard {name!r}; "
                "rename one of them or process them in separate runs"
            )
        owners[name] = path


class _ResumingStream(io.RawIOBase):
    """An http(s) input as a forward-only stream that survives broken connections.

    The bytes come from a `ResumableReader` (the one that `download` uses), so a connection
    that breaks or closes early is resumed with a Range request and retried, and a stream that
    cannot be completed raises `DownloadError` instead of ending early. It answers ``tell()``
    (fastwarc asks for positions: record offsets are positions).

    A server that announces no size ends the body by closing the connection, so a cut looks
    like the end. While no size is known the bytes also go through an `EndCheck`: a gzip/zstd
    input (by name or magic bytes) must end with a whole member/frame, else the transfer is
    resumed where it broke, or fails once the retries are spent or the server confirms that
    the file ends there (it is cut short at the source); an empty body is no gzip or zstd file
    either. An uncompressed body that looks cut (empty, or a text format not ending in a
    newline) is asked for again, with Range from where it stopped; it is taken as the whole
    file when the server confirms that size (416), or with a warning when the retries run out.
    What no client can tell without a size: a cut at a line end of an uncompressed input
    (warned about), or exactly at a member/frame boundary of a compressed one (Common Crawl's
    WARC files hold one gzip member per record); such a prefix is itself a whole file.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        name = file_name(url)
        self._end = EndCheck(codec_of_name(name))
        self._lines = not name.lower().endswith(".parquet")  # text formats end with "\n"
        self._reader = ResumableReader(url, check_end=self._check_end)
        self._chunks = self._reader.chunks(_STREAM_CHUNK)
        self._pending = b""
        self._position = 0

    def _check_end(self, confirmed: bool) -> str | None:
        """Why the stream of an input that announced no size cannot end here (or None);
        ``confirmed``: the server says that the file ends here."""
        problem = self._end.problem()
        if problem is not None and problem.truncated:
            reason = f"no size announced and the file is incomplete ({problem})"
            if confirmed:
                raise DownloadError(f"could not download {self._url}: {reason}, and the server "
                                    "says the file ends there (it is cut short at the source)")
            return reason
        if problem is not None or self._end.checkable or confirmed:
            return None  # (corrupt data is the reader's to report, as for a local file)
        if self._end.size == 0:
            suspect = "the body is empty"
        elif self._lines and self._end.last_byte != b"\n":
            suspect = "the body does not end with a newline"
        else:
            log.warning("%s: no size announced and not compressed: a cut at a line end cannot "
                        "be told from the end of the file", self._url)
            return None
        budget = self._reader.budget
        if budget.failures < budget.retries:
            return f"no size announced and {suspect} (a connection closed early?)"
        log.warning("%s: no size announced and %s after %d attempt(s); taken as the end of "
                    "the file", self._url, suspect, budget.failures + 1)
        return None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            self._pending = next(self._chunks, b"")
            if self._reader.total is None:  # (once a size is announced, it is what counts)
                self._end.feed(self._pending)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        self._position += count
        return count

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._chunks.close()
        super().close()


def open_binary(path_or_url: str) -> BinaryIO:
    """Open a local path, ``file://`` URL or http(s) URL (streamed) for binary reading.

    The returned stream is buffered (it supports ``peek``) and answers ``tell()``. Raises
    `InputError` when the input is missing; an http(s) input that stays unreachable, or whose
    transfer cannot be completed, raises `DownloadError` (see `gristmill.io.resumable`).
    """
    if is_http_url(path_or_url):
        stream = _ResumingStream(path_or_url)
        try:
            buffered = io.BufferedReader(stream, buffer_size=_STREAM_CHUNK)
            buffered.peek(1)  # connect now: a missing input is reported when it is opened
        except NotFoundError as exc:
            stream.close()
            raise InputError(f"input not found: {path_or_url} ({exc.reason})") from exc
        return buffered  # type: ignore[return-value]
    try:
        return open_resource(path_or_url).stream
    except NotFoundError as exc:
        raise InputError(f"input not found: {path_or_url} ({exc.reason})") from exc


def _url_parts(url: str) -> tuple[str, str]:
    """``(scheme://host, path)`` of an http(s) URL."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}", parts.path or "/"


def common_root(paths: list[str]) -> str | None:
    """The deepest folder (or URL prefix) that contains every input.

    Local paths and ``file://`` URLs give an absolute folder; http(s) URLs on one host give
    ``scheme://host/common/dir``. Mixed local/remote inputs, several hosts or no inputs give
    None.
    """
    if not paths:
        return None
    locals_ = [local_path(p) for p in paths]
    if all(p is not None for p in locals_):
        return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in locals_ if p])
    if any(p is not None for p in locals_):
        return None
    bases, dirs = zip(*(_url_parts(p) for p in paths), strict=True)
    if len(set(bases)) != 1:
        return None
    common = posixpath.commonpath([posixpath.dirname(d) for d in dirs])
    return bases[0] + common


def _relative_location(path_or_url: str, root: str | None) -> str:
    """The path of an input relative to ``root``, '/'-separated; absolute-ish if no root."""
    local = local_path(path_or_url)
    if local is not None:
        absolute = os.path.abspath(local)
        if root is not None and not is_url(root):
            relative = os.path.relpath(absolute, root)
            if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
                return relative.replace(os.sep, "/")
        return absolute.replace(os.sep, "/")
    base, path = _url_parts(path_or_url)
    if root is not None and (base + path).startswith(root.rstrip("/") + "/"):
        return (base + path)[len(root.rstrip("/")) + 1 :]
    return base.split("://", 1)[1] + path


def shard_name(path_or_url: str, root: str | None) -> str:
    """A stable, filesystem-safe name for the outputs of one input file.

    It is the input's path relative to ``root`` without its document extension, folders
    joined by ``__`` (``segments/sample/warc/pages-00000.warc.gz`` ->
    ``segments__sample__warc__pages-00000``); rarer suffixes leave a tag
    (``x.warc`` -> ``x-warc``). Characters outside ``[A-Za-z0-9._=+-]`` become ``_``; when
    that happens, a short xxhash of the relative path is appended so names that differ only
    in such characters stay distinct. `expand_inputs` refuses inputs whose names collide.
    """
    relative = _relative_location(path_or_url, root)
    stem, suffix = split_extension(relative)
    if suffix is not None and suffix.lower() not in _UNTAGGED_SUFFIXES:
        stem += "-" + suffix.lower().lstrip(".").replace(".", "-")
    parts = [p for p in stem.split("/") if p not in ("", ".")]
    joined = _SHARD_SEPARATOR.join(parts)
    safe = _UNSAFE_NAME_CHARS.sub("_", joined)
    if safe != joined or not safe or safe.startswith("."):
        digest = xxhash.xxh64_hexdigest(relative.encode("utf-8", "surrogateescape"),
                                        seed=_NAME_HASH_SEED)
        safe = f"{safe.lstrip('.') or 'shard'}-{digest[:8]}"
    return safe
