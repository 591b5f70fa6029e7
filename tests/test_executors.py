"""The same recipe gives byte-identical outputs on the local and Ray executors.

Every shipped curation recipe is run on the suite's local Ray instance (``ray_local``, 2
CPUs) and on the local process pool over the same real WARCs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from gristmill import Pipeline

pytestmark = pytest.mark.ray
RECIPES = ("raw", "refinedweb", "c4", "fineweb")
PAGES = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc"


def _digest(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*.jsonl.zst"))
        if ".state" not in p.parts
    }


def _decisions(run_dir: Path) -> list[dict]:
    steps = orjson.loads((run_dir / "stats.json").read_bytes())["steps"]
    return [{k: v for k, v in s.items() if k != "seconds"} for s in steps]


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_is_identical_on_local_and_ray(recipe, ray_local, local_recipe_run, three_warcs, shared_data: Path,
                                              tmp_path: Path):
    local, local_dir = local_recipe_run(recipe)
    on_ray = Pipeline.from_recipe(recipe, assets=shared_data / "filters").run(
        three_warcs, tmp_path / "ray", executor="ray", keep_dropped=True)
    assert local.stats["totals"]["accounted"]
    assert local.stats["totals"] == on_ray.stats["totals"]
    assert _decisions(local_dir) == _decisions(tmp_path / "ray")
    digests = _digest(local_dir)
    assert digests == _digest(tmp_path / "ray")
    assert any(k.startswith("documents/") for k in digests)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_pool_workers_exit_when_the_driver_is_killed():
    """A run killed with SIGKILL must not leave its local pool workers behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    driver = subprocess.Popen([
        sys.executable, "-c",
        "import time; from gristmill.engine.executors import LocalExecutor;"
        "LocalExecutor(2).map(time.sleep, [60.0, 60.0])",
    ])
    try:
        deadline = time.monotonic() + 60
        workers: set[int] = set()
        while time.monotonic() < deadline:
            # the resource tracker is a child too; the workers are the ones running spawn_main
            workers = {p for p in _children(driver.pid)
                       if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()}
            if len(workers) == 2:
                break
            time.sleep(0.1)
        assert len(workers) == 2
        time.sleep(1.0)  # let the workers take their tasks
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
            time.sleep(0.1)
        alive = [p for p in workers if Path(f"/proc/{p}").exists()
                 and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]
        for p in alive:
            os.kill(p, signal.SIGKILL)
        assert not alive, f"pool workers {alive} outlived their killed driver"
    finally:
        if driver.poll() is None:
            driver.kill()


def test_unreachable_ray_address_is_a_one_line_user_error(tmp_path: Path, capsys):
    from gristmill.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "one document"}\n')
    with socket_bound_but_not_listening() as address:
        code = main(["run", "raw", "--input", str(source), "--output", str(tmp_path / "out"),
                     "--executor", "ray", "--ray-address", address])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach Ray" in err[0] and address in err[0]


def socket_bound_but_not_listening():
    """A loopback host:port that refuses connections (bound, never listening)."""
    import contextlib
    import socket

    @contextlib.contextmanager
    def bound():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            yield f"127.0.0.1:{sock.getsockname()[1]}"

    return bound()
