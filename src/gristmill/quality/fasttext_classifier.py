"""DCLM's fastText quality classifier: training, loading and scoring.

Source: DCLM ``baselines/train_fasttext_classifier.py`` and
``baselines/mappers/enrichers/quality_prediction_enrichers_calc_fasttext.py``; paper §4.5 and
App. J.1. Training uses fastText's supervised defaults except ``wordNgrams=2`` (lr 0.1, dim 100,
window 5, 5 epochs, minCount 1, softmax loss, 2M hash buckets), one line per example
``__label__hq <text>`` / ``__label__cc <text>``, seed 42 in DCLM's script. Text goes in as
``" ".join(text.strip().splitlines())`` both at training and at inference (newlines become
spaces; no lowercasing). The score is p(hq): the top-1 probability when the top label is
``__label__hq``, else one minus it (DCLM's ``classify_fasttext_hq_prob``).

Training runs in ``fasttext_new`` (a maintained Rust port that writes C++-compatible ``.bin``
files); scoring runs in the C++ binding of ``fasttext-predict``, the one language id uses,
which also loads DCLM's released ``openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin``.
With one training thread (the default here) the model file is the same bytes on every run.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from gristmill.core.errors import GristmillError
from gristmill.io.atomic import atomic_output

POSITIVE_LABEL = "__label__hq"
NEGATIVE_LABEL = "__label__cc"


def classifier_line(text: str) -> str:
    """fastText's input for one document (DCLM: newlines joined with spaces)."""
    return " ".join(text.strip().splitlines())


@dataclass(frozen=True)
class FastTextSettings:
    """fastText ``train_supervised`` settings; defaults are DCLM's (see module docstring)."""

    lr: float = 0.1
    dim: int = 100
    ws: int = 5
    epoch: int = 5
    min_count: int = 1
    word_ngrams: int = 2
    bucket: int = 2_000_000
    loss: str = "softmax"
    seed: int = 42
    threads: int = 1


def train_fasttext(texts: Sequence[str], labels: Sequence[int], out: Path,
                   settings: FastTextSettings = FastTextSettings()) -> None:
    """Train on labelled texts (1: ``__label__hq``) and write the model to ``out`` atomically.
    The training lines are shuffled with ``settings.seed`` (fastText's SGD is order-sensitive)."""
    import fasttext_new

    lines = [f"{POSITIVE_LABEL if y else NEGATIVE_LABEL} {classifier_line(t)}"
             for t, y in zip(texts, labels, strict=True)]
    random.Random(settings.seed).shuffle(lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        model = fasttext_new.train_supervised(
            input=str(train_file), lr=settings.lr, dim=settings.dim, ws=settings.ws,
            epoch=settings.epoch, minCount=settings.min_count, wordNgrams=settings.word_ngrams,
            bucket=settings.bucket, loss=settings.loss, seed=settings.seed,
            thread=settings.threads, verbose=0,
        )
        model_file = Path(tmp) / "model.bin"
        model.save_model(str(model_file))
        with atomic_output(out) as fh:
            fh.write(model_file.read_bytes())


def settings_dict(settings: FastTextSettings) -> dict:
    return asdict(settings)


class FastTextScorer:
    """A fastText quality classifier loaded for scoring (C++ binding)."""

    def __init__(self, path: str | Path, positive_label: str = POSITIVE_LABEL) -> None:
        from fasttext.FastText import _FastText

        p = Path(path)
        if not p.is_file():
            raise GristmillError(f"quality model {p} not found")
        try:
            self._model = _FastText(model_path=str(p))
        except (ValueError, RuntimeError, MemoryError) as exc:
            raise GristmillError(f"{p}: not a fastText model ({exc})") from exc
        probe = self._model.f.predict("probe\n", -1, 0.0, "replace")
        labels = sorted(label for _, label in probe)
        if positive_label not in labels:
            raise GristmillError(
                f"{p}: a fastText model without the label {positive_label} (its labels: "
                f"{', '.join(labels[:5])}{'...' if len(labels) > 5 else ''}); not a quality classifier")
        self.positive_label = positive_label
        self._predict = self._model.f.predict

    def score(self, text: str) -> float:
        """p(high quality) of one document."""
        top = self._predict(classifier_line(text) + "\n", 1, 0.0, "replace")
        if not top:
            return 0.0
        prob, label = top[0]
        return float(prob) if label == self.positive_label else 1.0 - float(prob)

    def score_many(self, texts: Sequence[str]) -> list[float]:
        return [self.score(t) for t in texts]
