"""Exceptions that the CLI turns into a one-line reason and a non-zero exit."""

from __future__ import annotations


class GristmillError(Exception):
    """A user-facing error: bad input, bad config, unreachable resource."""


class RecipeError(GristmillError):
    """A recipe that cannot be loaded or validated (names the file, line and key)."""


class InputError(GristmillError):
    """An input path, glob or URL that cannot be found or opened."""


class DownloadError(GristmillError):
    """A crawl file or asset that could not be fetched after all retries."""


class RecordError(Exception):
    """One bad input record; the reader counts it and goes on with the shard.

    Attributes:
        source: the file the record came from.
        offset: byte offset (WARC) or line/row number (JSONL/Parquet) of the record.
        count: input records this error stands for: 1, or more when one failure makes a run
            of records unreadable (the lines of a compressed member whose checksum failed).
    """

    def __init__(self, source: str, offset: int | None, message: str, count: int = 1) -> None:
        super().__init__(f"{source}@{offset}: {message}")
        self.source = source
        self.offset = offset
        self.message = message
        self.count = count
