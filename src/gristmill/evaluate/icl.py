"""In-context-learning tasks: prompts, continuation scoring, per-task metrics.

Prompts follow LLM-Foundry / Composer's ICL datasets (the harness DCLM evaluates with;
mosaicml/composer ``datasets/in_context_learning_evaluation.py``): fields are stripped; each
few-shot example is ``query + delimiter + gold answer``, examples are joined by ``"\\n"``; the
item's context ends with the delimiter right-stripped and each continuation gets a leading
space. Schema tasks (Winograd, WinoGrande) substitute each option into the context and score the
shared continuation. Few-shot examples are drawn without the item itself, by a
``random.Random(1234 + item index)`` of their own per item (Composer's seed 1234; per item as in
nanochat ``core_eval.py``), so a result does not depend on which items are scored with it.

Tokenization follows lm-evaluation-harness (``_encode_pair``): the context's trailing whitespace
moves to the continuation, ``whole = enc(context + continuation)``, and the continuation is
``whole[len(enc(context)):]``; the input is the last ``max_len + 1`` tokens. No BOS is added
(GPT-NeoX and our BPE add none); an empty context is the end-of-text token, as in lm-eval.

Metrics (training.md §3.2, §4):
  * ``accuracy``: DCLM's rule. Multiple choice and schema: the option with the lowest mean
    per-token loss over its continuation; language modelling: every continuation token is the
    greedy (arg-max) token.
  * ``acc`` / ``acc_norm`` (multiple choice): lm-eval's arg-max of the summed log-likelihood,
    and of the log-likelihood per character of the choice text (delimiter not counted).
  * ``gold_logprob``: mean per-token log-likelihood of the gold continuation.
Ties go to the first option (``np.argmax``), as in both harnesses.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gristmill.evaluate.stats import mean_se
from gristmill.evaluate.tasks import LM, MC, SCHEMA, IclTask, load_items, task_path
from gristmill.train.lm import LanguageModel, target_is_greedy, target_logprobs

FEWSHOT_SEED = 1234  # Composer's fewshot_random_seed default
EXAMPLE_DELIMITER = "\n"  # LLM-Foundry's default example_delimiter


@dataclass
class Question:
    """One item: a (context, continuation) pair per option, the gold option, choice texts."""

    contexts: list[str]
    continuations: list[str]
    gold: int | None
    choice_texts: list[str]


@dataclass
class ContinuationScore:
    logprob: float  # summed over the continuation's tokens
    tokens: int
    greedy: bool  # every continuation token is the arg-max token


def _strip(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.strip() if isinstance(v, str) else v for k, v in row.items()}


def _example(task: IclTask, row: dict[str, Any]) -> str:
    """A solved few-shot example."""
    if task.kind == MC:
        return f"{row['query']}{task.delimiter}{row['choices'][row['gold']]}"
    if task.kind == SCHEMA:
        return f"{row['context_options'][row['gold']]}{task.delimiter}{row['continuation']}"
    return f"{row['context']}{task.delimiter}{row['continuation']}"


def _space(text: str) -> str:
    return text if text.startswith(" ") else " " + text


def fewshot_indices(n: int, index: int, shots: int) -> list[int]:
    """``shots`` distinct item indices other than ``index``, fixed by ``index`` alone."""
    k = min(shots, n - 1)
    picks = random.Random(FEWSHOT_SEED + index).sample(range(n - 1), k)
    return [p + (p >= index) for p in picks]


def build_question(task: IclTask, rows: Sequence[dict[str, Any]], index: int, prefix: str = "") -> Question:
    """The scored alternatives of item ``index``. ``prefix`` (MeCo conditional inference,
    training.md §1.5) goes once before the whole prompt, few-shot examples included."""
    row = _strip(rows[index])
    demos = [_example(task, _strip(rows[i])) for i in fewshot_indices(len(rows), index, task.shots)]
    preamble = EXAMPLE_DELIMITER.join(demos)
    lead = prefix + preamble + (EXAMPLE_DELIMITER if preamble else "")
    tail = task.delimiter.rstrip()
    if task.kind == MC:
        context = lead + row["query"] + tail
        choices = list(row["choices"])
        return Question([context] * len(choices), [_space(c) for c in choices], row["gold"], choices)
    if task.kind == SCHEMA:
        options = row["context_options"]
        cont = _space(row["continuation"])
        return Question([lead + o + tail for o in options], [cont] * len(options), row["gold"],
                        [row["continuation"]] * len(options))
    return Question([lead + row["context"] + tail], [_space(row["continuation"])], None, [row["continuation"]])


def _greedy_and_logprob(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return torch.stack([target_logprobs(logits, targets), target_is_greedy(logits, targets).float()], dim=-1)


def encode_pairs(lm: LanguageModel, pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], int]]:
    """lm-eval's tokenization of (context, continuation) pairs: each as ``(ids, n)`` where the
    last ``n`` ids are the continuation and ``ids`` fits the model (left-truncated)."""
    moved = []
    for ctx, cont in pairs:
        n_space = len(ctx) - len(ctx.rstrip())
        moved.append((ctx[: len(ctx) - n_space], ctx[len(ctx) - n_space :] + cont) if n_space else (ctx, cont))
    unique_ctx = sorted({c for c, _ in moved if c})
    ctx_len = {c: len(ids) for c, ids in zip(unique_ctx, lm.encode(unique_ctx), strict=True)}
    wholes = lm.encode([c + k for c, k in moved])
    out = []
    for (ctx, cont), whole in zip(moved, wholes, strict=True):
        if ctx:
            n = len(whole) - ctx_len[ctx]
        else:
            whole, n = [lm.eot_id, *whole], len(whole)
        if n < 1:
            raise ValueError(f"continuation {cont!r} encodes to no tokens")
        out.append((whole[-(lm.max_len + 1) :], min(n, lm.max_len)))
    return out


def score_pairs(lm: LanguageModel, pairs: Sequence[tuple[str, str]], *, batch_tokens: int = 16384,
                progress: Callable[[int], None] | None = None) -> list[ContinuationScore]:
    """Log-likelihood and greedy match of each continuation given its context. Consecutive
    pairs whose context tokens are the same (a question's choices) form one group, so the
    model can run their shared prefix once (`LanguageModel.score_shared`)."""
    encoded = encode_pairs(lm, pairs)
    groups: list[tuple[list[int], list[list[int]]]] = []
    for ids, n in encoded:
        prefix, cont = ids[:-n], ids[-n:]
        if groups and groups[-1][0] == prefix:
            groups[-1][1].append(cont)
        else:
            groups.append((prefix, [cont]))
    rows = [r for g in lm.score_shared(groups, _greedy_and_logprob, batch_tokens=batch_tokens, progress=progress)
            for r in g]
    return [ContinuationScore(float(r[:, 0].astype(np.float64).sum()), n, bool(r[:, 1].all()))
            for (_, n), r in zip(encoded, rows, strict=True)]


@dataclass
class TaskScores:
    """Scores of every option of every evaluated item (for metrics and parity checks)."""

    questions: list[Question]
    scores: list[list[ContinuationScore]]


def score_task(lm: LanguageModel, task: IclTask, data_root: Path, *, limit: int | None = None, prefix: str = "",
               batch_tokens: int = 16384, progress: Callable[[int], None] | None = None) -> TaskScores:
    rows = load_items(task_path(task, data_root), task.kind)
    n = len(rows) if limit is None else min(limit, len(rows))
    questions = [build_question(task, rows, i, prefix) for i in range(n)]
    pairs = [(c, k) for q in questions for c, k in zip(q.contexts, q.continuations, strict=True)]
    flat = score_pairs(lm, pairs, batch_tokens=batch_tokens, progress=progress)
    scores, at = [], 0
    for q in questions:
        scores.append(flat[at : at + len(q.contexts)])
        at += len(q.contexts)
    return TaskScores(questions, scores)


def task_metrics(task: IclTask, ts: TaskScores, vocab_size: int) -> dict[str, Any]:
    """Per-task figures (each ``{value, se, n}``) with the chance level of each beside it: a
    uniform guess for accuracies, a uniform distribution over the vocabulary for log-likelihoods."""
    uniform = -math.log(vocab_size)
    if task.kind == LM:
        correct = [float(s[0].greedy) for s in ts.scores]
        gold = [s[0].logprob / s[0].tokens for s in ts.scores]
        return result({"accuracy": mean_se(correct), "gold_logprob": mean_se(gold)},
                      {"accuracy": 0.0, "gold_logprob": uniform})
    dclm, acc, acc_norm, gold_lp, chance = [], [], [], [], []
    for q, s in zip(ts.questions, ts.scores, strict=True):
        ll = np.array([c.logprob for c in s])
        per_token = ll / np.array([c.tokens for c in s])
        dclm.append(float(int(np.argmax(per_token)) == q.gold))
        gold_lp.append(float(per_token[q.gold]))
        chance.append(1.0 / len(s))
        if task.kind == MC:
            acc.append(float(int(np.argmax(ll)) == q.gold))
            chars = np.array([max(1, len(t)) for t in q.choice_texts])
            acc_norm.append(float(int(np.argmax(ll / chars)) == q.gold))
    guess = float(np.mean(chance))
    metrics = {"accuracy": mean_se(dclm), "gold_logprob": mean_se(gold_lp)}
    if task.kind == MC:
        metrics |= {"acc": mean_se(acc), "acc_norm": mean_se(acc_norm)}
    return result(metrics, {k: (uniform if k == "gold_logprob" else guess) for k in metrics})


def result(metrics: dict[str, dict[str, float]], chance: dict[str, float], primary: str = "accuracy",
           higher_is_better: bool = True, **extra: Any) -> dict[str, Any]:
    """The record of one task in an evaluation's results."""
    return {"primary": primary, "higher_is_better": higher_is_better, "metrics": metrics,
            "chance": chance} | extra
