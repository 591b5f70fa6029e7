"""A small near-duplicate set from real text for the dedup tests, with its ground truth.

Originals: English Wikipedia articles (``web/more/wikipedia-00000.jsonl.gz``) and web pages
extracted with resiliparse (``web/pages/wceb``); page bodies: other web pages, wrapped in
per-site boilerplate lines taken from Wikipedia. Built once per session under a pytest tmp
folder (shared data is only read) and written as ``.jsonl.zst`` shards.
"""

from __future__ import annotations

import gzip
import itertools
from functools import lru_cache
from pathlib import Path

import orjson

from gristmill.core.document import Document
from gristmill.core.step import GlobalTask, StepContext
from gristmill.dedup.nearsets import LabeledDoc, build_near_duplicates, drop_similar
from gristmill.engine.executors import LocalExecutor
from gristmill.engine.registry import build_step
from gristmill.io.readers import read_documents
from gristmill.io.writers import open_writer

WIKI = "web/more/wikipedia-00000.jsonl.gz"
PAGES = "web/pages/wceb"


def _wiki(shared: Path, n: int) -> list[tuple[str, str]]:
    with gzip.open(shared / WIKI, "rt", encoding="utf-8") as f:
        recs = [orjson.loads(line) for line in itertools.islice(f, n)]
    return [(r["url"], r["text"]) for r in recs]


def _pages(shared: Path, n: int) -> list[tuple[str, str]]:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    out = []
    for path in sorted((shared / PAGES).glob("*.html.gz"))[:n]:
        with gzip.open(path) as f:
            raw = f.read()
        text = extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True)
        if len(text.split()) >= 80:
            out.append((f"https://pages.example/{path.name}", text))
    return out


@lru_cache(maxsize=4)
def near_duplicate_set(shared: Path, root: Path, shards: int = 4) -> tuple[list[LabeledDoc], list[tuple[str, Path]]]:
    """(labelled documents, [(shard name, .jsonl.zst path)]) of the test set, built once."""
    wiki = _wiki(shared, 200)
    pages = _pages(shared, 70)
    everything = wiki[:150] + pages
    keep = drop_similar([t for _, t in everything], threshold=0.5)
    clean = [everything[i] for i in keep]
    originals = clean[: len(clean) - 20]
    bodies = [t for _, t in clean[len(clean) - 20 :]]
    boilerplate = [line for _, t in wiki[150:] for line in t.split("\n")]
    docs = build_near_duplicates(originals, bodies, boilerplate, seed=7, copy_fraction=0.5,
                                 edit_rates=(0.01, 0.03, 0.10), sites=4)
    inputs = []
    for s in range(shards):
        path = root / f"part-{s}.jsonl.zst"
        with open_writer(path) as w:
            for d in docs[s::shards]:
                w.write(Document(id=d.id, text=d.text, url=d.url))
        inputs.append((f"part-{s}", path))
    return docs, inputs


def run_step(name: str, kwargs: dict, inputs: list[tuple[str, Path]], out: Path, executor=None,
             keep_dropped: bool = True) -> dict:
    """Run a dedup step over ``inputs``; per-shard stats."""
    step = build_step(name, kwargs)
    task = GlobalTask(inputs, out / "docs", out / "dropped" if keep_dropped else None, out / "work",
                      executor or LocalExecutor(1), StepContext())
    return step.run(task)


def read_folder(folder: Path) -> dict[str, Document]:
    """Every document under ``folder`` (recursively), by id."""
    docs = {}
    for path in sorted(folder.rglob("*.jsonl.zst")):
        for d in read_documents(str(path)):
            docs[d.id] = d
    return docs


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every output file under ``folder`` (for byte equality)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.jsonl.zst"))}
