"""Each method on a near-duplicate set built from real text: duplicates found, distinct kept."""

from __future__ import annotations

import pytest

from dedup_corpus import read_folder, run_step
from gristmill.dedup.nearsets import score
from gristmill.dedup.scratch import ShardRef


@pytest.fixture(scope="module")
def corpus(near_duplicates):
    return near_duplicates


def _order(docs, inputs):
    """Documents in corpus order: shard order, then record order."""
    return [d for s in range(len(inputs)) for d in docs[s :: len(inputs)]]


def _run_scored(method, kwargs, corpus, out, duplicate_rates):
    """Run ``method`` over the corpus into ``out``: (stats, kept documents by id, score)."""
    docs, inputs = corpus
    stats = run_step(method, kwargs, inputs, out)
    kept = read_folder(out / "docs")
    return stats, kept, score(docs, {k: d.text for k, d in kept.items()}, duplicate_rates=duplicate_rates)


def _check_accounting(stats, n_docs):
    docs_in = sum(s.docs_in for s in stats.values())
    out = sum(s.docs_out for s in stats.values())
    dropped = sum(s.docs_dropped for s in stats.values())
    assert docs_in == n_docs == out + dropped
    assert sum(s.bytes_in - s.bytes_out for s in stats.values()) == sum(
        s.extra["bytes_removed"] for s in stats.values())


def test_exact_text_dedup_removes_every_exact_copy_and_only_those(corpus, tmp_path):
    docs, inputs = corpus
    stats, kept, s = _run_scored("exact_dedup", {}, corpus, tmp_path, ())
    assert s.precision == 1.0 and s.recall == 1.0
    assert s.removed_by_kind["page"] == 0.0
    _check_accounting(stats, len(docs))
    # Survivor = first copy in corpus order; duplicate_of names it.
    first: dict[str, str] = {}
    for d in _order(docs, inputs):
        if d.kind in ("original", "exact"):
            first.setdefault(d.cluster, d.id)
    by_id = {d.id: d for d in docs}
    dropped = read_folder(tmp_path / "dropped")
    assert dropped and set(dropped).isdisjoint(kept)
    for doc_id, d in dropped.items():
        assert d.metadata["drop_reason"] == "exact_duplicate"
        assert d.metadata["duplicate_of"] == first[by_id[doc_id].cluster]
    assert sum(s.extra["clusters"] for s in stats.values()) == len(dropped)  # one copy each


def test_exact_line_dedup_strips_repeated_boilerplate_but_keeps_the_pages(corpus, tmp_path):
    docs, _ = corpus
    stats, _, s = _run_scored("exact_dedup", {"key": "lines"}, corpus, tmp_path, ())
    assert s.removed_by_kind["page"] == 0.0
    assert s.boilerplate_lines_removed == 1.0
    assert sum(s.extra["paragraphs_removed"] for s in stats.values()) > 0
    _check_accounting(stats, len(docs))


def test_exact_url_dedup_keeps_the_smallest_url_hash_when_asked(corpus, tmp_path):
    docs, inputs = corpus
    from gristmill.core.hashing import hash_text
    from gristmill.dedup.exact import normalize_url

    assert normalize_url("https://www.example.com/a/?utm_source=x") == "example.com/a"
    run_step("exact_dedup", {"key": "url"}, inputs, tmp_path / "first")
    assert len(read_folder(tmp_path / "first" / "docs")) == len(docs)  # every URL differs
    # Copies carry "<url>#copyN": make them collide by URL with a normalizer-equivalent form.
    from gristmill.core.document import Document
    from gristmill.io.writers import open_writer

    path = tmp_path / "urls.jsonl.zst"
    urls = ["http://www.a.org/x/", "https://a.org/x?utm_medium=y", "https://a.org/x", "https://b.org/"]
    with open_writer(path) as w:
        for i, u in enumerate(urls):
            w.write(Document(id=f"u{i}", text=f"text {i}", url=u))
    run_step("exact_dedup", {"key": "url", "keep": "url_hash"}, [("urls", path)], tmp_path / "hash")
    kept = read_folder(tmp_path / "hash" / "docs")
    assert len(kept) == 2 and "u3" in kept
    # All three normalise to a.org/x; url_hash keeps the smallest hash of the normalized URL,
    # which is the same for all three, so the tie goes to corpus order: u0.
    assert "u0" in kept and hash_text(normalize_url(urls[0])) == hash_text(normalize_url(urls[1]))


