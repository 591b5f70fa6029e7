"""The arithmetic of a mix: per-source token targets, epochs, and which documents repeat.

Sources are given either all by ``weight`` (shares of the mixed corpus's tokens) or all by
``tokens`` (a budget per source). With weights and no ``total_tokens``, the total is the
largest one that repeats no source: ``min(available_s / weight_s)`` (one source is used whole,
the others are cut). A source's epochs are ``target / available``: every document appears
``floor(epochs)`` times, and documents taken in a seeded random order until the remaining
tokens are as close as whole documents allow appear once more (open_lm's per-source
``sampling_frequencies`` in DCLM's tokenize-shuffle, §6.2, upsample the same way, as do
Dolma mixes listing a source several times). The realized share is reported against the
target; at document granularity it can miss by at most one document's tokens per source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gristmill.core.errors import GristmillError


@dataclass(frozen=True)
class SourceTarget:
    name: str
    weight: float | None = None
    tokens: int | None = None


@dataclass
class SourcePlan:
    """One source's target and what it will contribute."""

    name: str
    available_tokens: int
    documents: int
    target_tokens: float
    target_share: float
    epochs: float  # target / available: the stated upsampling (or < 1: the share kept)

    @property
    def full_epochs(self) -> int:
        return math.floor(self.epochs + 1e-12)

    @property
    def remainder(self) -> float:
        return self.target_tokens - self.full_epochs * self.available_tokens


def plan_sources(targets: list[SourceTarget], available: dict[str, int], documents: dict[str, int],
                 total_tokens: int = 0, max_epochs: float = 10.0) -> list[SourcePlan]:
    """Targets and epochs of every source (see the module docstring)."""
    by_weight = [t.weight is not None for t in targets]
    if any(by_weight) and not all(by_weight):
        raise GristmillError("mix: give every source a weight, or every source a token budget")
    if all(by_weight):
        weights = {t.name: float(t.weight or 0.0) for t in targets}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise GristmillError("mix: weights must be non-negative and not all zero")
        norm = sum(weights.values())
        shares = {k: w / norm for k, w in weights.items()}
        if total_tokens <= 0:
            limits = [available[k] / s for k, s in shares.items() if s > 0]
            total = float(min(limits))
        else:
            total = float(total_tokens)
        budgets = {k: s * total for k, s in shares.items()}
    else:
        budgets = {t.name: float(t.tokens or 0) for t in targets}
        if any(b < 0 for b in budgets.values()):
            raise GristmillError("mix: token budgets must be non-negative")
        total = sum(budgets.values())
    plans = []
    for t in targets:
        have, want = available[t.name], budgets[t.name]
        if want > 0 and have == 0:
            raise GristmillError(f"mix: source {t.name!r} has no tokens but a target of {want:.0f}")
        epochs = want / have if have else 0.0
        if epochs > max_epochs:
            raise GristmillError(f"mix: source {t.name!r} would be repeated {epochs:.2f} times "
                                 f"(max_epochs {max_epochs}); lower its target or raise max_epochs")
        plans.append(SourcePlan(t.name, have, documents[t.name], want, want / total if total else 0.0, epochs))
    return plans


def extra_epoch(keys: np.ndarray, tokens: np.ndarray, remainder: float) -> np.ndarray:
    """Which documents (a boolean mask) repeat once more: a prefix in ``keys`` order (ties by
    position) whose token sum is nearest ``remainder`` (the shorter prefix on a tie)."""
    chosen = np.zeros(len(keys), dtype=bool)
    if remainder <= 0 or not len(keys):
        return chosen
    order = np.lexsort((np.arange(len(keys)), keys))
    cum = np.cumsum(tokens[order].astype(np.int64))
    m = int(np.searchsorted(cum, remainder))  # prefix of m + 1 documents reaches the remainder
    below = int(cum[m - 1]) if m > 0 else 0
    nearer_below = m == len(cum) or remainder - below <= int(cum[m]) - remainder
    take = m if nearer_below else m + 1
    chosen[order[:take]] = True
    return chosen
