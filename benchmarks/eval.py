"""Evaluation speed: gristmill against lm-evaluation-harness on the same model and task, and
memorization analysis against a bare batched greedy-decode loop of the same model.

A model of a CPU scale is trained for a few steps on real Wikipedia text (its quality does not
matter for speed) and exported to Hugging Face form. Then, alternating, best of ``--repeats``:

* items/s on ARC-Easy zero-shot (``--items`` questions, 4 choices each): lm-eval's ``hf`` model
  (a pre-loaded ``HFLM``, batch 32) through ``simple_evaluate`` on a local task YAML, against
  gristmill scoring the export (the same transformers model) and the native checkpoint;
* tokens/s of ``analyze_memorization`` (k = l = 32, data sampling and bookkeeping included)
  against a plain loop over the same prompts: forward, arg-max of the last position, append.

    python benchmarks/eval.py [--scale cpu-2m] [--items 200] [--samples 64] [--repeats 2]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gristmill.evaluate.icl import score_task, task_metrics
from gristmill.evaluate.memorization import K, L, analyze_memorization, chunk_probes
from gristmill.evaluate.small import ZERO_SHOT
from gristmill.tokenize import TokenDataset, tokenize_corpus, train_tokenizer
from gristmill.train.export import export_checkpoint
from gristmill.train.load_model import load_language_model
from gristmill.train.scales import get_scale
from gristmill.train.trainer import TrainOptions, train

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WIKI = SHARED / "web/more/wikipedia-00000.jsonl.gz"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def build_model(root: Path, scale_name: str, steps: int) -> Path:
    scale = get_scale(scale_name)
    with gzip.open(WIKI, "rt") as fh:
        texts = [json.loads(line)["text"] for line in itertools.islice(fh, 400)]
    docs = root / "wiki.jsonl"
    docs.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
    tok = root / "bpe.json"
    train_tokenizer(texts, scale.vocab_size, tok)
    tokenize_corpus([str(docs)], tok, scale.seq_len, root / "tokens", chunks=2)
    train(scale, TrainOptions(data=str(root / "tokens"), out=str(root / "run"), max_steps=steps, quiet=True))
    return root / "run"


def lm_eval_items_per_s(hf: Path, items: int, root: Path) -> float:
    os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                      HF_DATASETS_CACHE=str(root / "hf-cache"), TOKENIZERS_PARALLELISM="false")
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from test_eval_lmeval import lm_eval_task_yamls

    tasks = lm_eval_task_yamls(root, SHARED)[:1]
    model = HFLM(pretrained=str(hf), batch_size=32, device="cpu", dtype="float32")
    manager = TaskManager(include_path=str(root))
    lm_eval.simple_evaluate(model=model, tasks=tasks, task_manager=manager, limit=4)  # warm caches
    started = time.perf_counter()
    lm_eval.simple_evaluate(model=model, tasks=tasks, task_manager=manager, limit=items)
    return items / (time.perf_counter() - started)


def gristmill_items_per_s(path: Path, items: int) -> float:
    lm = load_language_model(path)
    task = ZERO_SHOT["arc_easy_zeroshot"]
    score_task(lm, task, SHARED, limit=4)
    started = time.perf_counter()
    task_metrics(task, score_task(lm, task, SHARED, limit=items), lm.vocab_size)
    return items / (time.perf_counter() - started)


def bare_decode_tokens_per_s(run: Path, samples: int) -> float:
    """The reference: the same model, the same prompts, a plain batched greedy loop."""
    lm = load_language_model(run)
    config = json.loads((run / "config.json").read_text())
    probes = chunk_probes(TokenDataset(config["data"]["path"]), samples, K, L)
    prompts = torch.from_numpy(np.concatenate([p.prompts for p in probes]))
    model, rows = lm.module, max(1, 16384 // (K + L))
    started = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(prompts), rows):
            seq = prompts[lo : lo + rows]
            for _ in range(L):
                nxt = model(seq)[:, -1].argmax(dim=-1)
                seq = torch.cat([seq, nxt[:, None]], dim=1)
    return len(prompts) * L / (time.perf_counter() - started)


def memorization_tokens_per_s(run: Path, samples: int) -> float:
    started = time.perf_counter()
    doc = analyze_memorization(run, samples=samples)
    n = sum(r["token_match"]["n"] for c in doc["checkpoints"] for r in c["chunks"] + c["canaries"])
    return n * L / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="cpu-2m")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--samples", type=int, default=64, help="memorization rows per chunk")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = build_model(root, args.scale, args.steps)
        hf = export_checkpoint(run, root / "hf")
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, fn in (("lm-eval (hf)", lambda: lm_eval_items_per_s(hf, args.items, root)),
                             ("gristmill (hf export)", lambda: gristmill_items_per_s(hf, args.items)),
                             ("gristmill (checkpoint)", lambda: gristmill_items_per_s(run, args.items)),
                             ("bare greedy loop", lambda: bare_decode_tokens_per_s(run, args.samples)),
                             ("analyze memorization", lambda: memorization_tokens_per_s(run, args.samples))):
                best[name] = max(best.get(name, 0.0), fn())
    print(f"== eval: {args.scale}, ARC-Easy 0-shot, {args.items} items x 4 choices, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}")
    for name in ("lm-eval (hf)", "gristmill (hf export)", "gristmill (checkpoint)"):
        print(f"{name:24s} {best[name]:10.1f} items/s  ({best[name] / best['lm-eval (hf)']:.2f}x lm-eval)")
    print(f"== memorization: k = l = {K}, {args.samples} rows per chunk")
    for name in ("bare greedy loop", "analyze memorization"):
        print(f"{name:24s} {best[name]:10.1f} tokens/s  ({best[name] / best['bare greedy loop']:.2f}x bare loop)")


if __name__ == "__main__":
    main()
