"""Training a quality classifier and measuring it on held-out data.

`train_classifier` is what ``gristmill quality train`` and the demo run: load positives and
negatives, balance the classes (DCLM App. J.1), hold out a seeded, label-stratified share (or
use the held-out sets given, ideally from *other sources* than the training data, so the
figure says how the classifier generalises rather than how well it memorised a source), train,
and write held-out accuracy and ROC AUC beside the model (``<model>.eval.json``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from gristmill.io.atomic import write_atomic
from gristmill.quality.metrics import accuracy, roc_auc
from gristmill.quality.training_data import Examples, balance, labelled, load_texts, split

Kind = Literal["fasttext", "embedding"]


@dataclass
class TrainRequest:
    """What to train on. Held-out paths, when given, replace the seeded split."""

    positive: Sequence[str]
    negative: Sequence[str]
    out: Path
    kind: Kind = "fasttext"
    heldout_positive: Sequence[str] = ()
    heldout_negative: Sequence[str] = ()
    heldout: float = 0.1
    max_per_class: int = 0
    seed: int = 0
    fasttext: dict[str, Any] = field(default_factory=dict)
    # --kind embedding: {"embedder": name or folder, "l2": penalty} (`gristmill.quality.embedding`)
    embedding: dict[str, Any] = field(default_factory=dict)


def eval_path(model: Path) -> Path:
    return model.with_name(model.name + ".eval.json")


def _examples(request: TrainRequest) -> tuple[Examples, Examples, str]:
    limit = request.max_per_class
    pos = load_texts(request.positive, "--positive", limit)
    neg = load_texts(request.negative, "--negative", limit)
    pos, neg = balance(pos, neg, request.seed)
    if request.heldout_positive or request.heldout_negative:
        if not (request.heldout_positive and request.heldout_negative):
            from gristmill.core.errors import GristmillError

            raise GristmillError("give both --heldout-positive and --heldout-negative, or neither")
        hpos = load_texts(request.heldout_positive, "--heldout-positive", limit)
        hneg = load_texts(request.heldout_negative, "--heldout-negative", limit)
        hpos, hneg = balance(hpos, hneg, request.seed)
        return labelled(pos, neg, request.seed), labelled(hpos, hneg, request.seed), "held-out sources"
    train, test = split(labelled(pos, neg, request.seed), request.heldout, request.seed)
    return train, test, f"seeded {request.heldout:.0%} split"


def train_classifier(request: TrainRequest) -> dict[str, Any]:
    """Train, score the held-out set, write the model and ``<model>.eval.json``; the report."""
    train, test, how = _examples(request)
    started = time.perf_counter()
    if request.kind == "fasttext":
        from gristmill.quality.fasttext_classifier import (
            FastTextScorer,
            FastTextSettings,
            settings_dict,
            train_fasttext,
        )

        settings = FastTextSettings(**request.fasttext)
        train_fasttext(train.texts, train.labels, request.out, settings)
        scores = FastTextScorer(request.out).score_many(test.texts)
        params = settings_dict(settings)
    else:
        from gristmill.quality.embedding import (
            DEFAULT_EMBEDDER,
            EmbeddingHead,
            embed_texts,
            train_head,
        )

        embedder = request.embedding.get("embedder", DEFAULT_EMBEDDER)
        window = int(request.embedding.get("max_tokens", 0))
        head = train_head(embed_texts(train.texts, embedder, window), train.labels, embedder=embedder,
                          l2=float(request.embedding.get("l2", 1e-2)), max_tokens=window, seed=request.seed)
        head.provenance.update(positive_sources=list(request.positive),
                               negative_sources=list(request.negative), heldout=how)
        head.save(request.out)
        scores = EmbeddingHead.load(request.out).predict(embed_texts(test.texts, embedder, window)).tolist()
        params = {"embedder": head.embedder, "embedder_sha256": head.embedder_sha256, "l2": head.l2,
                  "max_tokens": window}
    report = {
        "model": str(request.out),
        "kind": request.kind,
        "train": {"examples": len(train), "positives": sum(train.labels)},
        "heldout": {"examples": len(test), "positives": sum(test.labels), "how": how},
        "accuracy": round(accuracy(test.labels, scores), 4),
        "roc_auc": round(roc_auc(test.labels, scores), 4),
        "settings": params,
        "positive_sources": list(request.positive),
        "negative_sources": list(request.negative),
        "heldout_sources": list(request.heldout_positive) + list(request.heldout_negative),
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    write_atomic(eval_path(request.out), orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    return report
