"""Shared builders for the tokenize/train/export tests: a small real corpus, a trained BPE
vocabulary and token folders, written under pytest's tmp folders (shared data is only read)."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
from pathlib import Path

import torch

from gristmill.cli import main

WIKI = "web/more/wikipedia-00000.jsonl.gz"
FORUM = "web/more/se_archives-00000.jsonl.gz"


def write_subset(shared_data: Path, rel: str, out: Path, n: int, skip: int = 0) -> Path:
    """The records ``skip .. skip+n`` of a shared JSONL.gz file, as a .jsonl.gz of our own."""
    with gzip.open(shared_data / rel, "rt") as src, gzip.open(out, "wt") as dst:
        for line in itertools.islice(src, skip, skip + n):
            dst.write(line)
    return out


def build_corpus(shared_data: Path, root: Path, wiki_docs: int = 300, forum_docs: int = 150) -> dict[str, Path]:
    """Two real document files (Wikipedia articles, Stack Exchange threads) and a 512-token BPE."""
    root.mkdir(parents=True, exist_ok=True)
    docs = root / "docs"
    docs.mkdir(exist_ok=True)
    wiki = write_subset(shared_data, WIKI, docs / "wiki.jsonl.gz", wiki_docs)
    forum = write_subset(shared_data, FORUM, docs / "forum.jsonl.gz", forum_docs)
    tok = root / "bpe512.json"
    assert main(["tokenizer", "train", "--input", str(wiki), str(forum), "--vocab-size", "512",
                 "--out", str(tok)]) == 0
    return {"wiki": wiki, "forum": forum, "tokenizer": tok}


def tokenize(corpus: dict[str, Path], out: Path, seq_len: int = 128, *extra: str) -> Path:
    args = ["tokenize", "--tokenizer", str(corpus["tokenizer"]), "--seq-len", str(seq_len),
            "--input", str(corpus["wiki"]), str(corpus["forum"]), "--out", str(out),
            "--workers", "1", "-q", *extra]
    assert main(args) == 0
    return out


@contextlib.contextmanager
def one_thread():
    """Train on one thread: the test machine's 2 cores are shared with other test runs, and
    OpenMP threads spinning at barriers collapse when a core is taken away (30x slower steps)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
