"""Mixing real sources to target token shares, with stated upsampling."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest

from gristmill.cli import main
from gristmill.core.errors import GristmillError
from gristmill.engine.pipeline import Pipeline
from gristmill.io.readers import read_documents
from gristmill.mix.plan import SourceTarget, extra_epoch, plan_sources
from gristmill.mix.steps import count_tokens
from quality_data import more_records, write_jsonl


@pytest.fixture(scope="module")
def sources(shared_data, tmp_path_factory):
    """Wikipedia (one shard) and Stack Exchange (two shards) records."""
    root = tmp_path_factory.mktemp("mix")
    se = more_records(shared_data, "se_archives", 160)
    return {"wiki": [write_jsonl(root / "wiki.jsonl", more_records(shared_data, "wikipedia", 40))],
            "se": [write_jsonl(root / "se-a.jsonl", se[:80]), write_jsonl(root / "se-b.jsonl", se[80:])]}


def _mix(sources, out, workers=1, seed=0, **cfg):
    spec = {"sources": {"wiki": {"match": ["wiki"], "weight": 0.5}, "se": {"match": ["se-*"], "weight": 0.5}},
            **cfg}
    Pipeline.from_steps([{"mix": spec}], seed=seed).run(sources["wiki"] + sources["se"], out, workers=workers)
    docs = [d for s in sorted((out / "documents").glob("*.jsonl.zst")) for d in read_documents(str(s))]
    return docs, orjson.loads((out / "mix.json").read_bytes()), orjson.loads((out / "stats.json").read_bytes())


@pytest.fixture(scope="module")
def mixed(sources, tmp_path_factory):
    return _mix(sources, tmp_path_factory.mktemp("mixed") / "run", total_tokens=60_000)


def test_realized_shares_meet_the_targets_with_stated_epochs(sources, mixed):
    docs, report, stats = mixed
    records = {name: [orjson.loads(line) for p in paths for line in Path(p).read_bytes().splitlines()]
               for name, paths in sources.items()}
    words = {d["id"]: int(n) for docs_ in records.values() for d, n in
             zip(docs_, count_tokens([d["text"] for d in docs_], ""), strict=True)}
    # Realized tokens recounted from the output documents themselves.
    realized = Counter()
    for d in docs:
        realized[d.metadata["mix_source"]] += words[d.id.split("#")[0]]
    for name in ("wiki", "se"):
        s = report["sources"][name]
        assert realized[name] == s["realized_tokens"]
        assert s["available_tokens"] == sum(words[d["id"]] for d in records[name])
        assert s["epochs"] == pytest.approx(30_000 / s["available_tokens"], rel=1e-6)
        # The nearest whole-document cut: within half of the source's largest document.
        assert abs(s["realized_tokens"] - 30_000) <= max(words[d["id"]] for d in records[name]) / 2
        assert s["realized_share"] == pytest.approx(0.5, abs=0.02)
    wiki = report["sources"]["wiki"]
    assert wiki["epochs"] > 2 and wiki["full_epochs"] == int(wiki["epochs"])
    assert report["sources"]["se"]["epochs"] < 1
    assert stats["totals"]["accounted"] and stats["steps"][-1]["extra"]["copies_added"] > 0


def test_upsampled_copies_repeat_whole_epochs_a_pass_apart(mixed):
    docs, report, _ = mixed
    wiki = [d for d in docs if d.metadata["mix_source"] == "wiki"]
    copies = Counter(d.id.split("#")[0] for d in wiki)
    full = report["sources"]["wiki"]["full_epochs"]
    assert len(copies) == 40 and set(copies.values()) <= {full, full + 1}
    # Pass k lists every document with more than k copies before any copy of pass k + 1.
    passes = [int(d.metadata.get("mix_copy", 0)) for d in wiki]
    assert passes == sorted(passes)
    assert len({d.id for d in docs}) == len(docs)


def test_mix_is_deterministic_and_the_seed_picks_the_partial_epoch(sources, mixed, tmp_path):
    again, _, _ = _mix(sources, tmp_path / "two", workers=2, total_tokens=60_000)
    assert [(d.id, d.text) for d in again] == [(d.id, d.text) for d in mixed[0]]
    other, _, _ = _mix(sources, tmp_path / "seed", seed=1, total_tokens=60_000)
    assert {d.id for d in other} != {d.id for d in mixed[0]}


def test_plan_arithmetic():
    avail, docs = {"a": 1000, "b": 4000}, {"a": 10, "b": 40}
    # Weights without a total: the largest mix that repeats no source. a (a quarter) can fill
    # 1000 / 0.25 = 4000 tokens, b (three quarters) 4000 / 0.75 = 5333: a runs out first.
    plans = plan_sources([SourceTarget("a", weight=1), SourceTarget("b", weight=3)], avail, docs)
    assert [(p.target_tokens, p.epochs) for p in plans] == [(1000, 1.0), (3000, 0.75)]
    plans = plan_sources([SourceTarget("a", tokens=2500), SourceTarget("b", tokens=1000)], avail, docs)
    assert [(p.full_epochs, p.remainder) for p in plans] == [(2, 500), (0, 1000)]
    with pytest.raises(GristmillError, match=r"repeated 12\.00 times"):
        plan_sources([SourceTarget("a", tokens=12_000)], avail, docs)
    with pytest.raises(GristmillError, match="every source a weight"):
        plan_sources([SourceTarget("a", weight=1), SourceTarget("b", tokens=5)], avail, docs)


def test_extra_epoch_takes_the_nearest_prefix_in_key_order():
    rng = np.random.default_rng(2)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        keys = rng.integers(0, 5, n).astype(np.uint64)  # ties broken by position
        tokens = rng.integers(1, 50, n)
        remainder = float(rng.integers(1, int(tokens.sum()) + 1))
        order = sorted(range(n), key=lambda i: (keys[i], i))
        sums = [0, *itertools.accumulate(int(tokens[i]) for i in order)]
        best = min(range(n + 1), key=lambda m: (abs(sums[m] - remainder), m))
        assert set(np.flatnonzero(extra_epoch(keys, tokens, remainder)).tolist()) == set(order[:best])


def test_mix_command_prints_targets_and_refuses_bad_arguments(sources, tmp_path, capsys):
    code = main(["mix", "--source", f"wiki={sources['wiki'][0]}", "--source", "se=" + ",".join(sources["se"]),
                 "--tokens", "wiki=5000", "--tokens", "se=20000", "--output", str(tmp_path / "out"), "-q",
                 "--workers", "1"])
    assert code == 0
    report = orjson.loads((tmp_path / "out" / "mix.json").read_bytes())
    assert report["sources"]["wiki"]["target_share"] == pytest.approx(0.2)
    assert main(["mix", "--source", "wiki=x.jsonl", "--weight", "wiki=1", "--tokens", "wiki=3",
                 "--output", str(tmp_path / "bad")]) == 2
    assert "--weight for every source, or --tokens" in capsys.readouterr().err
