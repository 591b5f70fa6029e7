"""Connected components of a duplicate graph held as partitioned edge files.

No task ever sees the whole graph. Edges are stored in both directions, each directed pair
``(src, dst)`` in the partition of ``src``, so a partition holds the complete neighbourhood
of its nodes. Rounds alternate the *large-star* and *small-star* operations of Kiveris et al.
("Connected Components in MapReduce and Beyond", SoCC 2014), each round one executor map over
partitions reading the previous round's files and writing the next round's:

* large-star at node u with m = min(N(u) ∪ {u}): every neighbour v > u is relinked to m;
* small-star at node u with m = min({v in N(u): v < u} ∪ {u}): u and every smaller neighbour
  are relinked to m.

Both keep connectivity and both are the identity exactly when the graph is a forest of stars
each centred on its smallest node, which every partition checks on its input: when all agree,
each node's label is its component's smallest node id. With node ids in corpus order, that is
the first copy of each cluster. Rounds needed grow as O(log^2 n) (the paper), in practice a
handful.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.core.hashing import bucket_of, mix64
from gristmill.dedup.scratch import gather, node_record, node_shard, run_phase, save_arrays, scatter

_PARTITION_SEED = 0x434F4D50  # "COMP"
MAX_ROUNDS = 200


def partition_of(nodes: np.ndarray, parts: int) -> np.ndarray:
    """Partition of each node id (``int64``); stable across runs and executors."""
    return bucket_of(mix64(nodes, _PARTITION_SEED), parts)


def write_edges(out_dir: Path, tag: str, a: np.ndarray, b: np.ndarray, parts: int) -> int:
    """Write undirected edges {a_i, b_i} in both directions, split by partition of the source.

    Files are ``out_dir/to-<part>/<tag>.npz``; returns the number of directed pairs written.
    """
    a = np.asarray(a, dtype=np.uint64)
    b = np.asarray(b, dtype=np.uint64)
    keep = a != b
    src = np.concatenate([a[keep], b[keep]])
    dst = np.concatenate([b[keep], a[keep]])
    scatter(out_dir, tag, partition_of(src, parts), parts, src=src, dst=dst)
    return len(src)


def read_partition(in_dir: Path, part: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique directed pairs of one partition, sorted by (src, dst); self-loops removed."""
    cols = gather(in_dir, part, src=np.uint64, dst=np.uint64)
    src, dst = cols["src"], cols["dst"]
    if len(src) == 0:
        return src, dst
    keep = src != dst
    pairs = np.unique(np.stack([src[keep], dst[keep]], axis=1), axis=0)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def _group_min(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For pairs sorted by (src, dst): start index of each src group and its smallest dst."""
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]]) if len(src) else np.empty(0, np.int64)
    return starts, dst[starts]


def is_min_star_forest(src: np.ndarray, dst: np.ndarray) -> bool:
    """Whether these neighbourhoods are those of stars centred on their smallest node.

    Every node has at most one smaller neighbour, and a node with a smaller neighbour has no
    larger one.
    """
    if len(src) == 0:
        return True
    smaller = dst < src
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    n_smaller = np.add.reduceat(smaller.astype(np.int64), starts)
    n_larger = np.add.reduceat((~smaller).astype(np.int64), starts)
    return bool(np.all(n_smaller <= 1) and np.all((n_smaller == 0) | (n_larger == 0)))


def star_step(src: np.ndarray, dst: np.ndarray, large: bool) -> tuple[np.ndarray, np.ndarray]:
    """One large-star or small-star step over complete neighbourhoods sorted by (src, dst).

    Returns the new undirected edges as two arrays (self-loops possible; writers drop them).
    """
    if len(src) == 0:
        return src, dst
    if large:
        starts, first = _group_min(src, dst)
        group = np.cumsum(np.r_[False, src[1:] != src[:-1]])
        m = np.minimum(first, src[starts])[group]
        up = dst > src
        return dst[up], m[up]
    down = dst < src
    s, d = src[down], dst[down]
    if len(s) == 0:
        return s, d
    starts, first = _group_min(s, d)  # first = smallest smaller neighbour = m
    group = np.cumsum(np.r_[False, s[1:] != s[:-1]])
    m = first[group]
    return np.concatenate([d, s[starts]]), np.concatenate([m, first])


@dataclass(frozen=True)
class RoundTask:
    """One partition of one round."""

    part: int
    parts: int
    in_dir: str
    out_dir: str
    large: bool


def star_round(task: RoundTask) -> dict[str, Any]:
    """Check convergence of this partition's input, apply one step, write the next round."""
    src, dst = read_partition(Path(task.in_dir), task.part)
    converged = is_min_star_forest(src, dst)
    a, b = star_step(src, dst, task.large)
    pairs = write_edges(Path(task.out_dir), f"from-{task.part:05d}", a, b, task.parts)
    return {"converged": converged, "pairs_in": len(src), "pairs_out": pairs}


@dataclass(frozen=True)
class LabelTask:
    """Turn one partition of a converged round into per-shard removal decisions."""

    part: int
    in_dir: str
    out_dir: str


def label_partition(task: LabelTask) -> dict[str, Any]:
    """Write ``out_dir/shard-<s>/part-<p>.npz``: leaves of shard s (``drop_rec``, ``drop_dup``
    = their star centre) and the number of centres in shard s (``clusters``)."""
    src, dst = read_partition(Path(task.in_dir), task.part)
    leaf = dst < src
    leaves, roots = src[leaf], dst[leaf]
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]]) if len(src) else np.empty(0, np.int64)
    centres = src[starts][~np.isin(src[starts], leaves)] if len(src) else src
    leaf_shard = node_shard(leaves)
    centre_shard = node_shard(centres)
    for shard in np.union1d(leaf_shard, centre_shard).tolist():
        sel = leaf_shard == shard
        save_arrays(
            Path(task.out_dir) / f"shard-{shard:05d}" / f"part-{task.part:05d}.npz",
            drop_rec=node_record(leaves[sel]),
            drop_dup=roots[sel],
            clusters=np.int64(int(np.sum(centre_shard == shard))),
        )
    return {"leaves": len(leaves), "clusters": len(centres)}


def connected_components(
    executor: Any, root: Path, edges_dir: Path, parts: int, labels_dir: Path
) -> dict[str, int]:
    """Run star rounds from ``edges_dir`` until convergence, then write labels per shard.

    Resumable: each round is a phase of `run_phase` under ``root``.
    """
    names = [f"part-{p:05d}" for p in range(parts)]
    current = edges_dir
    for rnd in range(MAX_ROUNDS):
        nxt = root / f"round-{rnd + 1:03d}"
        tasks = [RoundTask(p, parts, str(current), str(nxt), large=rnd % 2 == 0) for p in range(parts)]
        results = run_phase(executor, root, f"round-{rnd:03d}", star_round, tasks, names)
        if all(r["converged"] for r in results):
            break
        current = nxt
    else:  # pragma: no cover - the algorithm converges long before
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    tasks_l = [LabelTask(p, str(current), str(labels_dir)) for p in range(parts)]
    results_l = run_phase(executor, root, "labels", label_partition, tasks_l, names)
    return {
        "rounds": rnd + 1,
        "clusters": sum(r["clusters"] for r in results_l),
        "duplicates": sum(r["leaves"] for r in results_l),
    }
