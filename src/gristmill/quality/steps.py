"""Local quality steps: the fastText scorer and a fixed-threshold filter on any score.

``fasttext_quality`` is DCLM's ``classify_fasttext_hq_prob`` enricher (the score is p(hq),
stored in ``metadata[key]`` and, through `Step.attribute_keys`, in the run's attribute side
files); ``score_filter`` is DCLM's ``quality_filter`` (``baselines/mappers/filters/
metadata_filters.py``: keep ``score >= threshold``; DCLM-Baseline's fixed value was 0.018112,
its top 10%). Use the global ``top_fraction`` step to keep a share of the corpus instead.
"""

from __future__ import annotations

from typing import Literal

from gristmill.core.document import Document
from gristmill.core.errors import GristmillError
from gristmill.core.step import Drop, Step, StepContext, register
from gristmill.filters.assets import resolve_asset
from gristmill.quality.fasttext_classifier import POSITIVE_LABEL, FastTextScorer

DEFAULT_FASTTEXT_KEY = "fasttext_quality_prob"


class ScoreStep(Step):
    """An enricher that stores one score per document under ``config["key"]``."""

    kind = "enricher"

    def attribute_keys(self) -> tuple[str, ...]:
        return (self.config["key"],)

    def scores(self, docs: list[Document]) -> list[float]:
        raise NotImplementedError

    def apply_batch(self, docs: list[Document]) -> list[Document | Drop]:
        key = self.config["key"]
        for doc, value in zip(docs, self.scores(docs), strict=True):
            doc.metadata[key] = value
        return list(docs)

    def apply(self, doc: Document) -> Document | Drop:
        return self.apply_batch([doc])[0]


@register("fasttext_quality")
class FastTextQuality(ScoreStep):
    """p(high quality) under a fastText classifier (``gristmill quality train`` makes one;
    DCLM's released ``openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin`` works as is).

    Args:
        model: the ``.bin`` file (``${assets}/...`` allowed).
        key: metadata key of the score (DCLM's release:
            ``fasttext_openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train_prob``).
        positive_label: the label whose probability is the score.
    """

    def __init__(self, *, model: str, key: str = DEFAULT_FASTTEXT_KEY,
                 positive_label: str = POSITIVE_LABEL) -> None:
        self._scorer: FastTextScorer | None = None

    def setup(self, context: StepContext) -> None:
        super().setup(context)
        path = resolve_asset(self.config["model"], context)
        self._scorer = FastTextScorer(path, self.config["positive_label"])

    def scores(self, docs: list[Document]) -> list[float]:
        assert self._scorer is not None
        return self._scorer.score_many([d.text for d in docs])


@register("score_filter")
class ScoreFilter(Step):
    """Keep documents whose ``metadata[key]`` is at least ``threshold`` (``keep: high``) or at
    most it (``keep: low``, e.g. perplexity). A document without the score is an error (counted
    and quarantined), never silently kept or dropped."""

    def __init__(self, *, key: str, threshold: float, keep: Literal["high", "low"] = "high",
                 reason: str = "low_quality") -> None:
        pass

    def apply(self, doc: Document) -> Document | Drop:
        key = self.config["key"]
        if key not in doc.metadata or not isinstance(doc.metadata[key], (int, float)):
            raise KeyError(f"document has no numeric score {key!r}")
        value = float(doc.metadata[key])
        threshold = self.config["threshold"]
        ok = value >= threshold if self.config["keep"] == "high" else value <= threshold
        return doc if ok else Drop(self.config["reason"])


@register("embedding_quality")
class EmbeddingQuality(ScoreStep):
    """p(high quality) under a linear head on sentence embeddings (DCLM Table 4, "linear on
    BGE"; here all-MiniLM-L6-v2 from a PyPI package, on CPU). Train the head with
    ``gristmill quality train --kind embedding``; it names its embedder, which is loaded once
    per worker (`gristmill.quality.embedding`).

    Args:
        model: the head's ``.npz`` file (``${assets}/...`` allowed).
        key: metadata key of the score.
        batch_size: documents per forward pass.
    """

    def __init__(self, *, model: str, key: str = "embedding_quality_prob", batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")

    def setup(self, context: StepContext) -> None:
        from gristmill.quality.embedding import EmbeddingHead, cached_embedder

        super().setup(context)
        path = resolve_asset(self.config["model"], context)
        self.head = EmbeddingHead.load(path)
        self.embedder = cached_embedder(self.head.embedder, self.config["batch_size"], self.head.max_tokens)
        if self.head.embedder_sha256 and self.head.embedder_sha256 != self.embedder.sha256:
            raise GristmillError(f"{path}: trained on embeddings of another {self.head.embedder!r} "
                                 f"(weights {self.head.embedder_sha256[:12]}, found {self.embedder.sha256[:12]})")

    def scores(self, docs: list[Document]) -> list[float]:
        return self.head.predict(self.embedder.encode([d.text for d in docs])).tolist()
