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
from gristmill.train.export import export_checkpoint
from gristmill.train.lm import _windows, load_language_model, target_is_greedy, target_logprobs


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
    for a, b in _windows(len(seq), lm.max_len):
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


def test_each_token_is_predicted_once_across_windows():
    for n in (2, 3, 129, 130, 257, 1000):
        covered = [t for a, b in _windows(n, 128) for t in range(a + 1, b)]
        assert covered == list(range(1, n))
        assert all(b - a <= 129 for a, b in _windows(n, 128))


def test_the_hf_export_scores_like_its_checkpoint(lm, trained_run, texts, tmp_path):
    hf = load_language_model(export_checkpoint(trained_run, tmp_path / "hf"))
    assert hf.kind == "hf" and hf.eot_id == lm.eot_id and hf.max_len == lm.max_len
    seqs = lm.encode(texts[:3])
    assert hf.encode(texts[:3]) == seqs
    for ours, theirs in zip(lm.score(seqs), hf.score(seqs), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


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
