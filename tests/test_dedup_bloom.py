"""The Bloom filter, DCLM's sizing rule and the memory planner (library and CLI)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from gristmill.cli import main
from gristmill.dedup.bloom import BloomFilter, split_by_owner
from gristmill.dedup.plan import (
    dclm_bloom_bytes,
    false_positive_rate,
    lsh_error_areas,
    ngrams_for_bytes,
    optimal_hashers,
    plan_bloom,
    solve_bands,
)


def test_dclm_sizing_matches_the_paper_and_is_minimal():
    # DCLM issue #71: 1e9 n-grams at 0.01 -> about 1.1 GiB; paper: k = 7 at eps = 0.01.
    size = dclm_bloom_bytes(10**9, 0.01)
    assert 1.10 < size / 2**30 < 1.13
    assert optimal_hashers(size, 10**9) == 7
    assert false_positive_rate(size, 10**9, 7) <= 0.01
    smaller = int(size * 0.99)
    assert false_positive_rate(smaller, 10**9, optimal_hashers(smaller, 10**9)) > 0.01


@pytest.mark.parametrize(("expected", "rate", "blocks"), [(1_000, 0.01, 64), (250_000, 0.01, 8), (77_777, 0.001, 3)])
def test_planner_estimate_is_exactly_what_the_filter_allocates(expected, rate, blocks):
    plan = plan_bloom(expected, rate, blocks)
    assert BloomFilter(plan).nbytes == plan.allocated_bytes
    # Rounding up to whole 64-bit words per block is all that is added to DCLM's size.
    assert plan.theoretical_bytes <= plan.allocated_bytes < plan.theoretical_bytes + 8 * blocks
    owned = [BloomFilter(plan, owners=3, rank=r).nbytes for r in range(3)]
    assert sum(owned) == plan.allocated_bytes


def test_cli_plan_prints_the_bytes_the_filter_allocates(capsys):
    assert main(["dedup", "plan", "--ngrams", "2e6", "--fp-rate", "0.01", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    plan = plan_bloom(2_000_000, 0.01)
    assert out["per_shard"]["allocated_bytes"] == BloomFilter(plan).nbytes == out["total_allocated_bytes"]
    assert main(["dedup", "plan", "--bytes", "1GB", "--shards", "4", "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    per_shard = plan_bloom(-(-ngrams_for_bytes(10**9) // 4), 0.01)
    assert out["per_shard"]["allocated_bytes"] == per_shard.allocated_bytes
    assert out["total_allocated_bytes"] == 4 * per_shard.allocated_bytes
    assert main(["dedup", "plan", "--ngrams", "1e9"]) == 0
    assert "1.1 GiB" in capsys.readouterr().out
    assert main(["dedup", "plan", "--ngrams", "1e9", "--bytes", "1GB"]) == 2
    assert "exactly one" in capsys.readouterr().err


def test_filter_meets_its_false_positive_rate_and_never_misses():
    rng = np.random.default_rng(0)
    plan = plan_bloom(200_000, 0.01, 16)
    bloom = BloomFilter(plan, seed=5)
    members = rng.integers(0, 2**64, 200_000, dtype=np.uint64)
    bloom.add(members)
    assert bloom.contains(members).all()
    others = rng.integers(0, 2**64, 200_000, dtype=np.uint64)
    assert bloom.contains(others).mean() < 0.0125  # target 0.01; binomial noise is ~0.0002
    assert 0.45 < bloom.fill_ratio() < 0.55  # optimal k leaves about half the bits set


def test_partitioned_filter_answers_exactly_like_one_filter():
    rng = np.random.default_rng(1)
    plan = plan_bloom(50_000, 0.01, 8)
    whole = BloomFilter(plan, seed=2)
    parts = [BloomFilter(plan, seed=2, owners=3, rank=r) for r in range(3)]
    members = rng.integers(0, 2**64, 60_000, dtype=np.uint64)
    probes = np.concatenate([members[:1000], rng.integers(0, 2**64, 50_000, dtype=np.uint64)])
    whole.add(members)
    for r, idx in enumerate(split_by_owner(members, plan, 2, 3)):
        parts[r].add(members[idx])
    answer = np.empty(len(probes), dtype=bool)
    for r, idx in enumerate(split_by_owner(probes, plan, 2, 3)):
        answer[idx] = parts[r].contains(probes[idx])
    assert np.array_equal(answer, whole.contains(probes))
    with pytest.raises(ValueError, match="does not own"):
        parts[0].contains(members)


def test_band_solver_balances_false_positives_and_negatives():
    bands, rows = solve_bands(128, 0.8)
    assert bands * rows <= 128
    fp, fn = lsh_error_areas(0.8, bands, rows)
    for b, r in [(14, 8), (16, 8), (4, 32), (128, 1)]:
        other_fp, other_fn = lsh_error_areas(0.8, b, r)
        assert fp + fn <= other_fp + other_fn + 1e-9
