"""trafilatura extraction with the settings its own evaluation uses.

trafilatura's benchmark (adbar/trafilatura ``tests/comparison_small.py``, ``run_trafilatura_*``)
and the wceb benchmark's wrapper (tiptopjaw/web-content-extraction-benchmark
``extractors/trafilatura_extractor.py``) both call it with ``include_comments=False,
include_tables=True`` and no formatting, links or images, with the fallback extractors on
(``fast=False``, trafilatura's default). ``favor`` selects trafilatura's own precision / recall
presets (``favor_precision`` / ``favor_recall``); "balanced" is its default. DCLM's trafilatura
ablation (paper Table 3) does not publish its settings.
"""

from __future__ import annotations

from typing import Literal

import trafilatura

TrafilaturaFavor = Literal["balanced", "precision", "recall"]


def extract_trafilatura(html: str | bytes, url: str | None = None, favor: TrafilaturaFavor = "balanced") -> str:
    """Main text by trafilatura ("" when it finds none)."""
    text = trafilatura.extract(
        html,
        url=url or None,
        fast=False,
        favor_precision=favor == "precision",
        favor_recall=favor == "recall",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        include_formatting=False,
        with_metadata=False,
        deduplicate=False,
    )
    return text or ""
