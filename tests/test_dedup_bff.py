"""BFF reproduces DCLM's OldBoth decisions, batch by batch as well as one paragraph at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dedup_corpus import read_folder, run_step
from gristmill.dedup.bff import META_KEY, decide_batch
from gristmill.dedup.bloom import BloomFilter
from gristmill.dedup.plan import plan_bloom
from gristmill.dedup.shingles import uniseg_tokens


def oldboth_reference(texts: list[str], n: int = 13, threshold: float = 0.8) -> list[tuple[str, int]]:
    """DCLM ``process_line_oldboth`` transcribed one paragraph at a time, with an exact set
    of token tuples as the filter. Returns (output text or "" when removed, contained count)."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for text in texts:
        pieces = text.split("\n")
        kept_text = []
        total = contained_all = 0
        for i, piece in enumerate(pieces):
            toks = uniseg_tokens(piece)
            grams = [tuple(toks[j : j + n]) for j in range(len(toks) - n + 1)]
            contained = sum(g in seen for g in grams)
            total += len(grams)
            contained_all += contained
            if grams and contained / len(grams) > threshold:
                continue
            seen.update(grams)
            kept_text.append(piece if i == 0 else "\n" + piece)
        result = "".join(kept_text)
        if total and contained_all / total > threshold:
            result = ""
        out.append((result if result.strip() else "", contained_all))
    return out


@pytest.fixture(scope="module")
def corpus(near_duplicates):
    return near_duplicates


@pytest.mark.parametrize("batch", [300, 16384])
def test_bff_equals_the_sequential_dclm_algorithm(corpus, tmp_path, batch):
    docs, inputs = corpus
    # Reference order: shard order, then record order.
    ordered = [d for s in range(len(inputs)) for d in docs[s :: len(inputs)]]
    want = oldboth_reference([d.text for d in ordered])
    # A tiny false-positive rate so the Bloom filter answers like the exact reference set;
    # a small batch exercises paragraphs deduplicated against earlier ones in the same batch.
    stats = run_step("bff_dedup", {"fp_rate": 1e-7, "batch_ngrams": batch}, inputs, tmp_path)
    got = read_folder(tmp_path / "docs")
    dropped = read_folder(tmp_path / "dropped")
    for d, (text, contained) in zip(ordered, want, strict=True):
        if text:
            assert d.id in got, d.id
            assert got[d.id].text == text, d.id
            assert got[d.id].metadata[META_KEY] == contained
        else:
            assert d.id in dropped and d.id not in got, d.id
            assert dropped[d.id].metadata["drop_reason"] == "bff_duplicate"
    removed_docs = sum(1 for t, _ in want if not t)
    assert sum(s.docs_dropped for s in stats.values()) == removed_docs > 20
    assert sum(s.extra["paragraphs_removed"] for s in stats.values()) > 20


def test_batch_paragraphs_see_earlier_kept_paragraphs_of_the_same_batch():
    plan = plan_bloom(10_000, 0.0001)
    bloom = BloomFilter(plan)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2**64, 20, dtype=np.uint64), rng.integers(0, 2**64, 20, dtype=np.uint64)
    # p0 = A, p1 = A (dup of p0), p2 = A (dup of p0 too: p1's removal does not undo p0),
    # p3 = B with A repeated inside itself (its own repeats do not count), p4 = empty.
    hashes = np.concatenate([a, a, a, np.concatenate([b[:10], b[:10]])])
    counts = np.array([20, 20, 20, 20, 0])
    removed, contained = decide_batch(hashes, counts, bloom, 0.8)
    assert removed.tolist() == [False, True, True, False, False]
    assert contained.tolist() == [0, 20, 20, 0, 0]
    # The kept paragraphs were inserted; removed ones add nothing new.
    removed2, contained2 = decide_batch(np.concatenate([a, b[:10]]), np.array([20, 10]), bloom, 0.8)
    assert removed2.tolist() == [True, True] and contained2.tolist() == [20, 10]


def test_chain_of_dependent_paragraphs_settles_to_the_sequential_answer():
    plan = plan_bloom(10_000, 0.0001)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2**64, 100, dtype=np.uint64)
    # p_i shares 85 of its 100 n-grams with p_{i-1}: sequentially p0 kept, p1 removed (85%
    # seen), p2 then shares only 70 with kept text (p0) -> kept, p3 removed, ...
    paras = [np.concatenate([x[15 * i :], rng.integers(0, 2**64, 15 * i, dtype=np.uint64)]) for i in range(6)]
    hashes = np.concatenate(paras)
    counts = np.array([100] * 6)
    removed, _ = decide_batch(hashes, counts, BloomFilter(plan), 0.8)
    sequential = []
    bloom = BloomFilter(plan)
    for p in paras:
        r, _ = decide_batch(p, np.array([100]), bloom, 0.8)
        sequential.append(bool(r[0]))
    assert removed.tolist() == sequential
    assert sequential[:2] == [False, True]


def test_short_paragraphs_are_never_removed(tmp_path):
    from gristmill.core.document import Document
    from gristmill.io.writers import open_writer

    short = "Home | About | Contact"  # fewer than 13 tokens: no n-gram, always kept
    long = " ".join(f"word{i}" for i in range(40))
    path = tmp_path / "in.jsonl.zst"
    with open_writer(path) as w:
        for i in range(3):
            w.write(Document(id=f"d{i}", text=f"{short}\n{long} unique{i} " + " ".join(f"x{i}y{j}" for j in range(40))))
    run_step("bff_dedup", {}, [("in", Path(path))], tmp_path / "out")
    got = read_folder(tmp_path / "out" / "docs")
    assert sorted(got) == ["d0", "d1", "d2"]
    assert all(got[f"d{i}"].text.startswith(short) for i in range(3))
    # The shared 40-word run is in one paragraph with a unique tail: under 80% contained.
    assert all(long in got[f"d{i}"].text for i in range(3))
