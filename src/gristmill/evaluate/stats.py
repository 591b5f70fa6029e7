"""Means with standard errors, centered accuracy and the CORE aggregate.

Standard errors are lm-evaluation-harness's ``mean_stderr`` (sample standard deviation with
ddof=1 over sqrt(n)); for 0/1 outcomes that is sqrt(p(1-p)/(n-1)), the binomial standard error
that training.md §8.3 quotes (HellaSwag n=10,042 at 25%: 0.43 points).

Centered accuracy (DCLM / Mosaic Eval Gauntlet, training.md §3.1): ``(acc - b) / (1 - b)`` with
``b`` the task's random baseline as a fraction; CORE is the unweighted mean of the centered
accuracies of the 22 CORE tasks. Its standard error treats tasks as independent:
``sqrt(sum_i se_i^2 / (1 - b_i)^2) / N``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def mean_se(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """``{"value": mean, "se": standard error, "n": count}`` of a sample."""
    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return {"value": float("nan"), "se": float("nan"), "n": 0}
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"value": float(x.mean()), "se": se, "n": n}


def ratio_se(numerators: np.ndarray, denominators: np.ndarray) -> dict[str, float]:
    """A ratio of sums (e.g. bits per byte = Σ bits / Σ bytes over documents) with the
    delta-method standard error of a ratio estimator over independent units."""
    a = np.asarray(numerators, dtype=np.float64)
    b = np.asarray(denominators, dtype=np.float64)
    n = int(a.size)
    r = float(a.sum() / b.sum()) if b.sum() else float("nan")
    if n < 2:
        return {"value": r, "se": float("nan"), "n": n}
    resid = a - r * b
    se = float(math.sqrt((resid**2).sum() / (n - 1) / n) / b.mean())
    return {"value": r, "se": se, "n": n}


def centered(acc: float, se: float, baseline_percent: float) -> tuple[float, float]:
    """Centered accuracy and its standard error for a random baseline given in percent."""
    b = baseline_percent / 100.0
    return (acc - b) / (1.0 - b), se / (1.0 - b)


def aggregate(entries: Iterable[tuple[float, float]], required: Sequence[str], present: Sequence[str],
              *, allow_missing: bool) -> dict[str, Any]:
    """Mean of centered accuracies ``entries`` ((value, se) per present task) over ``required``
    tasks. Missing tasks give ``value None`` unless ``allow_missing``, when the mean over the
    tasks that are there is reported and marked ``partial``."""
    values = list(entries)
    missing = [t for t in required if t not in present]
    out: dict[str, Any] = {"tasks": len(values), "of": len(required), "missing": missing,
                           "partial": bool(missing)}
    if (missing and not allow_missing) or not values:
        return out | {"value": None, "se": None}
    n = len(values)
    mean = sum(v for v, _ in values) / n
    se = math.sqrt(sum(s * s for _, s in values if math.isfinite(s))) / n
    return out | {"value": mean, "se": se}