def test_minhash_finds_exact_and_near_copies_and_keeps_distinct_documents(corpus, tmp_path):
    docs, inputs = corpus
    stats, kept, s = _run_scored("minhash_dedup", {}, corpus, tmp_path, (0.01,))
    assert s.precision == 1.0
    # 128 permutations solve to 9 bands x 13 rows, whose S-curve is at 1/2 near J = 0.85:
    # every exact copy is found, 1%-edited copies (J about 0.85-0.9) mostly.
    assert s.recall >= 0.85
    assert s.removed_by_kind["page"] == 0.0
    _check_accounting(stats, len(docs))
    by_id = {d.id: d for d in docs}
    order = {d.id: i for i, d in enumerate(_order(docs, inputs))}
    dropped = read_folder(tmp_path / "dropped")
    for doc_id, d in dropped.items():
        survivor = d.metadata["duplicate_of"]
        assert survivor in kept
        assert by_id[survivor].cluster == by_id[doc_id].cluster  # the copy of the same original
        assert order[survivor] < order[doc_id]  # the first copy survives
    assert sum(s.extra["clusters"] for s in stats.values()) == len({d.metadata["duplicate_of"] for d in dropped.values()})


def test_minhash_verification_drops_no_true_duplicate_of_high_similarity(corpus, tmp_path):
    _, _, s = _run_scored("minhash_dedup", {"verify": True, "num_perm": 112, "bands": 14, "rows": 8}, corpus, tmp_path,
                          (0.01,))
    # Short documents with one edit in a hundred words can fall under J = 0.8 and are then
    # rightly left alone by verification.
    assert s.precision == 1.0 and s.recall >= 0.85
    assert s.removed_by_kind["edit-0.1"] == 0.0  # J ~ 0.4: linked by no verified pair


def test_bff_removes_copies_and_boilerplate_paragraphs_but_keeps_pages(corpus, tmp_path):
    docs, _ = corpus
    stats, kept, s = _run_scored("bff_dedup", {}, corpus, tmp_path, (0.01,))
    assert s.precision == 1.0
    assert s.recall >= 0.85  # a 1% copy survives when one edit lands in each of its short paragraphs
    assert s.removed_by_kind["page"] == 0.0
    assert s.boilerplate_lines_removed >= 0.95
    _check_accounting(stats, len(docs))
    for d in kept.values():
        assert isinstance(d.metadata["bff_contained_ngram_count_before_dedupe"], int)


def test_bff_shards_deduplicate_only_within_a_shard(corpus, tmp_path):
    _, inputs = corpus
    stats_1 = run_step("bff_dedup", {}, inputs, tmp_path / "one")
    stats_k = run_step("bff_dedup", {"shards": 2}, inputs, tmp_path / "two")
    removed_1 = sum(s.docs_dropped for s in stats_1.values())
    removed_k = sum(s.docs_dropped for s in stats_k.values())
    assert 0 < removed_k < removed_1  # DCLM App. L: removal grows with shard size
    # Input shards 0 and 2 form dedup shard 0; alone they give the same output for them.
    alone = run_step("bff_dedup", {}, [inputs[0], inputs[2]], tmp_path / "alone")
    assert alone[inputs[0][0]].docs_out == stats_k[inputs[0][0]].docs_out
    assert (tmp_path / "alone" / "docs" / "part-2.jsonl.zst").read_bytes() == (
        tmp_path / "two" / "docs" / "part-2.jsonl.zst").read_bytes()


def test_shard_refs_number_documents_in_corpus_order():
    from gristmill.dedup.scratch import node_ids, node_record, node_shard

    nodes = node_ids(3, 5)
    assert node_shard(nodes).tolist() == [3] * 5 and node_record(nodes).tolist() == list(range(5))
    assert (node_ids(2, 10)[-1] < node_ids(3, 1)[0])
    assert ShardRef(0, "a", "p").index == 0
