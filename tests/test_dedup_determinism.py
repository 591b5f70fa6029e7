"""Same bytes out whatever the executor, worker count or interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from dedup_corpus import folder_bytes, run_step
from gristmill.engine.executors import LocalExecutor

METHODS = [
    ("exact_dedup", {"key": "lines"}),
    ("bff_dedup", {}),
    ("bff_dedup", {"shards": 2, "expected_ngrams": 300_000}),
    ("minhash_dedup", {"verify": True}),
]


@pytest.fixture(scope="module")
def corpus(near_duplicates):
    return near_duplicates


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """Outputs of every method on one local worker."""
    _, inputs = corpus
    root = tmp_path_factory.mktemp("reference")
    out = {}
    for i, (name, kwargs) in enumerate(METHODS):
        run_step(name, kwargs, inputs, root / str(i))
        out[i] = folder_bytes(root / str(i))
    return out


def test_outputs_are_byte_identical_for_one_two_and_three_workers(corpus, reference, tmp_path):
    _, inputs = corpus
    # minhash (most phases) on 2 workers; BFF with 2 dedup shards and a planned size: one
    # worker hashes inside the filter tasks, three workers hash in a separate parallel phase.
    for i, workers in ((3, 2), (2, 3), (2, 1)):
        name, kwargs = METHODS[i]
        run_step(name, kwargs, inputs, tmp_path / f"{i}-{workers}", executor=LocalExecutor(workers))
        assert folder_bytes(tmp_path / f"{i}-{workers}") == reference[i], (name, kwargs, workers)
    assert any(reference[i] for i in reference)


def test_a_rerun_reuses_finished_phases_and_changes_nothing(corpus, reference, tmp_path):
    _, inputs = corpus
    name, kwargs = METHODS[3]
    run_step(name, kwargs, inputs, tmp_path)
    markers = sorted((tmp_path / "work").rglob("*.done.json"))
    assert markers
    stamp = {p: p.stat().st_mtime_ns for p in markers}
    run_step(name, kwargs, inputs, tmp_path)
    assert {p: p.stat().st_mtime_ns for p in markers} == stamp  # nothing recomputed
    assert folder_bytes(tmp_path) == reference[3]
    # A different config never resumes from the old scratch files.
    run_step(name, {**kwargs, "threshold": 0.5}, inputs, tmp_path)
    assert folder_bytes(tmp_path) != reference[3]


def test_a_killed_run_resumes_to_identical_output(corpus, tmp_path):
    _, inputs = corpus
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gristmill", "dedup", "--method", "minhash", "--workers", "1",
           "--keep-dropped", "--quiet", "--output", str(out), "--input", *(str(p) for _, p in inputs)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Kill it as soon as the first shard has its signatures: mid-job, scratch half written.
    marker_dir = out / ".state" / "stage-1" / "work" / "minhash_dedup" / "signatures"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if marker_dir.is_dir() and any(marker_dir.glob("*.done.json")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
    assert not (out / "stats.json").exists()
    done = len(list(marker_dir.glob("*.done.json")))
    assert 1 <= done < len(inputs)
    # Resume.
    resumed = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr.decode()
    # A clean run elsewhere gives the same documents and dropped files.
    clean = tmp_path / "clean"
    clean_cmd = [*cmd[: cmd.index("--output")], "--output", str(clean), "--input", *(str(p) for _, p in inputs)]
    assert subprocess.run(clean_cmd, env=env, capture_output=True, timeout=120).returncode == 0
    for sub in ("documents", "dropped"):
        assert folder_bytes(out / sub) == folder_bytes(clean / sub)
        assert folder_bytes(out / sub)  # something was written
    assert not list((out / ".state").rglob("work"))


@pytest.mark.ray
def test_ray_executor_gives_the_local_bytes(corpus, reference, ray_local, tmp_path):
    from gristmill.engine.executors import make_executor

    _, inputs = corpus
    executor = make_executor("ray", 2)
    for i, (name, kwargs) in enumerate(METHODS):
        # bff_dedup with one dedup shard runs its filter on Ray actors.
        run_step(name, kwargs, inputs, tmp_path / str(i), executor=executor)
        assert folder_bytes(tmp_path / str(i)) == reference[i], (name, kwargs)
    executor.close()
    assert ray_local.is_initialized()  # closing an executor leaves a Ray it did not start
    marker = orjson.loads(next((tmp_path / "1" / "work" / "bff_dedup" / "filter").glob("*.done.json")).read_bytes())
    assert marker["actors"] == 2  # the global filter lived in two Ray actors
