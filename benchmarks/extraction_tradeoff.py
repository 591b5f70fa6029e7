"""``benchmarks/extraction.py --by-source --tradeoff``: speed traded for quality, held out by source.

Where the default path cannot beat trafilatura on a source at 5x its speed, the issue asks for
the trade-off curve. The knob is `gristmill.extract.fallback`: the pages the block model is
least sure of go to trafilatura for a second opinion. Operating points: a target share of
pages routed of 0 (the shipped default), 10, 25, 50 and 100%.

Everything that is chosen is chosen without the scored source, fold by fold
(`gristmill.extract.loso.folds`): the block model of the fold (the same fits as the
``--by-source`` table), the router fitted on the fold's training sources by
`gristmill.extract.fit_fallback.fit_router` (its signals' weights, its ``min_ratio`` and its
score cutoff for each target share), then applied to the held-out source. The share printed
is the share of held-out pages actually sent to trafilatura, which differs from the target
because the cutoff was set on other sources.

Speed: MB of HTML / CPU seconds of the whole ``extract_page`` call (decoding, guards, the
default path, the router and trafilatura where it routes) of every operating point, with the
fold's own block model and router, on the first ``--speed-pages`` pages of each source, in
interleaved passes whose fastest is kept, in this process; trafilatura and bare resiliparse
(DCLM's setting) are timed alongside as references.

``--fit-router --write-model`` fits the shipped router the same way on all five sources, with
the shipped block model, and writes ``src/gristmill/extract/fallback_router.json``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from extraction_by_source import page_blocks, page_text
from extraction_cache import cached_texts
from gristmill.core.step import Drop
from gristmill.extract.blocks import Blocks
from gristmill.extract.cleanup import BlockModel, render_blocks, select_blocks
from gristmill.extract.fallback import ROUTER_FILE, Fallback, Router, page_signals, router_to_json
from gristmill.extract.fit_fallback import RouterPage, fit_router, routed_mask, router_provenance
from gristmill.extract.gold import GoldPage
from gristmill.extract.loso import by_source, folds, score_source
from gristmill.extract.page import extract_page


@dataclass(frozen=True)
class Row:
    """One operating point on one held-out source: which pages went to trafilatura, (P, R, F1)."""

    sent: np.ndarray
    scores: tuple[float, float, float]


FRACTIONS: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0)
ROUTER_PATH = Path(__file__).resolve().parents[1] / "src" / "gristmill" / "extract" / ROUTER_FILE


def trafilatura_texts(pages: Sequence[GoldPage]) -> list[str]:
    """trafilatura's text of every page, from the extraction cache."""
    texts = cached_texts("trafilatura", version("trafilatura"), pages, lambda p: page_text(p, "trafilatura"))
    return [t.strip() for t in texts]


def router_pages(pages: Sequence[GoldPage], blocks: Sequence[Blocks], model: BlockModel, theirs: Sequence[str]) -> list[RouterPage]:
    """Every page as a router sees it under ``model``."""
    out = []
    for page, page_blocks_, other in zip(pages, blocks, theirs, strict=True):
        probs = model.probabilities(page_blocks_)
        keep = select_blocks(page_blocks_, probs, model)
        ours = render_blocks(page_blocks_, keep).strip()
        out.append(RouterPage(page, page_signals(page_blocks_, probs, keep), ours, other))
    return out


def fit_shipped_router(write: bool) -> Router:
    """The router for the shipped block model, fitted on every gold page."""
    from gristmill.extract.block_model import default_model
    from gristmill.extract.loso import load_gold_sources

    pages = load_gold_sources()
    fitted = router_pages(pages, page_blocks(pages), default_model(), trafilatura_texts(pages))
    router = fit_router(fitted)
    print(f"router fitted on {len(fitted)} pages: min_ratio {router.min_ratio}, coef "
          + ", ".join(f"{c:+.3f}" for c in router.coef))
    if write:
        ROUTER_PATH.write_text(router_to_json(router, router_provenance(fitted, router)), encoding="utf-8")
        print(f"wrote {ROUTER_PATH}")
    return router


def _point_name(fraction: float) -> str:
    return "default (held out)" if fraction == 0 else f"+ trafilatura {fraction:4.0%}"


def _extract(page: GoldPage, backend: str, fallback: Fallback | None) -> str:
    result = extract_page(page.html, content_type=page.content_type, url=page.url, backend=backend, fallback=fallback)  # type: ignore[arg-type]
    return "" if isinstance(result, Drop) else result.text


def _best_seconds(
    samples: dict[str, list[GoldPage]], settings: dict[str, dict[str, tuple[str, Fallback | None]]], repeat: int
) -> dict[tuple[str, str], float]:
    """CPU seconds of each (source, point) setting on its sample, best of ``repeat`` interleaved passes."""
    best: dict[tuple[str, str], float] = {}
    for _ in range(max(repeat, 1)):
        for source, sample in samples.items():
            for name, (backend, fallback) in settings[source].items():
                start = time.process_time()
                for page in sample:
                    _extract(page, backend, fallback)
                key = (source, name)
                best[key] = min(best.get(key, float("inf")), time.process_time() - start)
    return best


