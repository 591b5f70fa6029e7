"""What each stage of an experiment does, through the stage packages' Python APIs.

Each function works inside its stage folder (`gristmill.experiment.cache`) and returns the JSON
record the runner keeps as the stage's result and lineage.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gristmill.core.document import Document
from gristmill.core.errors import GristmillError, RecordError
from gristmill.engine.pipeline import Pipeline
from gristmill.engine.recipe import Recipe, recipe_from_steps
from gristmill.experiment.spec import ArmSpec, ClassifierSpec, TrainSpec
from gristmill.io.readers import read_documents
from gristmill.io.run_folder import latest_checkpoint
from gristmill.io.writers import open_writer
from gristmill.text.lines import split_paragraphs


def documents_of(run: Path) -> list[str]:
    """The kept-document files of a curation run, in shard order."""
    return sorted(str(p) for p in (run / "documents").glob("*.jsonl.zst"))


def curate(folder: Path, inputs: list[str], recipe: Recipe, *, executor: str, workers: int | None) -> dict[str, Any]:
    """Run ``recipe`` over ``inputs`` into ``folder/run`` (a killed run resumes per shard)."""
    result = Pipeline(recipe).run(inputs, folder / "run", executor=executor, workers=workers, progress=True)
    totals = result.stats["totals"]
    drops: dict[str, int] = {}
    for step in result.stats["steps"]:
        for reason, n in step.get("dropped", {}).items():
            drops[f"{step['name']}:{reason}"] = drops.get(f"{step['name']}:{reason}", 0) + n
    return {"run": str(folder / "run"), "documents": documents_of(folder / "run"), "recipe": recipe.name,
            "recipe_hash": recipe.hash, "input_records": totals["input_records"], "kept": totals["kept"],
            "dropped": totals["dropped"], "errored": totals["errored"], "bytes_out": totals["bytes_out"],
            "drops": drops}


# -- stand-in quality classifier ------------------------------------------------------------

def _chunks(text: str, size: int) -> Iterator[str]:
    """Pieces of about ``size`` characters cut at paragraph ends (whole books are not one
    fastText example; DCLM's positives are answers of a few hundred words)."""
    piece: list[str] = []
    length = 0
    for para in split_paragraphs(text):
        piece.append(para)
        length += len(para)
        if length >= size:
            yield "\n".join(piece)
            piece, length = [], 0
    if piece:
        yield "\n".join(piece)


def _reference_texts(path: str, skip: int) -> Iterator[str]:
    if path.endswith(".txt"):
        yield Path(path).read_text(encoding="utf-8")
        return
    for n, item in enumerate(read_documents(path)):
        if isinstance(item, RecordError):
            print(f"reference text: skipped bad record: {item}", file=sys.stderr)
        elif n >= skip and item.text.strip():
            yield item.text


def train_stand_in(folder: Path, spec: ClassifierSpec, negatives: list[str], seed: int) -> dict[str, Any]:
    """fastText with DCLM's settings (`gristmill.quality.train`), reference text vs a dataset."""
    from gristmill.quality.train import TrainRequest, train_classifier

    positive = folder / "positive.jsonl.zst"
    count = 0
    with open_writer(positive) as out:
        for source in spec.positive:
            for text in _reference_texts(source.path, source.skip):
                for piece in _chunks(text, spec.chunk_chars):
                    out.write(Document(id=f"{Path(source.path).name}:{count}", text=piece))
                    count += 1
    model = folder / "model.bin"
    report = train_classifier(TrainRequest(positive=[str(positive)], negative=negatives, out=model,
                                           max_per_class=spec.max_per_class, seed=seed,
                                           fasttext={"bucket": 200_000}))
    return {"model": str(model), "positive_pieces": count, "accuracy": report["accuracy"],
            "roc_auc": report["roc_auc"], "heldout": report["heldout"]}


# -- decontamination report -------------------------------------------------------------------

def decontamination(folder: Path, documents: list[str], evals: str, tasks: list[str], *, executor: str,
                    workers: int | None) -> dict[str, Any]:
    """Llama 2 / DCLM §4.6 overlap report of a dataset against the eval sets (nothing removed)."""
    import json

    report = folder / "decontamination.json"
    steps = [{"decontaminate": {"evals": evals, "tasks": tasks, "report": str(report), "remove": "none"}}]
    Pipeline(recipe_from_steps(steps, name="decontaminate")).run(
        documents, folder / "run", executor=executor, workers=workers, progress=False)
    doc = json.loads(report.read_text())
    items = sum(t["items"] for t in doc["tasks"].values())
    dirty = sum(t["dirty"] for t in doc["tasks"].values())
    worst = max(doc["tasks"].items(), key=lambda kv: kv[1]["dirty_rate"], default=(None, {}))
    return {"report": str(report), "items": items, "dirty": dirty,
            "dirty_rate": dirty / items if items else 0.0,
            "worst_task": worst[0], "worst_dirty_rate": worst[1].get("dirty_rate", 0.0),
            "flagged_pairs": len(doc.get("flagged", []))}


# -- tokenizer and tokens ---------------------------------------------------------------------

def fit_tokenizer(folder: Path, documents: list[str], vocab_size: int, max_documents: int) -> dict[str, Any]:
    """One byte-level BPE for every arm (fitted on one dataset, so arms differ only in data)."""
    from gristmill.tokenize.vocab import tokenizer_sha256, train_tokenizer

    texts: list[str] = []
    for path in documents:
        for item in read_documents(path):
            if not isinstance(item, RecordError) and item.text:
                texts.append(item.text)
            if len(texts) >= max_documents:
                break
        if len(texts) >= max_documents:
            break
    if not texts:
        raise GristmillError("the tokenizer's dataset is empty")
    path = folder / "tokenizer.json"
    train_tokenizer(texts, vocab_size, path)
    return {"tokenizer": str(path), "sha256": tokenizer_sha256(path), "documents": len(texts),
            "vocab_size": vocab_size}


def tokenize_arm(folder: Path, documents: list[str], tokenizer: str, seq_len: int, arm: ArmSpec,
                 seed: int) -> dict[str, Any]:
    """Pack and shuffle an arm's documents; MeCo arms get URL prefixes and a cooldown pool."""
    import shutil

    from gristmill.tokenize.meco import MecoConfig
    from gristmill.tokenize.pipeline import tokenize_corpus

    out = folder / "tokens"
    shutil.rmtree(out, ignore_errors=True)  # an interrupted tokenization restarts (minutes at most)
    meco = MecoConfig(mode=arm.meco_mode, cooldown_fraction=arm.cooldown_fraction) if arm.meco else None
    index = tokenize_corpus(documents, tokenizer, seq_len, out, meco=meco, chunks=4, seed=seed)
    totals = index["totals"]
    return {"tokens_dir": str(out), "documents": totals["documents"], "tokens": totals["tokens"],
            "sequences": totals["sequences"]}


# -- training and evaluation ------------------------------------------------------------------

def steps_for(train: TrainSpec) -> int:
    from gristmill.train.scales import get_scale

    return math.ceil(train.tokens / get_scale(train.scale).tokens_per_step)


def train_arm(folder: Path, tokens_dir: str, train: TrainSpec, arm: ArmSpec, seed: int) -> dict[str, Any]:
    """Train the fixed recipe for the experiment's token budget (a kill resumes from the last
    checkpoint; a quarter of the run is the most a kill loses)."""
    from gristmill.core.version import code_version
    from gristmill.train.scales import get_scale
    from gristmill.train.trainer import TrainOptions
    from gristmill.train.trainer import train as run_training

    run = folder / "run"
    steps = steps_for(train)
    last = run_training(get_scale(train.scale), TrainOptions(
        data=tokens_dir, out=str(run), meco=arm.meco, cooldown_fraction=arm.cooldown_fraction if arm.meco else None,
        resume=latest_checkpoint(run) is not None, max_steps=steps, checkpoint_every=max(1, steps // 4),
        device=train.device, precision=train.precision, compile=train.compile, seed=seed, quiet=True))
    return {"run": str(run), "steps": steps, "last": last, "code": code_version("train", "tokenize")}


def evaluate_arm(folder: Path, run: str, tasks: list[str], data_root: Path, limit: int | None,
                 allow_missing: bool = False) -> dict[str, Any]:
    """The evaluation suite on the trained model (MeCo models unconditioned, MeCo's default)."""
    from gristmill.evaluate.runner import evaluate, write_results
    from gristmill.train.load_model import load_language_model

    lm = load_language_model(run)
    doc = evaluate(lm, tasks, data_root, limit=limit, allow_missing=allow_missing)
    out = write_results(doc, folder / "results.json")
    metrics: dict[str, dict[str, float]] = {}
    for task, rec in doc["tasks"].items():
        for name, m in rec["metrics"].items():
            if name == rec["primary"] or name == "gold_logprob":
                metrics[f"{task}/{name}"] = {"value": m["value"], "se": m["se"],
                                             "higher_is_better": name == "gold_logprob" or rec["higher_is_better"]}
    return {"results": str(out), "metrics": metrics, "eval_seconds": doc["seconds"]}
