"""Benchmark: BFF with one global filter spread over Ray actors, on one node and on a local
three-node cluster, at two n-gram batch sizes.

Input: the near-duplicate set of `benchmarks/dedup.py` (real pages and Wikipedia articles,
with planted copies). For each layout (one Ray node with 3 CPUs; three nodes of one CPU each,
started with ``ray.cluster_utils.Cluster`` on this machine) and each ``batch_ngrams``, the
recipe ``[bff_dedup]`` runs through the pipeline and the filter pass reports how many actor
calls (round trips: one ``contains`` and one ``add`` per actor per batch) it made for how many
n-grams. Printed side by side: seconds of the whole dedup, n-grams/s of the filter pass,
round trips per million n-grams, and the output digest, which must not change with the layout
(for one batch size). The batch size may change it slightly: n-grams seen earlier in the same
batch are matched exactly, across batches through the Bloom filter with its false positives,
so a few ``bff_contained_ngram_count_before_dedupe`` counts move by one.

Run: ``python benchmarks/ray_cluster.py [--wiki N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup import build_set
from gristmill.engine.pipeline import Pipeline

ACTORS = 3
BATCHES = (16384, 131072)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.jsonl.zst")):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def run_layout(name: str, files: list[str], work: Path) -> list[dict]:
    # Warm-up: start the workers and actors once, so no layout pays Ray's start-up in its time.
    Pipeline.from_steps([{"bff_dedup": {"actors": ACTORS}}]).run(files[:1], work / f"{name}-warm",
                                                                  executor="ray")
    rows = []
    for batch in BATCHES:
        out = work / f"{name}-{batch}"
        started = time.perf_counter()
        Pipeline.from_steps([{"bff_dedup": {"batch_ngrams": batch, "actors": ACTORS}}]).run(
            files, out, executor="ray", keep_work=True)
        seconds = time.perf_counter() - started
        [marker] = out.glob(".state/stage-*/work/bff_dedup/filter/*.done.json")
        m = orjson.loads(marker.read_bytes())
        rows.append({"layout": name, "batch_ngrams": batch, "seconds": seconds,
                     "filter_seconds": m["seconds"], "ngrams": m["ngrams_probed"],
                     "calls": m["actor_calls"], "digest": _digest(out / "documents")})
    return rows


def main() -> int:
    import ray
    from ray.cluster_utils import Cluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wiki", type=int, default=1500, help="Wikipedia articles in the set")
    args = parser.parse_args()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _, shards = build_set(args.wiki, work / "set")
        files = [str(p) for _, p in shards]
        ray.init(num_cpus=ACTORS, include_dashboard=False, log_to_driver=False)
        rows += run_layout("1 node x 3 CPU", files, work)
        ray.shutdown()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(ACTORS - 1):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        cluster.wait_for_nodes()
        rows += run_layout("3 nodes x 1 CPU", files, work)
        ray.shutdown()
        cluster.shutdown()
    base = rows[0]["seconds"]
    print(f"BFF, one global filter over {ACTORS} actors ({rows[0]['ngrams']:,} n-grams probed)")
    print(f"{'layout':<17} {'batch':>7} {'dedup s':>8} {'x 1-node':>8} {'filter Mngram/s':>15} "
          f"{'round trips/M ngrams':>20} {'digest':>13}")
    for r in rows:
        per_m = r["calls"] / (r["ngrams"] / 1e6)
        rate = r["ngrams"] / r["filter_seconds"] / 1e6
        print(f"{r['layout']:<17} {r['batch_ngrams']:>7} {r['seconds']:>8.1f} "
              f"{r['seconds'] / base:>8.2f} {rate:>15.2f} {per_m:>20.0f} {r['digest']:>13}")
    for batch in BATCHES:
        if len({r["digest"] for r in rows if r["batch_ngrams"] == batch}) != 1:
            print(f"ERROR: outputs differ across layouts at batch_ngrams={batch}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
