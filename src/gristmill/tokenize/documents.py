"""Document input for tokenization and tokenizer training: the shared io readers.

Kept as the one place this stage imports its readers from (``gristmill.io``), so the tokenize
and tokenizer verbs read every format the io package supports (.jsonl/.gz/.zst, Parquet, WARC).
"""

from __future__ import annotations

from gristmill.io.paths import expand_inputs
from gristmill.io.readers import read_documents

__all__ = ["expand_inputs", "read_documents"]
