"""Multi-node Ray on one machine: a local cluster of three nodes (``ray.cluster_utils.Cluster``,
one CPU each) runs a filter recipe ending in BFF dedup (one global filter, its blocks spread
over actors on the nodes) and MinHash, byte-identical to the local executor; a node lost in
the middle of a stage fails the run with a one-line message or is retried, and a rerun
completes with the same output."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import orjson
import pytest

from dedup_corpus import folder_bytes
from gristmill.core.document import Document
from gristmill.core.errors import GristmillError
from gristmill.core.step import Step
from gristmill.engine.pipeline import Pipeline
from test_executors import _decisions, _digest

pytestmark = pytest.mark.ray
NODES = 3


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # the suite's local Ray (`ray_local`): one session per process
        ray.shutdown()
    # Workers are started by the raylets, which inherit this environment: the tests folder
    # must be importable there for the slow step below.
    tests_dir = str(Path(__file__).parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (tests_dir, old) if p)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [c.add_node(num_cpus=1) for _ in range(NODES - 1)]
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    c.wait_for_nodes()
    assert len([n for n in ray.nodes() if n["Alive"]]) == NODES
    yield c, workers
    ray.shutdown()
    c.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def test_filters_and_global_bff_on_three_nodes_equal_local(cluster, three_warcs, local_recipe_run, shared_data,
                                                           tmp_path):
    local, local_dir = local_recipe_run("refinedweb")  # the same run test_executors compares with
    multi = Pipeline.from_recipe("refinedweb", assets=shared_data / "filters").run(
        three_warcs, tmp_path / "multi", executor="ray", keep_work=True, keep_dropped=True)
    assert local.stats["totals"] == multi.stats["totals"] and local.stats["totals"]["accounted"]
    assert _decisions(local_dir) == _decisions(tmp_path / "multi")
    assert _digest(local_dir) == _digest(tmp_path / "multi")
    # BFF ran as one filter spread over actors (one per node), not as a task of its own.
    [marker] = (tmp_path / "multi" / ".state").glob("stage-*/work/bff_dedup/filter/*.done.json")
    filter_pass = orjson.loads(marker.read_bytes())
    assert filter_pass["actors"] == NODES and filter_pass["actor_calls"] > 0


def test_minhash_on_three_nodes_equals_local(cluster, near_duplicates, tmp_path):
    _, shards = near_duplicates
    files = [str(p) for _, p in shards]
    steps = [{"minhash_dedup": {"verify": True}}]
    local = Pipeline.from_steps(steps).run(files, tmp_path / "local", workers=2, keep_dropped=True)
    multi = Pipeline.from_steps(steps).run(files, tmp_path / "multi", executor="ray",
                                           keep_dropped=True)
    assert local.stats["totals"] == multi.stats["totals"] and local.stats["totals"]["dropped"] > 0
    assert folder_bytes(tmp_path / "local" / "documents") == folder_bytes(tmp_path / "multi" / "documents")
    assert folder_bytes(tmp_path / "local" / "dropped") == folder_bytes(tmp_path / "multi" / "dropped")


class SlowStep(Step):
    """Passes documents through, slowly: a stage long enough to lose a node in."""

    kind = "modifier"

    def __init__(self, *, seconds: float = 0.02) -> None: ...

    def apply(self, doc: Document) -> Document:
        time.sleep(self.config["seconds"])
        return doc


def test_a_lost_node_fails_cleanly_or_is_retried_and_a_rerun_completes(cluster, three_warcs, tmp_path):
    c, workers = cluster
    steps = [{"extract_text": {}}, SlowStep(seconds=0.05)]
    # The same steps without the delay (it passes documents through): the same output, 15 s sooner.
    reference = Pipeline.from_steps([steps[0], SlowStep(seconds=0.0)]).run(three_warcs, tmp_path / "local",
                                                                           workers=1)
    out = tmp_path / "multi"
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = Pipeline.from_steps(steps).run(three_warcs, out, executor="ray")
        except GristmillError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / ".state").is_dir():
        time.sleep(0.05)
    time.sleep(1.0)  # the stage is running on every node
    c.remove_node(workers[-1])  # its raylet and workers die
    thread.join(timeout=600)
    assert not thread.is_alive()
    if "error" in outcome:
        message = str(outcome["error"])
        assert "\n" not in message and "rerun" in message
    rerun = Pipeline.from_steps(steps).run(three_warcs, out, executor="ray")
    assert rerun.stats["totals"] == reference.stats["totals"]
    assert _digest(out) == _digest(tmp_path / "local")
    assert not list((out / "documents").glob(".*"))  # nothing half-written left in place
