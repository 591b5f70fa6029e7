"""Evaluation scoring against a model whose probabilities are known exactly: a bigram count
model (add-one smoothing) behind the same `LanguageModel` interface as a trained network.

Expected log-likelihoods are computed here from the counts with plain Python, token by token,
independently of the scorer's batching, padding, truncation and gather."""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from gristmill.core.errors import GristmillError, InputError
from gristmill.evaluate.icl import (
    build_question,
    encode_pairs,
    score_pairs,
    score_task,
    task_metrics,
)
from gristmill.evaluate.runner import aggregates, evaluate
from gristmill.evaluate.small import minimal_pairs
from gristmill.evaluate.tasks import LM, MC, SCHEMA, TASKS, IclTask, resolve_tasks
from gristmill.tokenize.vocab import eot_id, train_tokenizer
from gristmill.train.lm import LanguageModel

CORPUS = ["the cat sat on the mat.", "the dog sat on the log.", "a cat ate the fish.",
          "the cat sat on the mat again.", "birds fly over the sea."] * 4


class Bigram:
    """P(b | a) = (count(a, b) + 1) / (count(a) + V) over the corpus (each text after EOT)."""

    def __init__(self, tok, texts: list[str]) -> None:
        self.tok, self.eot, self.V = tok, eot_id(tok), tok.get_vocab_size()
        self.pairs: Counter = Counter()
        self.firsts: Counter = Counter()
        for text in texts:
            ids = [self.eot, *tok.encode(text, add_special_tokens=False).ids]
            self.pairs.update(itertools.pairwise(ids))
            self.firsts.update(ids[:-1])

    def logp(self, a: int, b: int) -> float:
        return math.log((self.pairs[a, b] + 1) / (self.firsts[a] + self.V))

    @functools.cached_property
    def table(self) -> torch.Tensor:
        counts = torch.zeros(self.V, self.V, dtype=torch.float64)
        for (a, b), c in self.pairs.items():
            counts[a, b] = c
        firsts = torch.tensor([self.firsts[a] for a in range(self.V)], dtype=torch.float64)
        return ((counts + 1) / (firsts[:, None] + self.V)).log().float()

    def language_model(self, max_len: int = 64) -> LanguageModel:
        table = self.table

        def forward(tokens: torch.Tensor) -> torch.Tensor:
            return table[tokens]  # log-probabilities are valid logits (log_softmax keeps them)

        return LanguageModel(forward, self.tok, self.eot, max_len, self.V, "bigram", "count", torch.device("cpu"),
                             torch.nn.Module())

    def continuation(self, context: str, continuation: str) -> tuple[float, bool]:
        """Summed log-probability of the continuation's tokens and whether each is the arg-max."""
        ctx = self.tok.encode(context, add_special_tokens=False).ids if context else [self.eot]
        whole = self.tok.encode(context + continuation, add_special_tokens=False).ids
        ids = whole if context else [self.eot, *whole]
        n = len(ids) - len(ctx)
        total, greedy = 0.0, True
        for i in range(len(ids) - n, len(ids)):
            a, b = ids[i - 1], ids[i]
            total += self.logp(a, b)
            # The arg-max next token: the most frequent follower of a (smallest id on ties).
            best = max(range(self.V), key=lambda c, a=a: (self.pairs[a, c], -c))
            greedy &= best == b
        return total, greedy


@pytest.fixture(scope="module")
def bigram(tmp_path_factory) -> Bigram:
    tok = train_tokenizer(CORPUS * 5, 300, tmp_path_factory.mktemp("bigram") / "tok.json", min_frequency=1)
    return Bigram(tok, CORPUS)


