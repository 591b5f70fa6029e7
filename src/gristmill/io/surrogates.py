"""Replace lone UTF-16 surrogates, which UTF-8 (and so JSONL, Parquet, orjson) cannot hold.

They reach Python strings through lenient decoding (``surrogateescape``, JSON ``\\ud800``
escapes). Writers call `scrub_surrogates` only after a serialiser refused a record, so clean
records pay nothing.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_text(text: str) -> str:
    """``text`` with every surrogate code point replaced by U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT, text)


def scrub_surrogates(value: Any) -> Any:
    """A copy of a JSON-like value (str/dict/list/tuple, nested) with surrogates replaced."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub_surrogates(k): scrub_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_surrogates(v) for v in value]
    return value
