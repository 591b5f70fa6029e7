"""The embedding + linear head scorer and SemDedup on real pages (all-MiniLM-L6-v2 from its
PyPI package, a 64-token window to keep the tests quick)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from gristmill.core.errors import GristmillError
from gristmill.engine.pipeline import Pipeline
from gristmill.io.attributes import attribute_path, read_attribute
from gristmill.io.readers import read_documents
from gristmill.quality import semdedup as sd
from gristmill.quality.embedding import EmbeddingHead, cached_embedder, train_head
from gristmill.quality.train import TrainRequest, train_classifier
from quality_data import archive_pages, more_records, pool_pages, write_jsonl

WINDOW = 64


@pytest.fixture(scope="module")
def head(shared_data, tmp_path_factory):
    """A head trained on Wikipedia vs PAGES-2026 pages, held out by source: OpenStax vs
    PAGES-ARCHIVE pages."""
    root = tmp_path_factory.mktemp("embedding")
    report = train_classifier(TrainRequest(
        positive=[write_jsonl(root / "wiki.jsonl", more_records(shared_data, "wikipedia", 50))],
        negative=[write_jsonl(root / "pool.jsonl", pool_pages(shared_data, 50))],
        heldout_positive=[str(shared_data / "reference" / "openstax-anatomy-physiology.jsonl.gz")],
        heldout_negative=[write_jsonl(root / "archive.jsonl", list(archive_pages(shared_data, 0)))],
        out=root / "head.npz", kind="embedding", max_per_class=30, embedding={"max_tokens": WINDOW},
    ))
    return root / "head.npz", report


def test_embedding_head_separates_reference_text_from_pool_pages_on_other_sources(head):
    path, report = head
    assert report["kind"] == "embedding" and report["heldout"]["how"] == "held-out sources"
    assert report["heldout"]["examples"] == 60
    assert report["roc_auc"] > 0.75  # chance is 0.5
    saved = EmbeddingHead.load(path)
    assert saved.embedder == "all-MiniLM-L6-v2" and len(saved.embedder_sha256) == 64
    assert saved.max_tokens == WINDOW and saved.provenance["examples"] == 60
    assert saved.provenance["heldout"] == "held-out sources"


def test_newton_head_is_the_penalised_optimum():
    """At the optimum the gradient of the penalised log-loss vanishes (KKT), which no
    early-stopped or wrongly-signed solver satisfies."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8))
    y = (x @ rng.normal(size=8) + 0.5 * rng.normal(size=300) > 0).astype(int)
    h = train_head(x, y, l2=0.05, embedder="all-MiniLM-L6-v2")
    p = h.predict(x)
    grad_w = x.T @ (p - y) + 0.05 * len(y) * h.weights
    assert np.abs(grad_w).max() < 1e-6 and abs(float((p - y).sum())) < 1e-6
    assert np.mean((p > 0.5) == y) > 0.85


def test_embedding_scores_in_metadata_and_attribute_files_agree(head, shared_data, tmp_path):
    path, _ = head
    docs = pool_pages(shared_data, 80)[50:]  # pages the head was not trained on
    out = tmp_path / "run"
    Pipeline.from_steps([{"embedding_quality": {"model": str(path), "batch_size": 8}}]).run(
        [write_jsonl(tmp_path / "p.jsonl", docs)], out, workers=1)
    got = list(read_documents(str(out / "documents" / "p.jsonl.zst")))
    rows = list(read_attribute(attribute_path(out, "embedding_quality_prob", "p"), "embedding_quality_prob"))
    assert [d.id for d in got] == [i for i, _ in rows] == [d["id"] for d in docs]
    assert [d.metadata["embedding_quality_prob"] for d in got] == [v for _, v in rows]
    # The step's batches (8, length-sorted) give the scores of one direct call.
    direct = EmbeddingHead.load(path).predict(cached_embedder("all-MiniLM-L6-v2", 64, WINDOW).encode(
        [d["text"] for d in docs]))
    assert np.allclose([v for _, v in rows], direct, atol=1e-5)


def test_bad_embedding_heads_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK not really a zip")
    with pytest.raises(GristmillError, match=r"junk\.npz: not a gristmill embedding head"):
        EmbeddingHead.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.zeros(3))
    with pytest.raises(GristmillError, match=r"other\.npz: not a gristmill embedding head"):
        EmbeddingHead.load(other)


# -- SemDedup ---------------------------------------------------------------------------------


