"""Shared test fixtures. Tests that need ../shared/data read it in place through `shared_data`.

With ``GRISTMILL_STRICT_TESTS=1`` (set by ``.ci/run``) a skipped test is a failure: in CI the
shared data, Ray, datatrove and every other test dependency must be there, so the suite can
never pass by skipping what it was meant to check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STRICT = os.environ.get("GRISTMILL_STRICT_TESTS") == "1"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared real data (../shared/data), read in place, never copied."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data is not beside this checkout (looked for {SHARED_DATA})")
    return SHARED_DATA


@pytest.fixture(scope="session")
def trained_run(shared_data, tmp_path_factory) -> Path:
    """A tiny model (cpu-micro, 30 steps on real Wikipedia and Stack Exchange text, 512-token
    BPE): a run folder with checkpoints, shared by every test that needs a trained model."""
    from gristmill.train.scales import get_scale
    from gristmill.train.trainer import TrainOptions, train
    from lm_corpus import build_corpus, one_thread, tokenize

    root = tmp_path_factory.mktemp("trained_run")
    corpus = build_corpus(shared_data, root, wiki_docs=120, forum_docs=60)
    tokens = tokenize(corpus, root / "tok", 128)
    with one_thread():
        train(get_scale("cpu-micro"), TrainOptions(data=str(tokens), out=str(root / "run"),
                                                   max_steps=30, quiet=True))
    return root / "run"


@pytest.fixture(scope="session")
def canary_run(shared_data, tmp_path_factory) -> Path:
    """A second tiny run (cpu-micro, 36 steps) on a smaller corpus cut into 4 chunks, with 2
    canaries planted 160 times each (a checkpoint after every chunk; so many copies because a
    2-layer, 64-wide model memorizes slowly): memorization and the report comparing two runs."""
    from gristmill.train.scales import get_scale
    from gristmill.train.trainer import TrainOptions, train
    from lm_corpus import build_corpus, one_thread, tokenize

    root = tmp_path_factory.mktemp("canary_run")
    corpus = build_corpus(shared_data, root, wiki_docs=40, forum_docs=20)
    tokens = tokenize(corpus, root / "tok", 128, "--chunks", "4", "--canaries", "2", "--canary-copies", "160")
    with one_thread():
        train(get_scale("cpu-micro"), TrainOptions(data=str(tokens), out=str(root / "run"), max_steps=36,
                                                   quiet=True))
    return root / "run"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under GRISTMILL_STRICT_TESTS=1, which forbids skips: {reason}"
