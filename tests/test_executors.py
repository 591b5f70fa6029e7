"""The same recipe gives byte-identical outputs on the local and Ray executors.

One local Ray instance (num_cpus=2) is started for the whole module and every shipped
curation recipe is run on it and on the local process pool over the same real WARCs.
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


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


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
def test_recipe_is_identical_on_local_and_ray(recipe, ray_session, shared_data: Path, tmp_path: Path):
    inputs = [str(p) for p in sorted((shared_data / PAGES).glob("pages-*.warc.gz"))[:3]]
    assets = shared_data / "filters"
    local = Pipeline.from_recipe(recipe, assets=assets).run(
        inputs, tmp_path / "local", workers=2, keep_dropped=True)
    on_ray = Pipeline.from_recipe(recipe, assets=assets).run(
        inputs, tmp_path / "ray", executor="ray", keep_dropped=True)
    assert local.stats["totals"]["accounted"]
    assert local.stats["totals"] == on_ray.stats["totals"]
    assert _decisions(tmp_path / "local") == _decisions(tmp_path / "ray")
    digests = _digest(tmp_path / "local")
    assert digests == _digest(tmp_path / "ray")
    assert any(k.startswith("documents/") for k in digests)
