"""`gristmill tokenizer train`: fit a byte-level BPE vocabulary on documents."""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from gristmill.core.errors import GristmillError, RecordError
from gristmill.core.ranges import POSITIVE, Range
from gristmill.tokenize.documents import expand_inputs, read_documents
from gristmill.tokenize.vocab import MIN_VOCAB_SIZE, train_tokenizer


def add_parser(subparsers: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="train a tokenizer (byte-level BPE)",
                              description="Tokenizer tools. `train` fits a byte-level BPE vocabulary.")
    sub = p.add_subparsers(dest="tokenizer_command", metavar="COMMAND", required=True)
    t = sub.add_parser("train", help="fit a byte-level BPE on documents",
                       description="Fit a byte-level BPE (GPT-2/NeoX pre-tokenisation, <|endoftext|> = 0) "
                       "on the text of .jsonl/.jsonl.gz/.jsonl.zst documents. Small vocabularies (4k-16k) "
                       "suit CPU-scale models.")
    t.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH", help="document files, folders or globs")
    t.add_argument("--vocab-size", type=Range(MIN_VOCAB_SIZE, integer=True).parse, required=True,
                   help="vocabulary size including the 256 bytes and EOT")
    t.add_argument("--out", "-o", required=True, type=Path, metavar="FILE", help="tokenizer JSON to write")
    t.add_argument("--max-docs", type=POSITIVE.parse, default=None,
                   help="train on the first N documents only")
    t.add_argument("--min-frequency", type=POSITIVE.parse, default=2,
                   help="minimum pair count for a merge (default 2)")
    return p


def run(args: argparse.Namespace) -> int:
    if args.out.is_dir():
        raise GristmillError(f"--out {args.out} is a folder; give the tokenizer JSON file to write")
    files = expand_inputs(args.input)
    errors = 0
    documents = 0

    def texts():
        nonlocal errors, documents
        for path in files:
            for item in read_documents(path):
                if isinstance(item, RecordError):
                    errors += 1
                    print(f"gristmill tokenizer: skipped {item}", file=sys.stderr)
                elif item.text:
                    documents += 1
                    yield item.text

    stream = texts() if args.max_docs is None else itertools.islice(texts(), args.max_docs)
    tok = train_tokenizer(stream, args.vocab_size, None, min_frequency=args.min_frequency)
    if not documents:
        # A BPE fitted on nothing is just the 257 base symbols: surely not what was meant.
        raise GristmillError(f"no documents with text in {', '.join(map(str, args.input))}; nothing to train on")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(args.out))
    except Exception as exc:  # tokenizers raises a bare Exception for I/O errors
        raise GristmillError(f"cannot write {args.out}: {exc}") from exc
    print(f"wrote {args.out}: {tok.get_vocab_size()} tokens from {len(files)} file(s)"
          + (f", {errors} bad record(s) skipped" if errors else ""), file=sys.stderr)
    return 0
