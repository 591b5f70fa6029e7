"""Parity with lm-evaluation-harness: the tiny trained checkpoint exported to Hugging Face form,
scored by lm-eval (``--model hf``) on a task YAML that reads a shared task file locally, gives
the same per-item log-likelihoods, greedy flags, acc and acc_norm as gristmill, which also
scores the checkpoint itself and its export identically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gristmill.evaluate.icl import score_pairs, score_task, task_metrics
from gristmill.evaluate.small import ZERO_SHOT
from gristmill.evaluate.tasks import TASKS, load_items, task_path
from gristmill.train.export import export_checkpoint
from gristmill.train.load_model import load_language_model

ITEMS = 16
# lm-eval's import and dataset preparation take a while on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)

# Offline: the json builder ships with `datasets`; nothing may reach the Hugging Face hub.
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}


def lm_eval_task_yamls(folder: Path, shared_data: Path) -> list[str]:
    """Two lm-eval tasks on shared files: ARC-Easy zero-shot as gristmill prompts it (query,
    DCLM's "\\nAnswer:" delimiter, a space before each choice) and LAMBADA (context, " word";
    lm-eval adds no target delimiter to loglikelihood requests, so the space is in the target)."""
    arc = task_path(TASKS["arc_easy"], shared_data).resolve()
    lambada = task_path(TASKS["lambada_openai"], shared_data).resolve()
    (folder / "g_arc.yaml").write_text(f"""task: gristmill_arc_easy
dataset_path: json
dataset_kwargs:
  data_files:
    test: {arc}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{query.strip()}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{gold}}}}"
target_delimiter: " "
metric_list:
  - metric: acc
  - metric: acc_norm
""")
    (folder / "g_lambada.yaml").write_text(f"""task: gristmill_lambada
dataset_path: json
dataset_kwargs:
  data_files:
    test: {lambada}
test_split: test
output_type: loglikelihood
doc_to_text: "{{{{context.strip()}}}}"
doc_to_target: "{{{{' ' + continuation.strip()}}}}"
metric_list:
  - metric: acc
""")
    return ["gristmill_arc_easy", "gristmill_lambada"]


@pytest.fixture(scope="module")
def parity(trained_run, shared_data, tmp_path_factory):
    lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is in the dev extra")
    from lm_eval.tasks import TaskManager

    root = tmp_path_factory.mktemp("lmeval")
    hf = export_checkpoint(trained_run, root / "hf")
    tasks = lm_eval_task_yamls(root, shared_data)
    before = {k: os.environ.get(k) for k in [*OFFLINE, "HF_DATASETS_CACHE"]}
    os.environ.update(OFFLINE | {"HF_DATASETS_CACHE": str(root / "cache")})
    try:  # only our two tasks are indexed: lm-eval's own ~14k task YAMLs take 15 s to read
        out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={hf},dtype=float32", tasks=tasks,
                                      task_manager=TaskManager(include_path=str(root), include_defaults=False),
                                      limit=ITEMS, log_samples=True, batch_size=32, device="cpu")
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return hf, out


def _samples(out: dict, task: str) -> list[dict]:
    return sorted(out["samples"][task], key=lambda s: s["doc_id"])


def test_multiple_choice_loglikelihoods_acc_and_acc_norm_match_lm_eval(parity, trained_run, shared_data):
    hf, out = parity
    samples = _samples(out, "gristmill_arc_easy")
    assert len(samples) == ITEMS
    theirs = np.array([[r[0] for r in s["filtered_resps"]] for s in samples])
    task = ZERO_SHOT["arc_easy_zeroshot"]
    for path in (hf, trained_run):  # the export and the checkpoint it came from
        lm = load_language_model(path)
        ts = score_task(lm, task, shared_data, limit=ITEMS)
        ours = np.array([[c.logprob for c in s] for s in ts.scores])
        np.testing.assert_allclose(ours, theirs, atol=2e-3, rtol=0)
        metrics = task_metrics(task, ts, lm.vocab_size)["metrics"]
        for name in ("acc", "acc_norm"):
            assert metrics[name]["value"] == pytest.approx(out["results"]["gristmill_arc_easy"][f"{name},none"])
            assert metrics[name]["value"] == np.mean([s[name] for s in samples])
            assert metrics[name]["se"] == pytest.approx(out["results"]["gristmill_arc_easy"][f"{name}_stderr,none"])


def test_language_modelling_loglikelihood_and_greedy_match_lm_eval(parity, shared_data):
    hf, out = parity
    samples = _samples(out, "gristmill_lambada")
    rows = load_items(task_path(TASKS["lambada_openai"], shared_data), TASKS["lambada_openai"].kind)[:ITEMS]
    pairs = [(r["context"].strip(), " " + r["continuation"].strip()) for r in rows]
    scores = score_pairs(load_language_model(hf), pairs)
    theirs = [s["filtered_resps"][0] for s in samples]
    assert [tuple(s["arguments"][0]) for s in samples] == pairs
    # Most passages are longer than the 128-token context: left truncation agrees too.
    lm = load_language_model(hf)
    assert sum(len(lm.encode([c + k])[0]) > lm.max_len + 1 for c, k in pairs) >= ITEMS // 2
    np.testing.assert_allclose([s.logprob for s in scores], [t[0] for t in theirs], atol=2e-3, rtol=0)
    assert [s.greedy for s in scores] == [bool(t[1]) for t in theirs]


@pytest.mark.parametrize("layout", ["shared rows", "key/value cache"])
def test_shared_prefix_scoring_equals_full_sequences(parity, trained_run, shared_data, monkeypatch, layout):
    """A question's choices share their prompt, which runs once: in one packed row with a
    tree attention mask (checkpoints, and exports whose head can run on chosen positions), or
    through a key/value cache (other Hugging Face models). Either way the log-likelihoods are
    lm-eval's, and the checkpoint's equal its export's."""
    import gristmill.train.lm as lm_module

    hf, out = parity
    lm = load_language_model(hf)
    calls = []
    if layout == "shared rows":
        assert lm.hidden is not None and load_language_model(trained_run).hidden is not None
        real = lm._score_packed
        monkeypatch.setattr(lm, "_score_packed", lambda *a, **k: (calls.append(len(a[1])), real(*a, **k))[1])
    else:
        lm.hidden = lm.head = None  # as for an architecture outside PLAIN_HEAD_MODELS
        real = lm._score_cached
        monkeypatch.setattr(lm_module, "MIN_SHARED_GROUPS", 1)  # share even in small buckets
        monkeypatch.setattr(lm, "_score_cached", lambda *a, **k: (calls.append(len(a[1])), real(*a, **k))[1])
    ts = score_task(lm, ZERO_SHOT["arc_easy_zeroshot"], shared_data, limit=ITEMS)
    theirs = np.array([[r[0] for r in s["filtered_resps"]] for s in _samples(out, "gristmill_arc_easy")])
    np.testing.assert_allclose([[c.logprob for c in s] for s in ts.scores], theirs, atol=2e-3, rtol=0)
    assert sum(calls) >= ITEMS // 2  # most questions went through the shared-prefix path