def run_tradeoff(
    pages: list[GoldPage],
    blocks: list[Blocks],
    models: dict[tuple[str, ...], BlockModel],
    outputs: dict[str, list[str]],
    speed_pages: int,
    repeat: int,
) -> None:
    """Fit a router per fold, score each operating point on the held-out source, time it."""
    groups = by_source(pages)
    theirs = outputs["trafilatura"]
    rows: dict[str, dict[str, Row]] = {}
    settings: dict[str, dict[str, tuple[str, Fallback | None]]] = {}
    print("\ntrade-off: routers fitted per fold on the training sources")
    for held in folds(list(groups)):
        model = models[tuple(sorted(held))]
        seen = router_pages(pages, blocks, model, theirs)
        train = [seen[i] for s, idx in groups.items() if s not in held for i in idx]
        start = time.process_time()
        router = fit_router(train)
        print(f"  fold without {'+'.join(held)}: min_ratio {router.min_ratio}, "
              f"fitted on {len(train)} pages in {time.process_time() - start:.0f} s")
        for source in held:
            test = [seen[i] for i in groups[source]]
            signals = np.vstack([p.signals for p in test])
            subset = [p.page for p in test]
            rows[source], settings[source] = {}, {}
            for fraction in FRACTIONS:
                sent = routed_mask(router, signals, fraction) if fraction else np.zeros(len(test), dtype=bool)
                texts = [p.routed(router.min_ratio) if s else p.ours for p, s in zip(test, sent, strict=True)]
                name = _point_name(fraction)
                rows[source][name] = Row(sent, score_source(subset, texts))
                fallback = Fallback(router, router.cutoff(fraction), model) if fraction else None
                settings[source][name] = ("cleaned", fallback)
            for name, backend in (("trafilatura", "trafilatura"), ("resiliparse (DCLM)", "resiliparse")):
                sent = np.full(len(test), backend == "trafilatura")
                rows[source][name] = Row(sent, score_source(subset, [outputs[name][i] for i in groups[source]]))
                settings[source][name] = (backend, None)
    samples = {source: [pages[i] for i in idx[:speed_pages]] for source, idx in groups.items()}
    seconds = _best_seconds(samples, settings, repeat)
    megabytes = {source: sum(len(p.html) for p in sample) / 1e6 for source, sample in samples.items()}
    print(
        f"speed: first {speed_pages} pages of each source ({sum(megabytes.values()):.1f} MB), "
        f"best of {repeat} interleaved passes, one core"
    )
    print_tradeoff(rows, seconds, megabytes, speed_pages)


def print_tradeoff(
    rows: dict[str, dict[str, Row]], seconds: dict[tuple[str, str], float], megabytes: dict[str, float], speed_pages: int
) -> None:
    """Per source, each point: share sent to trafilatura (of the source, of its timed pages),
    P/R/F1, F1 minus trafilatura's, MB/s and its ratio to trafilatura's; then over sources."""
    header = (
        f"{'source':<16} {'operating point':<22} {'sent':>5} {'timed':>5} {'P':>6} {'R':>6} {'F1':>6} "
        f"{'F1-traf':>7} {'MB/s':>7} {'x traf':>6}"
    )
    print("\n" + header)
    print("-" * len(header))
    for source, points in rows.items():
        traf_f1 = points["trafilatura"].scores[2]
        traf_speed = megabytes[source] / seconds[(source, "trafilatura")]
        for i, (name, row) in enumerate(points.items()):
            p, r, f1 = row.scores
            speed = megabytes[source] / seconds[(source, name)]
            print(
                f"{source if i == 0 else '':<16} {name:<22} {row.sent.mean():5.0%} {row.sent[:speed_pages].mean():5.0%} "
                f"{p:6.3f} {r:6.3f} {f1:6.3f} {f1 - traf_f1:+7.3f} {speed:7.1f} {speed / traf_speed:6.2f}"
            )
        print("-" * len(header))
    names = list(next(iter(rows.values())))
    total_mb = sum(megabytes.values())
    traf_speed = total_mb / sum(seconds[(s, "trafilatura")] for s in rows)
    print(f"\nover the {len(rows)} held-out sources: mean F1, worst F1 - trafilatura's, MB/s of all timed pages")
    for name in names:
        gaps = [rows[s][name].scores[2] - rows[s]["trafilatura"].scores[2] for s in rows]
        speed = total_mb / sum(seconds[(s, name)] for s in rows)
        mean_f1 = float(np.mean([rows[s][name].scores[2] for s in rows]))
        print(f"  {name:<22} F1 {mean_f1:.3f}  worst gap {min(gaps):+.3f}  {speed:6.1f} MB/s  {speed / traf_speed:5.2f}x traf")
