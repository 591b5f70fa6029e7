"""Allowed ranges of numbers: one way to state them, for command-line options and step configs.

A `Range` says which values a number may take and describes them in words, so every refusal
lists what is allowed ("must be an integer from 1 to 64, got 0"). Command-line options use
`Range.parse` as their argparse ``type``; a step declares a config value's range in its
``__init__`` signature with ``typing.Annotated`` (the engine checks it when it builds the step,
so a recipe's out-of-range threshold is an error naming the file, line and key)::

    def __init__(self, *, min_length: Annotated[int, Range(0)] = 50,
                 threshold: Fraction = 0.65) -> None: ...
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Annotated


@dataclass(frozen=True)
class Range:
    """Numbers from ``low`` to ``high`` (None: unbounded), ends included unless ``*_open``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def describe(self) -> str:
        """The allowed values in words: "an integer from 1 to 64", "a number above 0", ..."""
        kind = "an integer" if self.integer else "a number"
        low, high = _show(self.low), _show(self.high)
        if self.low is not None and self.high is not None:
            if not (self.low_open or self.high_open):
                return f"{kind} from {low} to {high}"
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"{kind} in {left}{low}, {high}{right}"
        if self.low is not None:
            return f"{kind} above {low}" if self.low_open else f"{kind} of at least {low}"
        if self.high is not None:
            return f"{kind} below {high}" if self.high_open else f"{kind} of at most {high}"
        return kind

    def contains(self, value: float) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not allowed ("must be ..., got ..."); None when it is."""
        if self.contains(value):  # type: ignore[arg-type]
            return None
        return f"must be {self.describe()}, got {value!r}"

    def parse(self, text: str) -> int | float:
        """An argparse ``type``: the number in ``text``, or `argparse.ArgumentTypeError`."""
        try:
            value: int | float = int(text) if self.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {self.describe()}, got {text!r}") from None
        problem = self.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    def below(self, high: float) -> Range:
        """This range with ``high`` (included) as its upper end."""
        return Range(self.low, high, self.low_open, False, self.integer)


def _show(bound: float | None) -> str:
    if bound is None:
        return ""
    return f"{bound:,}" if isinstance(bound, int) else f"{bound:g}"


def check_order(low: float | None, high: float | None, low_name: str, high_name: str) -> None:
    """Raise ValueError when both bounds are set and ``low`` exceeds ``high`` (a range that
    nothing can fall in)."""
    if low is not None and high is not None and low > high:
        raise ValueError(f"{low_name} ({low}) must not exceed {high_name} ({high})")


def range_of(annotation: object) -> Range | None:
    """The `Range` in an ``Annotated[...]`` type, if there is one."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, Range):
            return meta
    return None


# The ranges that recur, by meaning.
COUNT = Range(0, integer=True)  # 0 or more
POSITIVE = Range(1, integer=True)  # 1 or more
SHARE = Range(0.0, 1.0)  # a fraction, both ends allowed
SEED = Range(0, 2**63 - 1, integer=True)  # hash and RNG seeds take unsigned 64-bit values

Count = Annotated[int, COUNT]
Positive = Annotated[int, POSITIVE]
Share = Annotated[float, SHARE]
Seed = Annotated[int, SEED]
NonNegative = Annotated[float, Range(0.0)]
