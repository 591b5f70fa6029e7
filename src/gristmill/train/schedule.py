"""The learning-rate schedule and the MeCo cooldown switch of DCLM's fixed recipe
(open_lm ``cosine_lr``; MeCo, training.md §1.3)."""

from __future__ import annotations

import math


def lr_at(step: int, peak: float, minimum: float, warmup: int, total: int) -> float:
    """open_lm ``cosine_lr``: linear warmup to ``peak`` then cosine to ``minimum`` at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return minimum + 0.5 * (1.0 + math.cos(math.pi * progress)) * (peak - minimum)


def cooldown_start(total_steps: int, fraction: float) -> int:
    """First step of the MeCo cooldown: the last ``fraction`` of steps see no metadata."""
    return total_steps - round(fraction * total_steps) if fraction > 0 else total_steps
