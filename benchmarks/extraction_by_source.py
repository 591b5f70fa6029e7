"""``benchmarks/extraction.py --by-source``: each gold source scored by a model fitted without it.

For each fold of `gristmill.extract.loso.folds` the block model is refitted on the other
sources (same procedure and settings as the shipped model) and the default path is scored on
the held-out source(s); bare resiliparse (DCLM's setting) and trafilatura are scored on the same
pages. Scores: `gristmill.extract.loso.score_source` (word-set P/R/F1 against gold text, or
trafilatura's pooled snippet P/R/F1 on its evaluation pages).

Speed: MB of HTML / CPU seconds of the whole ``extract_page`` call (decoding, guards,
extraction; the default path with the shipped model) for each backend, on ``--speed-pages``
pages per source, in interleaved passes whose fastest is kept, in this process. Accuracy
outputs of resiliparse and trafilatura, and resiliparse's block renderings, come from the
`extraction_cache` (computed through the same calls when missing).

Then, per source, the pages where the held-out default loses most to trafilatura: URL and both
F1s (`gristmill.extract.loso.page_score`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib.metadata import version

from extraction_cache import cached_texts
from gristmill.core.step import Drop
from gristmill.extract.blocks import Blocks, parse_blocks
from gristmill.extract.charset import charset_from_content_type, decode_html
from gristmill.extract.cleanup import (
    MAIN_CONTENT_OPTIONS,
    BlockModel,
    choose_blocks,
    minimal_html,
    render_blocks,
    select_blocks,
)
from gristmill.extract.fit import FitPage, fit_block_model
from gristmill.extract.gold import GoldPage
from gristmill.extract.loso import by_source, folds, leave_one_source_out, page_score, score_source
from gristmill.extract.page import extract_page

BACKENDS: tuple[tuple[str, str], ...] = (
    ("default (held out)", "cleaned"),
    ("resiliparse (DCLM)", "resiliparse"),
    ("trafilatura", "trafilatura"),
)


def page_text(page: GoldPage, backend: str) -> str:
    """What the extraction step keeps of one page ("" for a drop)."""
    result = extract_page(page.html, content_type=page.content_type, url=page.url, backend=backend)  # type: ignore[arg-type]
    return "" if isinstance(result, Drop) else result.text


def _rendering(page: GoldPage, main_content: bool) -> str:
    return minimal_html(decode_html(page.html, charset_from_content_type(page.content_type))[0], main_content)


def page_blocks(pages: Sequence[GoldPage]) -> list[Blocks]:
    """The blocks the default path scores on each page, from cached renderings."""
    rv = version("resiliparse")
    options = "".join(f"-{k}{int(v)}" for k, v in sorted(MAIN_CONTENT_OPTIONS.items()))
    main = cached_texts("main" + options, rv, pages, lambda p: _rendering(p, True))
    full = cached_texts("full", rv, pages, lambda p: _rendering(p, False))
    return [choose_blocks(parse_blocks(m), lambda f=f: parse_blocks(f)) for m, f in zip(main, full, strict=True)]


def held_out_default(
    pages: Sequence[GoldPage],
    blocks: Sequence[Blocks],
    log: Callable[[str], None],
    models: dict[tuple[str, ...], BlockModel] | None = None,
) -> dict[str, list[str]]:
    """Default-path output of every page from the model of the fold that held its source out;
    each fold's model is also stored in ``models`` (keyed by its sorted held-out sources)."""
    fit_pages = [FitPage(p, b) for p, b in zip(pages, blocks, strict=True)]

    def fit(train: list[int]) -> BlockModel:
        start = time.process_time()
        model = fit_block_model([fit_pages[i] for i in train])
        held = sorted({p.collection for p in pages} - {pages[i].collection for i in train})
        log(f"  fold without {'+'.join(held)}: fitted on {len(train)} pages in {time.process_time() - start:.0f} s")
        if models is not None:
            models[tuple(held)] = model
        return model

    def predict(model: BlockModel, idx: list[int]) -> list[str]:
        return [render_blocks(blocks[i], select_blocks(blocks[i], model.probabilities(blocks[i]), model)) for i in idx]

    return leave_one_source_out(by_source(pages), fit, predict)