def _near_copy(text: str) -> str:
    """A re-published copy: a share prompt in front, every 15th word lost."""
    words = text.split()
    return "Share this article. " + " ".join(w for i, w in enumerate(words) if i % 15 != 7)


@pytest.fixture(scope="module")
def semantic_corpus(shared_data, tmp_path_factory):
    """Two shards of real pages; shard b re-publishes five pages of shard a, lightly edited."""
    root = tmp_path_factory.mktemp("semdedup")
    wiki = more_records(shared_data, "wikipedia", 20)
    pages = pool_pages(shared_data, 20)
    a = [{"id": d["id"], "text": d["text"]} for d in wiki + pages]
    copies = {f"copy-{i}": a[i]["id"] for i in (1, 4, 22, 30, 38)}
    b = [{"id": c, "text": _near_copy(next(d["text"] for d in a if d["id"] == orig))}
         for c, orig in copies.items()]
    b += [{"id": d["id"], "text": d["text"]} for d in archive_pages(shared_data, 1)[:15]]
    return [write_jsonl(root / "a.jsonl", a), write_jsonl(root / "b.jsonl", b)], copies


def _semdedup(inputs, out, **kw):
    cfg = {"threshold": 0.9, "max_tokens": WINDOW, "clusters": 3, **kw.pop("cfg", {})}
    Pipeline.from_steps([{"semdedup": cfg}]).run(inputs, out, keep_dropped=True, **kw)
    kept = [d.id for s in sorted((out / "documents").glob("*.jsonl.zst")) for d in read_documents(str(s))]
    dropped = {d.id: d.metadata["duplicate_of"]
               for s in (out / "dropped").rglob("*.jsonl.zst") for d in read_documents(str(s))}
    return kept, dropped, orjson.loads((out / "stats.json").read_bytes())


@pytest.fixture(scope="module")
def semdedup_run(semantic_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("semdedup-run") / "one"
    return out, _semdedup(semantic_corpus[0], out, workers=1)


def test_semdedup_drops_the_republished_copies_and_nothing_else(semantic_corpus, semdedup_run):
    _, copies = semantic_corpus
    kept, dropped, stats = semdedup_run[1]
    assert dropped == copies  # each copy names the page it copies
    assert len(kept) == 40 + 15 and stats["totals"]["accounted"]
    info = stats["steps"][-1]["info"]
    assert info["clusters"] == 3 and info["duplicates"] == 5 and info["scratch_bytes_per_document"] == 1556


def test_semdedup_is_the_same_in_other_processes(semantic_corpus, semdedup_run, tmp_path):
    """Two spawned workers (each embedding one shard in its own process) give the bytes
    of the in-process run."""
    _semdedup(semantic_corpus[0], tmp_path / "two", workers=2)
    for shard in (semdedup_run[0] / "documents").iterdir():
        assert shard.read_bytes() == (tmp_path / "two" / "documents" / shard.name).read_bytes()


def test_duplicates_in_cluster_matches_the_pairwise_definition(monkeypatch):
    """Block by block (blocks of 7 rows here) = max over all earlier rows, by brute force."""
    monkeypatch.setattr(sd, "BLOCK", 7)
    rng = np.random.default_rng(3)
    base = sd._normalise(rng.normal(size=(12, 6)))
    x = sd._normalise(np.repeat(base, 4, axis=0) + 0.15 * rng.normal(size=(48, 6))).astype(np.float32)
    drop, best = sd.duplicates_in_cluster(x, 0.95)
    want = {i: int(np.argmax(x[:i] @ x[i])) for i in range(1, 48) if float(np.max(x[:i] @ x[i])) > 0.95}
    assert dict(zip(drop.tolist(), best.tolist(), strict=True)) == want and want


def test_kmeans_finds_well_separated_groups_deterministically():
    rng = np.random.default_rng(4)
    centres = sd._normalise(rng.normal(size=(5, 16)))
    truth = rng.integers(0, 5, 400)
    x = sd._normalise(centres[truth] + 0.05 * rng.normal(size=(400, 16))).astype(np.float32)
    c = sd.kmeans(x, 5, 20, seed=7)
    label = sd._nearest(x, c)[0]
    # Every found cluster is one true group (a bijection between labels and groups).
    assert len({(t, lab) for t, lab in zip(truth.tolist(), label.tolist(), strict=True)}) == 5
    assert np.array_equal(c, sd.kmeans(x, 5, 20, seed=7))
