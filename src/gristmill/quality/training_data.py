"""Labelled examples for a quality classifier: texts from document files, balanced and split.

Any input `gristmill.io.read_documents` reads works: JSONL(.gz/.zst) records with ``text`` (a
run's ``documents/``, OpenHermes-2.5 or ELI5 exports converted to ``{"text": ...}``), Parquet,
WARC (pages are extracted with the default extractor first). DCLM trained on a fixed balanced
set (App. J.1: 200K positives and 200K negatives); `balance` downsamples the larger class the
same way, with a seeded shuffle.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from gristmill.core.document import Document
from gristmill.core.errors import GristmillError, RecordError
from gristmill.core.step import Drop
from gristmill.extract.page import extract_page
from gristmill.io.paths import expand_inputs
from gristmill.io.readers import read_documents


def document_text(doc: Document) -> str:
    """The text of a document; WARC responses are extracted first ("" when nothing is)."""
    if doc.content is None:
        return doc.text
    result = extract_page(doc.content, content_type=doc.metadata.get("content_type"),
                          declared_charset=doc.metadata.get("http_charset"), url=doc.url)
    return "" if isinstance(result, Drop) else result.text


def load_texts(paths: Sequence[str], what: str, limit: int = 0, min_chars: int = 1) -> list[str]:
    """Non-empty texts of every document under ``paths`` (at most ``limit`` when set).

    Bad records are reported on stderr (file and record) and skipped; no document at all is a
    `GristmillError` naming ``what`` (e.g. "--positive").
    """
    files = expand_inputs(list(paths))
    texts: list[str] = []
    for path in files:
        for item in read_documents(path):
            if isinstance(item, RecordError):
                print(f"{what}: skipped bad record: {item}", file=sys.stderr)
                continue
            text = document_text(item).strip()
            if len(text) >= min_chars:
                texts.append(text)
                if limit and len(texts) >= limit:
                    return texts
    if not texts:
        raise GristmillError(f"{what}: no documents with text in {', '.join(paths)}")
    return texts


@dataclass
class Examples:
    """Texts with labels (1: high quality, 0: pool)."""

    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


def balance(positives: list[str], negatives: list[str], seed: int) -> tuple[list[str], list[str]]:
    """Both classes cut to the smaller one's size by a seeded sample (DCLM App. J.1)."""
    n = min(len(positives), len(negatives))
    rng = random.Random(seed)
    return rng.sample(positives, n), rng.sample(negatives, n)


def labelled(positives: list[str], negatives: list[str], seed: int) -> Examples:
    """Positives and negatives shuffled together with a seed."""
    pairs = [(t, 1) for t in positives] + [(t, 0) for t in negatives]
    random.Random(seed).shuffle(pairs)
    return Examples([t for t, _ in pairs], [y for _, y in pairs])


def split(examples: Examples, heldout: float, seed: int) -> tuple[Examples, Examples]:
    """A seeded train / held-out split stratified by label (``heldout``: held-out share)."""
    if not 0.0 < heldout < 1.0:
        raise GristmillError(f"held-out share must be in (0, 1), got {heldout}")
    rng = random.Random(seed + 1)
    train, test = Examples([], []), Examples([], [])
    for label in (1, 0):
        idx = [i for i, y in enumerate(examples.labels) if y == label]
        rng.shuffle(idx)
        cut = max(1, round(len(idx) * heldout))
        for j, i in enumerate(sorted(idx[:cut]) + sorted(idx[cut:])):
            part = test if j < cut else train
            part.texts.append(examples.texts[i])
            part.labels.append(label)
    return train, test
