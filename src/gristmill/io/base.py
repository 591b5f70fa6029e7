"""The two I/O contracts: a reader yields documents of one file, a writer commits one file.

Readers yield `Document` or `RecordError` in file order and count the records that are not
documents (WARC request/metadata/warcinfo, blank JSONL lines) in ``skipped``, so every input
record is accounted for. Writers write to a temporary name beside the final path and rename
it into place only on a clean close, so a killed run never leaves a half-written output that
a resumed run would mistake for a finished one.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from gristmill.core.document import Document
from gristmill.core.errors import RecordError
from gristmill.io.atomic import commit, temp_path
from gristmill.io.formats import file_name


class DocumentReader:
    """Iterate the documents of one file, in file order.

    Attributes:
        source: the path or URL as given (error messages name it).
        format: "warc" | "wet" | "jsonl" | "parquet".
        name: the stable file name written into metadata and fallback ids (the base name
            unless the caller passes one relative to the input root).
        skipped: non-document records seen so far, by kind (``"warc:request"``, ...);
            reset at the start of each iteration.
    """

    def __init__(self, source: str, fmt: str, name: str | None = None) -> None:
        self.source = source
        self.format = fmt
        self.name = name or file_name(source)
        self.skipped: Counter[str] = Counter()

    def __iter__(self) -> Iterator[Document | RecordError]:
        self.skipped = Counter()
        return self._iter_records()

    def _iter_records(self) -> Iterator[Document | RecordError]:
        raise NotImplementedError

    def error(self, offset: int | None, message: str) -> RecordError:
        """A `RecordError` for this file."""
        return RecordError(self.source, offset, message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r}, format={self.format!r})"


class DocumentWriter:
    """Write documents to one file; commit it atomically. Use as a context manager.

    Attributes:
        path: the final path (it exists only after a clean close).
        documents: documents written so far.
        bytes_written: UTF-8 bytes of document text written so far.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.documents = 0
        self.bytes_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.temp_path = temp_path(self.path)
        self._file: BinaryIO = open(self.temp_path, "wb")  # noqa: SIM115 (closed in close/abort)
        self._open = True

    def write(self, doc: Document) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush buffered documents and end the format's stream (not the file)."""

    def close(self) -> None:
        """Finish the file and rename it into place. Idempotent."""
        if not self._open:
            return
        try:
            self._finish()
            commit(self._file, self.temp_path, self.path, durable=True)
        except BaseException:
            self.abort()
            raise
        self._open = False

    def _release(self) -> None:
        """Let go of format-level state on abort (nothing by default)."""

    def abort(self) -> None:
        """Drop the temporary file; the final path is left untouched. Idempotent."""
        if self._open:
            with contextlib.suppress(Exception):
                self._release()
        self._open = False
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp_path.unlink()

    def __enter__(self) -> DocumentWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, documents={self.documents})"
