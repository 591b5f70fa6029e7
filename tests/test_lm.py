"""`gristmill.train.lm`: one loader for checkpoints and Hugging Face folders, and batched
scoring that equals scoring each sequence alone."""

from __future__ import annotations

import gzip
import itertools
import json

import numpy as np
import pytest
import torch

from gristmill.core.errors import GristmillError
from gristmill.train import load_model
from gristmill.train.export import export_checkpoint
from gristmill.train.lm import target_is_greedy, target_logprobs
from gristmill.train.load_model import load_language_model
from gristmill.train.packing import shared_batch, shared_rows, windows


@pytest.fixture(scope="module")
def texts(shared_data) -> list[str]:
    """Real Wikipedia text the tiny model was not trained on (it saw the first 120 records)."""
    with gzip.open(shared_data / "web/more/wikipedia-00000.jsonl.gz", "rt") as f:
        records = [json.loads(line) for line in itertools.islice(f, 2000, 2006)]
    return [r["text"][: 200 + 150 * i] for i, r in enumerate(records)]


@pytest.fixture(scope="module")
def lm(trained_run):
    return load_language_model(trained_run)


def _alone(lm, seq: list[int]) -> np.ndarray:
    """Log-probabilities of one sequence, one forward pass per context window, no batching."""
    out = []
    for a, b in windows(len(seq), lm.max_len):
        ids = torch.tensor([seq[a:b]])
        out.append(target_logprobs(lm.logits(ids[:, :-1]), ids[:, 1:])[0].numpy())
    return np.concatenate(out)


def test_batched_scores_equal_each_sequence_scored_alone(lm, texts):
    seqs = lm.encode(texts)
    assert lm.max_len == 128 and max(map(len, seqs)) > 2 * lm.max_len  # windows are exercised
    finished = []
    batched = lm.score(seqs, batch_tokens=600, progress=finished.append)
    assert sum(finished) == len(seqs)
    for seq, got in zip(seqs, batched, strict=True):
        assert got.shape == (len(seq) - 1,)
        np.testing.assert_allclose(got, _alone(lm, seq), atol=1e-4)
        assert (got < 0).all()
    greedy = lm.score(seqs[:2], target_is_greedy)
    assert greedy[0].dtype == bool and greedy[0].shape == (len(seqs[0]) - 1,)


def test_each_token_is_predicted_once_acrosswindows():
    for n in (2, 3, 129, 130, 257, 1000):
        covered = [t for a, b in windows(n, 128) for t in range(a + 1, b)]
        assert covered == list(range(1, n))
        assert all(b - a <= 129 for a, b in windows(n, 128))


def test_a_shared_prefix_row_lays_out_positions_mask_and_targets():
    groups = [([1, 2, 3], [[4, 5], [6], [7, 8, 9]])]
    rows = shared_rows(groups, [0], row_cap=5)  # 3 + 1 + 0 fit; the third (2 more) starts a new row
    assert [(r.first, len(r.continuations), r.length) for r in rows] == [(0, 2, 4), (2, 1, 5)]
    batch = shared_batch(rows, pad_id=0)
    assert batch.ids.tolist() == [[1, 2, 3, 4, 0], [1, 2, 3, 7, 8]]
    assert batch.positions.tolist()[1] == [0, 1, 2, 3, 4]
    assert batch.at.tolist() == [[0, 2], [0, 3], [0, 2], [1, 2], [1, 3], [1, 4]]
    assert batch.targets.tolist() == [4, 5, 6, 7, 8, 9]
    seen = batch.mask[1, 0].int().tolist()
    assert seen[4] == [1, 1, 1, 1, 1] and seen[0] == [1, 0, 0, 0, 0]  # causal within prefix + own tokens
    pad = batch.mask[0, 0].int().tolist()
    assert pad[4][3:] == [0, 1] and [q[4] for q in pad[:4]] == [0, 0, 0, 0]  # padding: seen by nobody else


def test_shared_prefix_rows_score_like_each_sequence_alone(lm, texts, monkeypatch):
    """A prompt with several continuations runs once (packed rows, split when the
    continuations pass the context; long rows batched a few at a time), and every continuation
    gets the scores it gets alone."""
    ids = lm.encode(texts)
    groups = [(ids[0][:20], [ids[1][:1], ids[2][:7], *(ids[3][i : i + 30] for i in range(0, 180, 30))]),
              (ids[4][:3], [ids[5][:5], ids[0][50:52]]),
              (ids[1][:90], [ids[2][:1], ids[3][:38]]),
              (ids[5][:1], [ids[1][:4], ids[2][:6]])]  # a one-token prefix is not worth a row
    import gristmill.train.lm as lm_module

    monkeypatch.setattr(lm_module, "MASK_BUDGET", 4000)  # rows of 64+ tokens go one at a time
    packed = []
    real = lm._score_packed
    monkeypatch.setattr(lm, "_score_packed", lambda *a, **k: (packed.extend(a[1]), real(*a, **k))[1])
    done = []
    for reduce in (target_logprobs, target_is_greedy):
        out = lm.score_shared(groups, reduce, batch_tokens=300, progress=done.append)
        for (prefix, conts), got in zip(groups, out, strict=True):
            for c, g in zip(conts, got, strict=True):
                alone = lm.score([list(prefix) + list(c)], reduce)[0][-len(c) :]
                if reduce is target_logprobs:
                    np.testing.assert_allclose(g, alone, atol=1e-4)
                else:
                    assert (g == alone).all()
    assert packed == [0, 1, 2, 0, 1, 2] and sum(done) == 2 * len(groups)


def test_the_hf_export_scores_like_its_checkpoint(lm, trained_run, texts, tmp_path):
    hf = load_language_model(export_checkpoint(trained_run, tmp_path / "hf"))
    assert hf.kind == "hf" and hf.eot_id == lm.eot_id and hf.max_len == lm.max_len
    seqs = lm.encode(texts[:3])
    assert hf.encode(texts[:3]) == seqs
    for ours, theirs in zip(lm.score(seqs), hf.score(seqs), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)
    # Shared-prefix rows through transformers' own attention: SDPA (boolean mask) and eager (additive).
    groups = [(seqs[0][:30], [seqs[1][:6], seqs[2][:9], seqs[0][40:41]])]
    ours = lm.score_shared(groups)[0]
    for impl in ("sdpa", "eager"):
        hf.module.config._attn_implementation = impl
        hf.hidden = load_model._hf_hidden(hf.module)
        for a, b in zip(ours, hf.score_shared(groups)[0], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4)


def test_bf16_scores_stay_close_to_float32(lm, trained_run, texts):
    seqs = lm.encode(texts[:2])
    fast = load_language_model(trained_run, bf16=True)
    for exact, approx in zip(lm.score(seqs), fast.score(seqs), strict=True):
        assert abs(exact.mean() - approx.mean()) < 0.05  # nats per token


def test_bad_model_paths_are_one_line_errors(trained_run, tmp_path, shared_data):
    with pytest.raises(GristmillError, match="model not found"):
        load_language_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GristmillError, match="neither a checkpoint folder nor a run folder"):
        load_language_model(tmp_path / "empty")
    big = shared_data / "tokenizers/gpt-neox-20b.tokenizer.json"
    with pytest.raises(GristmillError, match="50280 tokens but the model only 512"):
        load_language_model(trained_run, tokenizer=big)
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"architectures": ["Qwen3ForCausalLM"]}))
    (hf / "tokenizer.json").write_bytes(big.read_bytes())
    with pytest.raises(GristmillError, match="no model weights"):
        load_language_model(hf)