def speeds(pages: Sequence[GoldPage], repeat: int) -> dict[str, float]:
    """MB/s (HTML MB per CPU second) of each backend's whole extract_page call, best pass."""
    megabytes = sum(len(p.html) for p in pages) / 1e6
    best: dict[str, float] = {}
    for _ in range(max(repeat, 1)):
        for name, backend in BACKENDS:
            start = time.process_time()
            for page in pages:
                page_text(page, backend)
            best[name] = min(best.get(name, float("inf")), time.process_time() - start)
    return {name: megabytes / max(s, 1e-9) for name, s in best.items()}


def run(pages: list[GoldPage], speed_pages: int, repeat: int, worst: int, tradeoff: bool = False) -> None:
    groups = by_source(pages)
    print(f"{len(pages)} gold pages: " + ", ".join(f"{s} {len(i)}" for s, i in groups.items()))
    print("folds (held out together): " + "; ".join("+".join(f) for f in folds(list(groups))))
    outputs: dict[str, list[str]] = {}
    for name, backend in BACKENDS[1:]:
        kind = "dclm" if backend == "resiliparse" else backend
        texts = cached_texts(kind, version(backend), pages, lambda p, b=backend: page_text(p, b))
        outputs[name] = [t.strip() for t in texts]
    print("leave-one-source-out fits:")
    blocks = page_blocks(pages)
    models: dict[tuple[str, ...], BlockModel] = {}
    held = held_out_default(pages, blocks, print, models)
    default = [""] * len(pages)
    for source, texts in held.items():
        for i, text in zip(groups[source], texts, strict=True):
            default[i] = text
    outputs[BACKENDS[0][0]] = default

    speed_sample = [pages[i] for idx in groups.values() for i in idx[:speed_pages]]
    mbs = speeds(speed_sample, repeat)
    print(
        f"\nspeed: {len(speed_sample)} pages ({speed_pages} per source), "
        f"{sum(len(p.html) for p in speed_sample) / 1e6:.1f} MB, best of {repeat} interleaved passes, one core"
    )
    print_table(pages, groups, outputs, mbs)
    print_worst(pages, groups, outputs, worst)
    if tradeoff:
        from extraction_tradeoff import run_tradeoff

        run_tradeoff(pages, blocks, models, outputs, speed_pages, repeat)


def print_table(pages: list[GoldPage], groups: dict[str, list[int]], outputs: dict[str, list[str]], mbs: dict[str, float]) -> None:
    names = [n for n, _ in BACKENDS]
    header = f"{'source':<16} {'pages':>5} | " + " | ".join(f"{n[:18]:^24}" for n in names) + " | default - traf"
    print("\n" + header)
    print(f"{'':<16} {'':>5} | " + " | ".join(f"{'P':>6} {'R':>6} {'F1':>6}   " for _ in names) + " | F1")
    print("-" * len(header))
    for source, idx in groups.items():
        subset = [pages[i] for i in idx]
        scores = {n: score_source(subset, [outputs[n][i] for i in idx]) for n in names}
        cells = " | ".join(f"{p:6.3f} {r:6.3f} {f:6.3f}   " for p, r, f in scores.values())
        print(f"{source:<16} {len(idx):5} | {cells} | {scores[names[0]][2] - scores['trafilatura'][2]:+.3f}")
    print("-" * len(header))
    traf = mbs["trafilatura"]
    print(f"{'MB/s':<16} {'':>5} | " + " | ".join(f"{mbs[n]:8.1f} MB/s ({mbs[n] / traf:4.1f}x traf)" for n in names))


def print_worst(pages: list[GoldPage], groups: dict[str, list[int]], outputs: dict[str, list[str]], worst: int) -> None:
    if worst <= 0:
        return
    print(f"\npages where the held-out default loses most to trafilatura ({worst} per source):")
    for source, idx in groups.items():
        gaps = []
        for i in idx:
            ours = page_score(pages[i], outputs[BACKENDS[0][0]][i])
            theirs = page_score(pages[i], outputs["trafilatura"][i])
            gaps.append((theirs - ours, ours, theirs, pages[i].url))
        gaps.sort(key=lambda g: -g[0])
        print(f"  {source}:")
        for gap, ours, theirs, url in gaps[:worst]:
            if gap <= 0:
                break
            print(f"    default {ours:.3f}  trafilatura {theirs:.3f}  {url}")
