"""Shared test fixtures. Tests that need ../shared/data read it in place through `shared_data`.

With ``GRISTMILL_STRICT_TESTS=1`` (set by ``.ci/run``) a skipped test is a failure: in CI the
shared data, Ray, datatrove and every other test dependency must be there, so the suite can
never pass by skipping what it was meant to check.

Ray starts once for the suite (``ray_local``), not once per module: the modules whose tests
use it run last and one after another, then the multi-node cluster test (its own cluster),
and Ray is shut down after the last test that needs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# torch, numpy's BLAS and every process the tests start (CLI runs, pool workers, Ray) compute on
# one thread: the models and arrays here are tiny, and OpenMP threads spinning at barriers on a
# shared 2-core machine cost twice the CPU for no gain (the memorization analysis: 15 s of CPU
# on two threads, 6.5 s on one). Set before any test module imports torch; CI may override it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Ray started by a test (or by a CLI run a test starts) is its own local instance, never a
# cluster another test run on this machine happens to have open (ray.cluster_utils.Cluster
# advertises itself in /tmp/ray/ray_current_cluster, where a bare ray.init() would join it).
os.environ.setdefault("RAY_ADDRESS", "local")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STRICT = os.environ.get("GRISTMILL_STRICT_TESTS") == "1"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared real data (../shared/data), read in place, never copied."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data is not beside this checkout (looked for {SHARED_DATA})")
    return SHARED_DATA


@pytest.fixture(scope="session")
def micro_tokens(shared_data, tmp_path_factory) -> Path:
    """A token folder (128-token rows) of 120 Wikipedia articles and 60 Stack Exchange threads
    with a 512-token BPE trained on them; read only, by the tests that train on it."""
    from lm_corpus import build_corpus, tokenize

    root = tmp_path_factory.mktemp("micro_tokens")
    corpus = build_corpus(shared_data, root, wiki_docs=120, forum_docs=60)
    return tokenize(corpus, root / "tok", 128)


@pytest.fixture(scope="session")
def trained_run(micro_tokens) -> Path:
    """A tiny model (cpu-micro, 30 steps on `micro_tokens`): a run folder with checkpoints,
    shared by every test that needs a trained model. It lies beside the token folder, its
    documents (``docs/``) and its BPE (``bpe512.json``)."""
    from gristmill.train.scales import get_scale
    from gristmill.train.trainer import TrainOptions, train
    from lm_corpus import one_thread

    run = micro_tokens.parent / "run"
    with one_thread():
        train(get_scale("cpu-micro"), TrainOptions(data=str(micro_tokens), out=str(run), max_steps=30, quiet=True))
    return run


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


@pytest.fixture(scope="session")
def canary_memorization(canary_run) -> dict:
    """`gristmill analyze memorization` of `canary_run` (16 rows a chunk), written into the run
    (its report shows it) and returned as read back from there."""
    import json

    from gristmill.cli import main
    from gristmill.evaluate.memorization import OUTPUT

    assert main(["analyze", "memorization", str(canary_run), "--samples", "16", "-q"]) == 0
    return json.loads((canary_run / OUTPUT).read_text())


@pytest.fixture(scope="session")
def near_duplicates(shared_data, tmp_path_factory):
    """The dedup tests' near-duplicate set (`dedup_corpus.near_duplicate_set`): labelled
    documents and four .jsonl.zst shards, read only."""
    from dedup_corpus import near_duplicate_set

    return near_duplicate_set(shared_data, tmp_path_factory.mktemp("near-duplicates"))


@pytest.fixture(scope="session")
def three_warcs(shared_data) -> list[str]:
    """The first three PAGES-2026 WARC files (100 records each)."""
    from test_executors import PAGES

    return [str(p) for p in sorted((shared_data / PAGES).glob("pages-*.warc.gz"))[:3]]


@pytest.fixture(scope="session")
def local_recipe_run(shared_data, three_warcs, tmp_path_factory):
    """``run(recipe)``: the shipped recipe run on the local executor (2 workers, dropped
    documents kept) over `three_warcs`, once per recipe for the session; the Ray tests
    compare their output with it. Returns (result, run folder)."""
    from gristmill.engine.pipeline import Pipeline

    runs: dict[str, tuple] = {}

    def run(recipe: str):
        if recipe not in runs:
            out = tmp_path_factory.mktemp(f"local-{recipe}") / "run"
            result = Pipeline.from_recipe(recipe, assets=shared_data / "filters").run(
                three_warcs, out, workers=2, keep_dropped=True)
            runs[recipe] = (result, out)
        return runs[recipe]

    return run


# Modules run last, in this order: those using the shared local Ray, then the one that starts
# a cluster of its own (a process has one Ray session at a time).
RAY_CLUSTER_MODULE = "test_ray_cluster.py"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Group whole modules (module fixtures stay set up once) so Ray starts once."""
    ray_modules = {item.path for item in items if "ray_local" in getattr(item, "fixturenames", ())}

    def group(item: pytest.Item) -> int:
        return 2 if item.path.name == RAY_CLUSTER_MODULE else int(item.path in ray_modules)

    items.sort(key=group)  # stable: the order inside each group is kept


@pytest.fixture(scope="session")
def _ray_shutdown_at_exit():
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def ray_local(request: pytest.FixtureRequest, _ray_shutdown_at_exit):
    """A local Ray instance (2 CPUs) shared by the tests that use it: started on first use
    (about 10 s with its workers' imports on a loaded 2-core machine) and shut down after the
    last test that asks for it."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    items = request.session.items
    later = items[items.index(request.node) + 1:] if request.node in items else []
    if not any("ray_local" in getattr(item, "fixturenames", ()) for item in later):
        request.addfinalizer(ray.shutdown)
    return ray


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under GRISTMILL_STRICT_TESTS=1, which forbids skips: {reason}"
