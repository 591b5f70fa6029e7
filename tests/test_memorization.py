"""Memorization analysis (LLM360, k = l = 32) on a run with planted canaries: the data order
says which chunks and canary copies each checkpoint had seen, canaries seen many times are
reproduced far above the floor, and chunks not yet seen score near zero."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gristmill.cli import main
from gristmill.core.errors import GristmillError
from gristmill.evaluate.memorization import canary_probes, chunk_probes
from gristmill.io.run_folder import read_run_config
from gristmill.tokenize.shards import TokenDataset
from gristmill.train.load_model import load_language_model

# The first test pays for the shared trained-run fixtures (minutes on a loaded 2-core machine).
pytestmark = pytest.mark.timeout(900)

@pytest.fixture(scope="module")
def analysis(canary_memorization):
    return canary_memorization


def test_chunk_and_canary_bookkeeping_follows_the_data_order(analysis, canary_run):
    data = TokenDataset(read_run_config(canary_run)["data"]["path"])
    assert data.index["canaries"]["count"] == 2 and len(data.chunks) == 4
    ckpts = analysis["checkpoints"]
    assert len(ckpts) >= 4 and [c["step"] for c in ckpts] == sorted(c["step"] for c in ckpts)
    # The first checkpoint was written when chunk 0 was done: it has seen chunk 0 and not 2 or 3.
    first = {r["label"]: r["seen"] for r in ckpts[0]["chunks"]}
    assert first["chunk 0"] == 1.0 and first["chunk 2"] == first["chunk 3"] == 0.0
    for earlier, later in itertools.pairwise(ckpts):
        for a, b in zip(earlier["canaries"], later["canaries"], strict=True):
            assert a["copies_seen"] <= b["copies_seen"] <= b["copies"]
    assert [r["copies"] for r in ckpts[-1]["canaries"]] == [160, 160, 0, 0, 0, 0]  # 2 planted, 4 controls
    # Every copy of each canary is found, and each probe holds the canary's own tokens.
    probes = canary_probes(data, 32, 32)[:2]
    rows, _ = data.read_rows("main", 0, data.phase_rows("main"))
    for p in probes:
        assert len(p.positions) == 160
        text_ids = np.concatenate([p.prompts[0], p.targets[0]])
        hits = sum(np.any(np.all(np.lib.stride_tricks.sliding_window_view(rows[r], 64) == text_ids, axis=1))
                   for r in p.positions)
        assert hits >= 40  # copies that begin early enough in a row to fit hold it verbatim


def test_canaries_are_memorized_and_unseen_chunks_score_near_zero(analysis):
    first, last = analysis["checkpoints"][0], analysis["checkpoints"][-1]
    unseen = [r for r in first["chunks"] if r["seen"] == 0.0]
    assert unseen
    for r in unseen:
        assert r["token_match"]["value"] < 0.1 and r["full_match"]["value"] == 0.0
    planted = [r["token_match"]["value"] for r in last["canaries"] if r["label"].startswith("canary")]
    controls = [r["token_match"]["value"] for c in analysis["checkpoints"] for r in c["canaries"]
                if r["label"].startswith("control")]
    floor = max(r["token_match"]["value"] for c in analysis["checkpoints"] for r in c["chunks"])
    # A 2-layer, 64-wide model after 36 steps reproduces about a quarter of a planted canary's
    # continuation; never-planted canaries and ordinary rows stay at a few percent. Greedy
    # decoding of so small a model is brittle: one early wrong token shifts the rest, so a canary
    # recalled at one checkpoint can drop at the next. Each canary's best checkpoint counts.
    assert np.mean(planted) > 0.15
    best = {}
    for c in analysis["checkpoints"]:
        for r in c["canaries"]:
            if r["label"].startswith("canary"):
                best[r["label"]] = max(best.get(r["label"], 0.0), r["token_match"]["value"])
    assert len(best) == 2 and min(best.values()) > max(controls) + 0.1
    assert min(best.values()) > floor + 0.1


def test_memorization_matches_a_direct_greedy_decode(canary_run, analysis):
    """Batched decoding (prompt once, then one token a step through the key/value cache) equals
    decoding rows one at a time by running the whole sequence each step, and the reported score
    is the mean position-wise match of those decodes."""
    import torch

    from gristmill.evaluate.memorization import memorization_matrix

    data = TokenDataset(read_run_config(canary_run)["data"]["path"])
    probe = chunk_probes(data, 16, 32, 32)[1]
    lm = load_language_model(canary_run / "checkpoints" / analysis["checkpoints"][-1]["checkpoint"])
    matches = memorization_matrix(lm, [probe], 32)[0]
    for row in range(3):
        seq = torch.tensor(probe.prompts[row : row + 1])
        for _ in range(32):
            seq = torch.cat([seq, lm.logits(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
        assert (matches[row] == (seq[0, 32:].numpy() == probe.targets[row])).all()
    uncached = load_language_model(canary_run / "checkpoints" / analysis["checkpoints"][-1]["checkpoint"])
    uncached.new_cache = None
    assert lm.new_cache is not None
    assert (lm.greedy_continue(probe.prompts, 32) == uncached.greedy_continue(probe.prompts, 32)).all()
    got = next(r for r in analysis["checkpoints"][-1]["chunks"] if r["label"] == probe.label)
    assert got["token_match"]["value"] == pytest.approx(matches.mean())


def test_bad_memorization_requests_are_one_line_errors(canary_run, tmp_path):
    from gristmill.evaluate.memorization import analyze_memorization

    with pytest.raises(GristmillError, match="exceeds the token folder's rows of 129 tokens"):
        analyze_memorization(canary_run, k=100, cont_len=64)
    assert main(["analyze", "memorization", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(GristmillError, match="unreadable run config"):
        analyze_memorization(tmp_path / "nowhere")