@pytest.fixture(scope="module")
def icl_root(tmp_path_factory) -> Path:
    """A data folder with three tiny tasks whose answers the bigram model must get right."""
    root = tmp_path_factory.mktemp("evaldata")
    icl = root / "evals" / "icl"
    icl.mkdir(parents=True)
    mc = [{"query": "the cat sat on the", "choices": ["fish.", "mat."], "gold": 1},
          {"query": "the dog sat on the", "choices": ["log.", "sea."], "gold": 0},
          {"query": "birds fly over the", "choices": ["cat", "sea."], "gold": 1}]
    schema = [{"context_options": ["the cat", "the birds"], "continuation": "sat on the mat.", "gold": 0},
              {"context_options": ["a dog", "a cat"], "continuation": "ate the fish.", "gold": 1}]
    lm = [{"context": "the cat sat on the", "continuation": "mat."},
          {"context": "birds fly", "continuation": "under the sea."}]
    for name, rows in (("mc.jsonl", mc), ("schema.jsonl", schema), ("lm.jsonl", lm)):
        (icl / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _task(kind: str, file: str, shots: int = 0) -> IclTask:
    return IclTask(file.split(".")[0], file, kind, shots, 50, 50, "test")


@pytest.mark.parametrize(("kind", "file"), [(MC, "mc.jsonl"), (SCHEMA, "schema.jsonl"), (LM, "lm.jsonl")])
def test_continuation_scores_equal_the_count_model(bigram, icl_root, kind, file):
    lm = bigram.language_model()
    task = _task(kind, file, shots=1)
    ts = score_task(lm, task, icl_root, batch_tokens=40)  # several batches of mixed lengths
    for q, scores in zip(ts.questions, ts.scores, strict=True):
        for ctx, cont, s in zip(q.contexts, q.continuations, scores, strict=True):
            expected, greedy = bigram.continuation(ctx, cont)
            assert s.logprob == pytest.approx(expected, abs=1e-4)
            assert s.greedy == greedy
    metrics = task_metrics(task, ts, lm.vocab_size)["metrics"]
    if kind != LM:
        # The bigram model has seen every gold continuation and none of the distractors.
        assert metrics["accuracy"]["value"] == 1.0
    else:
        assert [s[0].greedy for s in ts.scores] == [bigram.continuation(q.contexts[0], q.continuations[0])[1]
                                                    for q in ts.questions]


def test_acc_and_acc_norm_follow_lm_eval_definitions(bigram):
    """acc = arg-max of the summed log-likelihood; acc_norm divides by the choice's characters;
    DCLM's accuracy divides by its tokens."""
    lm = bigram.language_model()
    rows = [{"query": "the cat sat on the", "choices": ["mat again.", "mat."], "gold": 0}]
    task = IclTask("t", "t.jsonl", MC, 0, 50, 50, "test")
    q = build_question(task, rows, 0)
    scores = score_pairs(lm, list(zip(q.contexts, q.continuations, strict=True)))
    from gristmill.evaluate.icl import TaskScores
    m = task_metrics(task, TaskScores([q], [scores]), lm.vocab_size)["metrics"]
    ll = np.array([s.logprob for s in scores])
    assert m["acc"]["value"] == float(np.argmax(ll) == 0)
    assert m["acc_norm"]["value"] == float(np.argmax(ll / np.array([10, 4])) == 0)
    assert m["accuracy"]["value"] == float(np.argmax(ll / np.array([s.tokens for s in scores])) == 0)


def test_prompts_follow_composer_and_the_prefix_comes_once(bigram):
    task = IclTask("t", "t.jsonl", MC, 2, 25, 25, "test", delimiter="\nAnswer: ")
    rows = [{"query": f" Q{i} ", "choices": [f"a{i}", f"b{i}"], "gold": i % 2} for i in range(5)]
    q = build_question(task, rows, 3, prefix="URL: en.wikipedia.org\n\n")
    ctx = q.contexts[0]
    assert ctx.startswith("URL: en.wikipedia.org\n\n") and ctx.count("URL:") == 1
    assert ctx.endswith("\nQ3\nAnswer:") and q.continuations == [" a3", " b3"]
    demos = ctx.removeprefix("URL: en.wikipedia.org\n\n").split("\n")[:-2]
    assert len(demos) == 4 and "Q3" not in "".join(demos)  # two examples of two lines, not the item
    # Fixed per item: the same demos whatever else is scored, different across items.
    assert build_question(task, rows, 3).contexts[0] == ctx.removeprefix("URL: en.wikipedia.org\n\n")
    assert build_question(task, rows, 2).contexts[0] != build_question(task, rows, 3).contexts[0]


def test_long_prompts_keep_the_continuation_and_cut_the_context_from_the_left(bigram):
    lm = bigram.language_model(max_len=16)
    ctx = " ".join(["the cat sat on the mat."] * 10)
    (ids, n), = encode_pairs(lm, [(ctx, " again.")])
    whole = bigram.tok.encode(ctx + " again.", add_special_tokens=False).ids
    assert ids == whole[-17:] and n == len(whole) - len(bigram.tok.encode(ctx, add_special_tokens=False).ids)


def test_minimal_pair_ties_count_as_wrong(bigram):
    lm = bigram.language_model()
    same = "the cat sat on the mat."
    assert minimal_pairs(lm, [(same, same)]).tolist() == [0.0]  # lm-eval would count this right
    assert minimal_pairs(lm, [(same, "mat the on sat cat the.")]).tolist() == [1.0]


def test_core_aggregation_by_hand():
    """Centered accuracy (acc - b)/(1 - b) averaged over the 22 CORE tasks, v1 and v2."""
    accs = {name: 0.5 for name in TASKS if TASKS[name].core}
    accs |= {"hellaswag_zeroshot": 0.40, "commonsense_qa": 0.52, "boolq": 0.81, "lambada_openai": 0.30}
    tasks = {}
    for name, acc in accs.items():
        t = TASKS[name]
        tasks[name] = {"centered": {v: {"value": (acc - b / 100) / (1 - b / 100), "se": 0.01}
                                    for v, b in (("v1", t.baseline_v1), ("v2", t.baseline_v2))}}
    # By hand: per task, centered = (acc - b)/(1 - b).
    v1 = {"hellaswag_zeroshot": (0.40 - 0.25) / 0.75, "commonsense_qa": (0.52 - 0.20) / 0.80,
          "boolq": (0.81 - 0.62) / 0.38, "lambada_openai": 0.30,
          # every other task at 0.5: baseline 0 -> 0.5; 25% -> 1/3; 50% -> 0; 20% -> 0.375; 9.1% -> 0.45
          "jeopardy": 0.5, "bigbench_qa_wikidata": 0.5, "arc_easy": 1 / 3, "arc_challenge": 1 / 3, "copa": 0.0,
          "piqa": 0.0, "openbook_qa": 1 / 3, "hellaswag": 1 / 3, "winograd": 0.0, "winogrande": 0.0,
          "bigbench_dyck_languages": 0.5, "agi_eval_lsat_ar": 0.375, "bigbench_cs_algorithms": 0.5,
          "bigbench_operators": 0.5, "bigbench_repeat_copy_logic": 0.5, "squad": 0.5, "coqa": 0.5,
          "bigbench_language_identification": (0.5 - 0.091) / 0.909}
    v2 = v1 | {"commonsense_qa": (0.52 - 0.403) / 0.597, "agi_eval_lsat_ar": 1 / 3,
               "bigbench_language_identification": 1 / 3}
    agg = aggregates(tasks, allow_missing=False)
    assert agg["core_v1"]["value"] == pytest.approx(sum(v1.values()) / 22, abs=1e-12)
    assert agg["core_v2"]["value"] == pytest.approx(sum(v2.values()) / 22, abs=1e-12)
    assert agg["core_v1"]["se"] == pytest.approx(math.sqrt(22 * 0.01**2) / 22)
    assert not agg["core_v1"]["partial"]
    del tasks["squad"], tasks["coqa"]
    assert aggregates(tasks, allow_missing=False)["core_v2"]["value"] is None
    partial = aggregates(tasks, allow_missing=True)["core_v2"]
    assert partial["partial"] and partial["missing"] == ["squad", "coqa"]
    assert partial["value"] == pytest.approx((sum(v2.values()) - 1.0) / 20, abs=1e-12)


def test_core_without_squad_and_coqa_fails_naming_them(bigram, shared_data):
    with pytest.raises(GristmillError, match=r"missing task data for squad, coqa.*--allow-missing"):
        evaluate(bigram.language_model(), resolve_tasks("core"), shared_data, limit=1)


def test_bad_task_input_is_a_one_line_error(bigram, icl_root, tmp_path):
    with pytest.raises(GristmillError, match="unknown task or suite 'hellaswg'"):
        resolve_tasks("small,hellaswg")
    bad = tmp_path / "evals" / "icl"
    bad.mkdir(parents=True)
    (bad / "mc.jsonl").write_text('{"query": "q", "choices": ["a", "b"], "gold": 0}\n{"query": "q", "choices": ["a"')
    with pytest.raises(InputError, match=r"mc\.jsonl:2: malformed JSON"):
        score_task(bigram.language_model(), _task(MC, "mc.jsonl"), tmp_path)
    (bad / "mc.jsonl").write_text('{"query": "q", "choices": ["a", "b"], "gold": 5}\n')
    with pytest.raises(InputError, match=r"mc\.jsonl:1: not a multiple_choice item: gold 5"):
        score_task(bigram.language_model(), _task(MC, "mc.jsonl"), tmp_path)
