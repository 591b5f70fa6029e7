"""The opt-in trafilatura second opinion (`gristmill.extract.fallback`): routing, its fit, the step."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from gristmill.core.document import Document
from gristmill.core.errors import RecipeError
from gristmill.engine.registry import build_step
from gristmill.extract.block_model import default_model
from gristmill.extract.charset import charset_from_content_type, decode_html
from gristmill.extract.cleanup import main_content_blocks, render_blocks, select_blocks
from gristmill.extract.fallback import Fallback, default_router, page_signals, prefer_second_opinion
from gristmill.extract.fit_fallback import (
    MIN_RATIO_GRID,
    RouterPage,
    balanced_cutoffs,
    fit_router,
    source_weights,
)
from gristmill.extract.gold import GoldPage, load_trafilatura, load_wceb
from gristmill.extract.page import Extraction, extract_page


@pytest.fixture(scope="module")
def pages(shared_data: Path) -> list[GoldPage]:
    root = shared_data / "web" / "pages"
    return load_wceb(10, root=root) + load_trafilatura(10, root=root)


def _run(page: GoldPage, **kwargs) -> Extraction | None:
    result = extract_page(page.html, content_type=page.content_type, url=page.url, **kwargs)
    return result if isinstance(result, Extraction) else None


@pytest.fixture(scope="module")
def outputs(pages) -> dict[str, list[Extraction | None]]:
    return {
        "cleaned": [_run(p) for p in pages],
        "trafilatura": [_run(p, backend="trafilatura") for p in pages],
    }


def test_no_share_is_the_default_path_and_the_whole_share_asks_trafilatura_everywhere(pages, outputs):
    router = default_router()
    never, always = Fallback(router, router.cutoff(0.0)), Fallback(router, router.cutoff(1.0))
    replaced = 0
    for page, ours, theirs in zip(pages, outputs["cleaned"], outputs["trafilatura"], strict=True):
        assert _run(page, fallback=never) == ours
        got = _run(page, fallback=always)
        if theirs is not None and prefer_second_opinion(ours.text if ours else "", theirs.text, router.min_ratio):
            assert got == Extraction(theirs.text, theirs.charset, "trafilatura")
            replaced += 1
        else:
            assert got == ours
    # trafilatura's text is close in length to ours on most gold pages, so it is kept on many.
    assert replaced >= len(pages) // 3


def test_a_larger_share_routes_a_superset_of_pages(pages):
    router = default_router()
    routed = []
    for fraction in (0.1, 0.25, 0.5, 1.0):
        fallback = Fallback(router, router.cutoff(fraction))
        got = [_run(p, fallback=fallback) for p in pages]
        routed.append({i for i, g in enumerate(got) if g is not None and g.extractor == "trafilatura"})
    for smaller, larger in pairwise(routed):
        assert smaller <= larger
    assert len(routed[0]) < len(routed[-1])


def test_cutoffs_weigh_every_source_the_same():
    # Source a: one page scored 10; source b: four pages scored 4, 3, 2, 1. Each source weighs
    # 1, so a's page alone is half the weight: 50% routes just it, 60% needs b's best page too.
    scores = np.array([1.0, 10.0, 3.0, 4.0, 2.0])
    weights = source_weights(["b", "a", "b", "b", "b"])
    assert weights.tolist() == [0.25, 1.0, 0.25, 0.25, 0.25]
    cutoffs = balanced_cutoffs(scores, weights)
    assert cutoffs[50] == 10.0 and cutoffs[60] == 4.0 and cutoffs[100] == 1.0


def test_a_fitted_router_routes_about_the_target_share(pages, outputs):
    model = default_model()
    fitted = []
    for page, theirs in zip(pages, outputs["trafilatura"], strict=True):
        blocks = main_content_blocks(decode_html(page.html, charset_from_content_type(page.content_type))[0])
        probs = model.probabilities(blocks)
        keep = select_blocks(blocks, probs, model)
        fitted.append(
            RouterPage(page, page_signals(blocks, probs, keep), render_blocks(blocks, keep), theirs.text if theirs else "")
        )
    router = fit_router(fitted)
    assert router.min_ratio in MIN_RATIO_GRID
    assert (np.diff(router.cutoffs) <= 0).all()
    weights = source_weights([p.page.collection for p in fitted])
    scores = router.score(np.vstack([p.signals for p in fitted]))
    for fraction in (0.1, 0.25, 0.5):
        share = weights[scores >= router.cutoff(fraction)].sum() / weights.sum()
        assert fraction - 1e-9 <= share <= fraction + weights.max() / weights.sum() + 1e-9


def test_step_option(pages, outputs):
    index = next(
        i
        for i, (ours, theirs) in enumerate(zip(outputs["cleaned"], outputs["trafilatura"], strict=True))
        if ours and theirs and ours.text != theirs.text and prefer_second_opinion(ours.text, theirs.text, default_router().min_ratio)
    )
    page = pages[index]
    doc = Document(id="d", url=page.url, content=page.html, metadata={"content_type": page.content_type})
    out = build_step("extract_text", {"fallback_fraction": 1.0}).apply(doc)
    assert isinstance(out, Document)
    assert out.metadata["extractor"] == "trafilatura"
    assert out.text == outputs["trafilatura"][index].text
    with pytest.raises(RecipeError, match="fallback_fraction"):
        build_step("extract_text", {"fallback_fraction": 1.5})
    with pytest.raises(RecipeError, match="fallback_fraction"):
        build_step("extract_text", {"backend": "resiliparse", "fallback_fraction": 0.1})
