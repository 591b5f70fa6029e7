"""Reading and writing documents and finding inputs.

- `gristmill.io.paths`: `expand_inputs`, `open_binary`, `shard_name`, `common_root`.
- `gristmill.io.readers`: `read_documents`, `detect_format`, `DocumentReader`
  (WARC/WET in `warc`, JSONL in `jsonl`, Parquet in `parquet`).
- `gristmill.io.writers`: `open_writer`, `DocumentWriter` (`.jsonl.zst`, `.jsonl.gz`,
  `.jsonl`, `.parquet`).

Nothing is imported here, so ``import gristmill.io.http`` stays light and pyarrow is loaded
only by code that reads or writes Parquet.
"""
