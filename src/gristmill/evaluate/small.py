"""Signals that move for 1-20M-parameter models (training.md §8.3), the ``small`` suite.

* ``blimp`` and ``zorro``: minimal pairs, each sentence scored whole after the end-of-text token;
  a pair is right only when the grammatical sentence is strictly more likely (ties are wrong:
  lm-eval counts them right, which rewards a model that gives every sentence the same score,
  training.md §4). BLiMP: 67 paradigms of ``{sentence_good, sentence_bad}`` (Warstadt et al.
  2020); Zorro: odd lines ungrammatical, even lines grammatical (phueb/Zorro).
* ``bits_per_byte``: held-out reference text per source, every token predicted (the first after
  end-of-text), ``Σ NLL / (ln 2 · Σ UTF-8 bytes)`` (nanochat / lm-eval ``bits_per_byte``), so
  models with different vocabularies compare.
* ``lambada_target``: negative log-likelihood (nats) of LAMBADA's target word given its passage,
  and whether greedy decoding produces it.
* ``sciq``, ``arc_easy_zeroshot``, ``piqa_zeroshot``: zero-shot multiple choice, accuracy and the
  gold answer's mean per-token log-likelihood (which moves before accuracy does).
Every figure carries its chance level: 50% for minimal pairs, a uniform guess for multiple
choice, a uniform distribution over the vocabulary for likelihoods.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gristmill.core.errors import InputError
from gristmill.evaluate.icl import build_question, result, score_pairs, score_task, task_metrics
from gristmill.evaluate.stats import mean_se, ratio_se
from gristmill.evaluate.tasks import ANSWER, MC, TASKS, IclTask, load_items, task_path
from gristmill.train.lm import LanguageModel

ZERO_SHOT = {
    "sciq": IclTask("sciq", "sciq.jsonl", MC, 0, 25, 25, "world knowledge", ANSWER),
    "arc_easy_zeroshot": IclTask("arc_easy_zeroshot", "arc_easy.jsonl", MC, 0, 25, 25, "world knowledge", ANSWER),
    "piqa_zeroshot": IclTask("piqa_zeroshot", "piqa.jsonl", MC, 0, 50, 50, "commonsense reasoning", ANSWER),
}
SMALL_TASKS = ("blimp", "zorro", "bits_per_byte", "lambada_target", *ZERO_SHOT)
#: Reference text for bits per byte: (name, file under ../shared/data/reference).
BPB_SOURCES = (("gutenberg", "gutenberg.jsonl.gz"), ("openstax", "openstax-anatomy-physiology.jsonl.gz"),
               ("wikitext2", "wikitext-2-test.txt"))
BPB_DOCS = 24  # documents per source
BPB_DOC_CHARS = 6000  # characters per document (its beginning): 24 x 6k = ~144 kB per source

Progress = Callable[[int], None] | None


def minimal_pairs(lm: LanguageModel, pairs: list[tuple[str, str]], prefix: str = "",
                  progress: Progress = None) -> np.ndarray:
    """1.0 where the first (grammatical) sentence is strictly more likely than the second
    (given ``prefix``, or the end-of-text token when there is none)."""
    flat = [(prefix, s) for pair in pairs for s in pair]
    scores = score_pairs(lm, flat, progress=progress)
    good = np.array([s.logprob for s in scores[0::2]])
    bad = np.array([s.logprob for s in scores[1::2]])
    return (good > bad).astype(np.float64)


def _grouped_pairs(groups: dict[str, list[tuple[str, str]]], lm: LanguageModel, prefix: str,
                   progress: Progress) -> dict[str, Any]:
    names = sorted(groups)
    pairs = [p for n in names for p in groups[n]]
    correct = minimal_pairs(lm, pairs, prefix, progress)
    per_group, at = {}, 0
    for name in names:
        per_group[name] = float(correct[at : at + len(groups[name])].mean())
        at += len(groups[name])
    return result({"accuracy": mean_se(correct)}, {"accuracy": 0.5}, paradigms=per_group)


def blimp_pairs(data_root: Path, limit: int | None) -> dict[str, list[tuple[str, str]]]:
    folder = data_root / "evals" / "blimp"
    files = sorted(p for p in folder.glob("*.jsonl.gz"))
    if not files:
        raise InputError(f"no BLiMP paradigms (*.jsonl.gz) in {folder}")
    out = {}
    for path in files:
        pairs = []
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if limit is not None and len(pairs) >= limit:
                    break
                try:
                    row = json.loads(line)
                    pairs.append((str(row["sentence_good"]), str(row["sentence_bad"])))
                except (ValueError, KeyError, TypeError) as exc:
                    raise InputError(f"{path}:{n}: not a BLiMP pair ({exc})") from exc
        out[path.name.removesuffix(".jsonl.gz")] = pairs
    return out


def zorro_pairs(data_root: Path, limit: int | None) -> dict[str, list[tuple[str, str]]]:
    folder = data_root / "evals" / "zorro"
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise InputError(f"no Zorro paradigms (*.txt) in {folder}")
    out = {}
    for path in files:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if len(lines) % 2:
            raise InputError(f"{path}: an odd number of sentences ({len(lines)}); Zorro files hold pairs")
        pairs = [(lines[i + 1], lines[i]) for i in range(0, len(lines), 2)]  # (good, bad)
        out[path.stem] = pairs[:limit]
    return out


def _wikitext_articles(path: Path) -> Iterator[str]:
    """WikiText articles: a top-level heading line `` = Title = `` starts each."""
    article: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if re.match(r"^ = [^=].* = \s*$", line) and article:
            yield "".join(article).strip()
            article = []
        article.append(line)
    if article:
        yield "".join(article).strip()


def reference_documents(data_root: Path, limit: int | None) -> dict[str, list[str]]:
    """Per source, the beginnings of its first documents (``limit`` documents when given)."""
    folder = data_root / "reference"
    n_docs = BPB_DOCS if limit is None else min(limit, BPB_DOCS)
    out = {}
    for name, file in BPB_SOURCES:
        path = folder / file
        if not path.is_file():
            raise InputError(f"reference text not found: {path}")
        if file.endswith(".txt"):
            docs = _wikitext_articles(path)
        else:
            def records(p: Path = path) -> Iterator[str]:
                with gzip.open(p, "rt", encoding="utf-8") as fh:
                    for n, line in enumerate(fh, 1):
                        try:
                            yield json.loads(line)["text"]
                        except (ValueError, KeyError, TypeError) as exc:
                            raise InputError(f"{p}:{n}: not a text record ({exc})") from exc
            docs = records()
        picked = []
        for text in docs:
            if text.strip():
                picked.append(text[:BPB_DOC_CHARS])
            if len(picked) == n_docs:
                break
        out[name] = picked
    return out


def bits_per_byte(lm: LanguageModel, sources: dict[str, list[str]], prefix: str = "",
                  progress: Progress = None) -> dict[str, Any]:
    """Bits per UTF-8 byte per source and over all sources, with the uniform model's figure.
    A ``prefix`` (MeCo metadata) is tokenized on its own, as at training (training.md §1.1),
    and placed between end-of-text and the document; its tokens are not scored."""
    names = sorted(sources)
    docs = [d for n in names for d in sources[n]]
    encoded = lm.encode(docs)
    head = [lm.eot_id, *(lm.encode([prefix])[0] if prefix else [])]
    rows = lm.score([head + ids for ids in encoded], progress=progress)
    nats = np.array([-float(r[len(head) - 1 :].astype(np.float64).sum()) for r in rows])
    tokens = np.array([len(ids) for ids in encoded], dtype=np.float64)
    nbytes = np.array([len(d.encode("utf-8")) for d in docs], dtype=np.float64)
    bits = nats / math.log(2)
    uniform_bits = tokens * math.log2(lm.vocab_size)
    metrics, chance, at = {}, {}, 0
    for name in names:
        sl = slice(at, at + len(sources[name]))
        metrics[name] = ratio_se(bits[sl], nbytes[sl])
        chance[name] = float(uniform_bits[sl].sum() / nbytes[sl].sum())
        at += len(sources[name])
    # The overall figure weighs sources equally (their mean), so no source dominates by size.
    values = [metrics[n] for n in names]
    overall = {"value": float(np.mean([v["value"] for v in values])),
               "se": float(math.sqrt(sum(v["se"] ** 2 for v in values)) / len(values)),
               "n": int(sum(v["n"] for v in values))}
    metrics = {"bits_per_byte": overall} | {f"bits_per_byte/{n}": metrics[n] for n in names}
    chance = {"bits_per_byte": float(np.mean(list(chance.values())))} | {f"bits_per_byte/{n}": chance[n] for n in names}
    return result(metrics, chance, primary="bits_per_byte", higher_is_better=False)


def lambada_target(lm: LanguageModel, data_root: Path, limit: int | None, prefix: str,
                   progress: Progress = None) -> dict[str, Any]:
    task = TASKS["lambada_openai"]
    rows = load_items(task_path(task, data_root), task.kind)
    n = len(rows) if limit is None else min(limit, len(rows))
    questions = [build_question(task, rows, i, prefix) for i in range(n)]
    scores = score_pairs(lm, [(q.contexts[0], q.continuations[0]) for q in questions], progress=progress)
    nll = [-s.logprob for s in scores]
    metrics = {"target_nll": mean_se(nll), "accuracy": mean_se([float(s.greedy) for s in scores])}
    uniform = float(np.mean([s.tokens for s in scores]) * math.log(lm.vocab_size))
    return result(metrics, {"target_nll": uniform, "accuracy": 0.0}, primary="target_nll", higher_is_better=False)


def run_small_task(name: str, lm: LanguageModel, data_root: Path, *, limit: int | None = None, prefix: str = "",
                   progress: Progress = None) -> dict[str, Any]:
    """One task of the small suite. ``prefix`` (MeCo) comes before the prompt of prompted tasks (LAMBADA and
    multiple choice) and goes before each sentence or document elsewhere. ``limit``: items per
    task, BLiMP/Zorro paradigm or bits-per-byte source."""
    if name == "blimp":
        return _grouped_pairs(blimp_pairs(data_root, limit), lm, prefix, progress)
    if name == "zorro":
        return _grouped_pairs(zorro_pairs(data_root, limit), lm, prefix, progress)
    if name == "bits_per_byte":
        return bits_per_byte(lm, reference_documents(data_root, limit), prefix, progress)
    if name == "lambada_target":
        return lambada_target(lm, data_root, limit, prefix, progress)
    task = ZERO_SHOT[name]
    return task_metrics(task, score_task(lm, task, data_root, limit=limit, prefix=prefix, progress=progress),
                        lm.vocab_size)
