"""Gold sources, leave-one-source-out and the shipped block model's provenance."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gristmill.extract.block_model import load_model, read_model_file
from gristmill.extract.cleanup import (
    EXPANDED_NAMES,
    main_content_blocks,
    render_blocks,
    select_blocks,
)
from gristmill.extract.evaluation import word_prf
from gristmill.extract.fit import FitPage, _PageScorer, fit_block_model
from gristmill.extract.gold import SOURCES, GoldPage
from gristmill.extract.gold_archive import load_archive, normalize_gold
from gristmill.extract.loso import (
    by_source,
    folds,
    leave_one_source_out,
    load_gold_sources,
    score_source,
)
from gristmill.extract.page import Extraction, extract_page

PER_SOURCE = 24  # pages of each source in the leave-one-source-out slice


def _text(page: GoldPage, backend: str) -> str:
    result = extract_page(page.html, content_type=page.content_type, url=page.url, backend=backend)
    return result.text if isinstance(result, Extraction) else ""


@pytest.fixture(scope="module")
def archive(shared_data: Path) -> list[GoldPage]:
    return load_archive(shared_data)


@pytest.fixture(scope="module")
def all_pages(shared_data: Path) -> list[GoldPage]:
    return load_gold_sources(shared_data)


# --- gold normalisation -----------------------------------------------------------------------


def test_cleaneval_markup_is_removed_for_scoring():
    raw = (
        "URL: http://example.org/a\n\n<h>  Title line\n<p>First &amp; second &#039;quoted&#039;\n"
        "<l>   * bullet item\n<l>  1. numbered\nAT&T stays\n"
    )
    assert normalize_gold(raw).split("\n") == [
        "Title line",
        "First & second 'quoted'",
        " bullet item",
        "  1. numbered",
        "AT&T stays",
    ]
    # Dragnet-style plain text is unchanged apart from line ends and outer blanks.
    assert normalize_gold("\r\nplain text\r\nsecond line\r\n") == "plain text\nsecond line"


def test_archive_gold_joins_every_page(archive):
    counts = Counter(p.collection for p in archive)
    # archive-gold.jsonl.gz: CleanEval 738, CleanPortalEval 71, Dragnet 570 (../shared/data/README.md);
    # 7 CleanEval and 1 CleanPortalEval gold files hold only the "URL:" header line, so they
    # are skipped, and every other gold page has its HTML in the WARC mirror.
    assert counts == {"cleaneval": 731, "cleanportaleval": 70, "dragnet": 570}
    for page in archive:
        gold = page.main_content or ""
        assert gold and page.html
        assert not gold.startswith("URL:")
        assert "\n<p>" not in gold and "\n<h>" not in gold and "\n<l>" not in gold
    cpe = " ".join(p.main_content or "" for p in archive if p.collection == "cleanportaleval")
    assert "&#039;" not in cpe and "'" in cpe
    # The HTTP charset of the envelope reaches the decoder: legacy pages are declared.
    assert sum("iso-8859-1" in p.content_type for p in archive) > 100


# --- leave-one-source-out -----------------------------------------------------------------------


def test_folds_hold_cleaneval_and_cleanportaleval_out_together():
    assert folds() == [("wceb",), ("trafilatura",), ("cleaneval", "cleanportaleval"), ("dragnet",)]
    assert folds(["wceb", "cleanportaleval"]) == [("wceb",), ("cleanportaleval",)]


def test_snippet_scores_are_trafilaturas_pooled_counts():
    page = GoldPage("trafilatura", "k", "u", b"", None, ("keep this", "and this"), ("menu",))
    # tp 1, fn 1, fp 1: precision 1/2, recall 1/2, F1 2/(2+1+1)
    assert score_source([page], ["keep this | menu"]) == (0.5, 0.5, 0.5)


@pytest.fixture(scope="module")
def loso_slice(all_pages) -> tuple[list[GoldPage], list[FitPage]]:
    groups = by_source(all_pages)
    pages = [all_pages[i] for idx in groups.values() for i in idx[:PER_SOURCE]]
    return pages, [FitPage(p, main_content_blocks(_text_html(p))) for p in pages]


def _text_html(page: GoldPage) -> str:
    from gristmill.extract.charset import charset_from_content_type, decode_html

    return decode_html(page.html, charset_from_content_type(page.content_type))[0]


def test_leave_one_source_out_never_fits_on_the_scored_source(loso_slice):
    pages, fit_pages = loso_slice
    trained_on: list[set[str]] = []

    def fit(train: list[int]):
        trained_on.append({pages[i].collection for i in train})
        return fit_block_model([fit_pages[i] for i in train])

    def predict(model, idx: list[int]) -> list[str]:
        return [render_blocks(b, select_blocks(b, model.probabilities(b), model)) for b in (fit_pages[i].blocks for i in idx)]

    out = leave_one_source_out(by_source(pages), fit, predict)
    assert trained_on == [set(SOURCES) - set(held) for held in folds()]
    held_out, dclm = {}, {}
    for source, idx in by_source(pages).items():
        subset = [pages[i] for i in idx]
        held_out[source] = score_source(subset, out[source])
        dclm[source] = score_source(subset, [_text(p, "resiliparse") for p in subset])
    print({s: (round(held_out[s][2], 3), round(dclm[s][2], 3)) for s in held_out})
    # Fitted on a few dozen pages of the other sources, the default still removes boilerplate
    # that DCLM's resiliparse setting keeps on every held-out source (precision), and is at
    # least as accurate on average over sources. (Per source, F1 on 24 pages of a model fitted
    # on ~90 pages is noisy; benchmarks/extraction.py --by-source gives the full-fold figures.)
    for source in held_out:
        assert held_out[source][0] > dclm[source][0], (source, held_out[source], dclm[source])
    assert np.mean([v[2] for v in held_out.values()]) >= np.mean([v[2] for v in dclm.values()])


def test_threshold_search_scores_equal_rendered_word_f1(loso_slice):
    _, fit_pages = loso_slice
    model = load_model()
    for fit_page in fit_pages:
        if fit_page.page.main_content is None:
            continue
        blocks = fit_page.blocks
        keep = select_blocks(blocks, model.probabilities(blocks), model)
        expected = word_prf(render_blocks(blocks, keep), fit_page.page.main_content)[2]
        assert _PageScorer(fit_page)(keep) == pytest.approx(expected, abs=1e-12)


# --- the shipped model ----------------------------------------------------------------------------


def test_shipped_model_records_what_it_was_fitted_on(all_pages):
    from gristmill.extract import cleanup, fit
    from gristmill.extract.loso import pages_digest

    record = read_model_file()
    assert tuple(record["features"]) == EXPANDED_NAMES
    prov = record["provenance"]
    counts = Counter(p.collection for p in all_pages)
    assert {s: v["pages"] for s, v in prov["fitted_on"].items()} == dict(counts)
    assert set(prov["fitted_on"]) == set(SOURCES)
    assert prov["pages_sha256"] == pages_digest(all_pages)
    settings = prov["settings"]
    assert settings["l2_penalty"] == fit.L2_PENALTY
    assert settings["fallback_max_words"] == cleanup.FALLBACK_MAX_WORDS
    assert settings["main_content_options"] == cleanup.MAIN_CONTENT_OPTIONS
    assert record["region_threshold"] in settings["region_grid"]
    assert record["keep_threshold"] in settings["keep_grid"]
    assert len(prov["code_version"]["git_commit"]) >= 40
    assert prov["date"][:2] == "20"
    model = load_model()
    assert len(model.coef) == len(EXPANDED_NAMES) and np.isfinite(model.coef).all()


def test_shipped_router_records_what_it_was_fitted_on(all_pages):
    import hashlib
    from importlib import resources

    from gristmill.extract import fit_fallback
    from gristmill.extract.block_model import MODEL_FILE
    from gristmill.extract.fallback import SIGNAL_NAMES, load_router, read_router_file
    from gristmill.extract.loso import pages_digest

    record = read_router_file()
    prov = record["provenance"]
    assert tuple(record["signals"]) == SIGNAL_NAMES
    assert prov["fitted_on"] == dict(Counter(p.collection for p in all_pages))
    assert prov["pages_sha256"] == pages_digest(all_pages)
    # It routes on the shipped block model's output: a refitted block model needs a refitted router.
    model_bytes = resources.files("gristmill.extract").joinpath(MODEL_FILE).read_bytes()
    assert prov["block_model_sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert prov["settings"]["router_l2"] == fit_fallback.ROUTER_L2
    assert prov["settings"]["min_ratio_grid"] == list(fit_fallback.MIN_RATIO_GRID)
    assert record["min_ratio"] in fit_fallback.MIN_RATIO_GRID
    router = load_router()
    assert (np.diff(router.cutoffs) <= 0).all()
    assert len(prov["code_version"]["git_commit"]) >= 40


def test_a_model_file_of_other_features_is_refused(tmp_path):
    import json

    record = read_model_file()
    record["features"] = [*record["features"][:-1], "something_else"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(ValueError, match="refit"):
        load_model(path)


def test_default_beats_resiliparse_on_each_archive_source(archive):
    # The shipped model saw these pages (it is fitted on all sources); the held-out check
    # is the leave-one-source-out test above and benchmarks/extraction.py --by-source.
    groups = by_source(archive)
    for source, idx in groups.items():
        subset = [archive[i] for i in idx[:40]]
        default = score_source(subset, [_text(p, "cleaned") for p in subset])
        dclm = score_source(subset, [_text(p, "resiliparse") for p in subset])
        assert default[2] >= dclm[2], (source, default, dclm)
