"""Extraction quality measures, as the public benchmarks define them.

Word-level precision/recall/F1 follows the web-content-extraction-benchmark (wceb,
tiptopjaw/web-content-extraction-benchmark, ``scripts/03_run_benchmark.py``,
``calculate_text_similarity``): both texts are lower-cased and split on whitespace, each
becomes a *set* of words (a bag without counts), and

    precision = |E ∩ G| / |E|,  recall = |E ∩ G| / |G|,  F1 = 2PR / (P + R),

per page; the benchmark reports the mean over pages. Both empty → 1; one empty → 0.

Snippets follow trafilatura's evaluation (adbar/trafilatura ``tests/comparison_small.py``,
``evaluate_result``): a ``with`` snippet must occur in the output as an exact, case-sensitive
substring, a ``without`` snippet must not; counts are pooled over pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def word_prf(extracted: str, gold: str) -> tuple[float, float, float]:
    """(precision, recall, F1) of the word sets of ``extracted`` against ``gold`` (wceb)."""
    if not extracted and not gold:
        return 1.0, 1.0, 1.0
    if not extracted or not gold:
        return 0.0, 0.0, 0.0
    got = set(extracted.lower().split())
    want = set(gold.lower().split())
    common = len(got & want)
    precision = common / len(got) if got else 0.0
    recall = common / len(want) if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass
class SnippetCounts:
    """Pooled snippet outcomes (trafilatura's true/false positives/negatives)."""

    kept_with: int = 0  # true positives
    lost_with: int = 0  # false negatives
    kept_without: int = 0  # false positives
    dropped_without: int = 0  # true negatives

    def add(self, extracted: str, with_snippets: Iterable[str], without_snippets: Iterable[str]) -> None:
        for snippet in with_snippets:
            if snippet in extracted:
                self.kept_with += 1
            else:
                self.lost_with += 1
        for snippet in without_snippets:
            if snippet in extracted:
                self.kept_without += 1
            else:
                self.dropped_without += 1

    @property
    def with_kept_share(self) -> float:
        total = self.kept_with + self.lost_with
        return self.kept_with / total if total else 1.0

    @property
    def without_dropped_share(self) -> float:
        total = self.kept_without + self.dropped_without
        return self.dropped_without / total if total else 1.0

    @property
    def f1(self) -> float:
        """trafilatura's snippet F-score: 2tp / (2tp + fp + fn)."""
        denom = 2 * self.kept_with + self.kept_without + self.lost_with
        return 2 * self.kept_with / denom if denom else 1.0
