"""``--dry-run``: what an experiment would run or reuse, its tokens and epochs, and the time
it would take on this machine.

Training time comes from a measurement taken now: a few optimiser steps of the scale's model on
random tokens (`measure_train_rate`), the same forward, backward and AdamW the trainer runs. A
DCLM scale (hundreds of millions of parameters) is not measured on a CPU: its estimate is its
training FLOPs (6·N·D) on an assumed accelerator and utilisation, printed as an assumption.
Curation and evaluation times come from the stages this work folder has already finished
(``timings.json``); before any, they are marked unmeasured.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gristmill.experiment.stages import steps_for

if TYPE_CHECKING:
    from gristmill.experiment.runner import Experiment

#: What a GPU estimate assumes: 8 H100s at 989 dense bf16 TFLOP/s each and 40% utilisation
#: (DCLM's open_lm runs report 40-50% MFU at 400M-7B, dclm.md §7).
GPU_ASSUMPTION = {"gpus": 8, "peak_tflops": 989.0, "mfu": 0.40}
CPU_MEASURABLE_PARAMS = 50_000_000


def measure_train_rate(exp: Experiment, steps: int = 3) -> float:
    """Training tokens per second of the experiment's scale on this machine, measured now."""
    import torch

    from gristmill.train.model import Transformer

    scale = exp.scale
    torch.set_flush_denormal(True)  # as the trainer does: denormals slow CPU matmuls ~10x
    torch.manual_seed(0)
    model = Transformer(scale.model_config(scale.vocab_size))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    micro = min(scale.global_batch, 16)
    x = torch.randint(0, scale.vocab_size, (micro, scale.seq_len + 1))

    def step() -> None:
        logits = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up (allocations, kernels)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * micro * scale.seq_len / (time.perf_counter() - started)


def _timings(exp: Experiment) -> dict[str, list[float]]:
    """Seconds of finished stages in this work folder, by kind (curation per record)."""
    out: dict[str, list[float]] = {"datasets_per_record": [], "eval": [], "train_tokens_per_s": []}
    for done in exp.cache.work.glob("*/*/done.json"):
        rec = json.loads(done.read_text())
        kind = done.parent.parent.name
        if kind == "datasets" and rec.get("input_records"):
            out["datasets_per_record"].append(rec["seconds"] / rec["input_records"])
        elif kind == "eval":
            out["eval"].append(rec["seconds"])
        elif kind == "train" and rec.get("seconds"):
            out["train_tokens_per_s"].append(rec["steps"] * exp.scale.tokens_per_step / rec["seconds"])
    return out


def _median(values: list[float]) -> float | None:
    return sorted(values)[len(values) // 2] if values else None


def build_plan(exp: Experiment, *, measure: bool = True) -> dict[str, Any]:
    """Every stage with its folder and whether it would run or be reused, and the estimates."""
    spec = exp.spec
    stages: list[dict[str, Any]] = []

    def add(stage, label: str) -> None:
        stages.append({"stage": label, "folder": str(stage.folder), "reuse": stage.done})

    if spec.download is not None:
        add(exp.pool_stage(), f"download {spec.download.files} {spec.download.kind} file(s) of {spec.download.crawl}")
    for name in spec.datasets:
        add(exp.dataset_stage(name), f"dataset {name}")
    for name in spec.classifiers:
        add(exp.classifier_stage(name), f"classifier {name}")
    if spec.decontaminate is not None:
        for name in spec.datasets:
            add(exp.decontam_stage(name), f"decontamination {name}")
    add(exp.tokenizer_stage(), "tokenizer")
    arms = {}
    for arm in spec.arms:
        tokens = exp.tokens_stage(arm)
        add(tokens, f"tokens {arm}")
        epochs = exp.epochs(arm, tokens.result()) if tokens.done else None
        arms[arm] = {"dataset": spec.arms[arm].dataset, "meco": spec.arms[arm].meco, "tokens": spec.train.tokens,
                     "epochs": epochs}
        for seed in range(spec.train.seeds):
            add(exp.train_stage(arm, seed), f"train {arm} seed {seed}")
            add(exp.eval_stage(arm, seed), f"eval {arm} seed {seed}")
    from gristmill.evaluate.runner import check_available

    missing = check_available(exp.eval_tasks, exp.data_root(), allow_missing=True)
    plan = {"experiment": spec.name, "eval_tasks": exp.eval_tasks, "eval_missing": missing,
            "allow_missing": bool(spec.evaluate.get("allow_missing", False)), "scale": exp.scale.to_dict(), "seeds": spec.train.seeds,
            "budget_tokens": spec.train.tokens, "steps": steps_for(spec.train), "arms": arms, "stages": stages,
            "pool_files": len(exp.pool_files())}
    plan["estimate"] = estimate(exp, plan, measure=measure)
    return plan


def estimate(exp: Experiment, plan: dict[str, Any], *, measure: bool) -> dict[str, Any]:
    spec = exp.spec
    history = _timings(exp)
    todo = [s["stage"] for s in plan["stages"] if not s["reuse"]]
    trains = sum(1 for s in todo if s.startswith("train "))
    evals = sum(1 for s in todo if s.startswith("eval "))
    curations = sum(1 for s in todo if s.startswith("dataset "))
    tokens = trains * spec.train.tokens
    est: dict[str, Any] = {"train_runs": trains, "eval_runs": evals, "datasets": curations}
    if exp.scale.params > CPU_MEASURABLE_PARAMS:
        g = GPU_ASSUMPTION
        flops = 6 * exp.scale.params * tokens
        est["train_seconds"] = flops / (g["gpus"] * g["peak_tflops"] * 1e12 * g["mfu"])
        est["train_basis"] = (f"not measurable on this CPU: 6·N·D = {flops:.3g} FLOPs on an assumed "
                              f"{g['gpus']}×H100 at {g['mfu']:.0%} MFU")
    else:
        measured = _median(history["train_tokens_per_s"])
        basis = "finished runs in this work folder"
        if measured is None and measure and trains:
            measured = measure_train_rate(exp)
            basis = "a few steps measured now (no compile, fp32)"
        if measured:
            est["train_tokens_per_s"] = round(measured, 1)
            est["train_seconds"] = tokens / measured
            est["train_basis"] = basis
    per_eval = _median(history["eval"])
    if per_eval is not None:
        est["eval_seconds"] = evals * per_eval
    per_record = _median(history["datasets_per_record"])
    if per_record is not None and curations:
        est["curation_seconds"] = curations * per_record * _records_guess(exp)
    parts = [est.get(k) for k in ("train_seconds", "eval_seconds", "curation_seconds")]
    est["total_seconds"] = sum(p for p in parts if p)
    est["unmeasured"] = [k.split("_")[0] for k, n in (("curation_seconds", curations), ("eval_seconds", evals),
                                                      ("train_seconds", trains)) if n and k not in est]
    return est


def _records_guess(exp: Experiment) -> int:
    done = [p for p in exp.cache.work.glob("datasets/*/done.json")]
    counts = [json.loads(p.read_text()).get("input_records", 0) for p in done]
    return max(counts) if counts else 0


def render_plan(plan: dict[str, Any]) -> str:
    s = plan["scale"]
    lines = [f"experiment {plan['experiment']}: scale {s['name']} ({s['params']:,} params, seq {s['seq_len']}), "
             f"{plan['budget_tokens']:,} tokens = {plan['steps']} steps per arm and seed, {plan['seeds']} seed(s), "
             f"pool {plan['pool_files']} file(s)", "", "arms:"]
    for arm, a in plan["arms"].items():
        ep = f"{a['epochs']:.2f} epochs" if a["epochs"] is not None else "epochs known after tokenization"
        lines.append(f"  {arm:<22} dataset {a['dataset']:<16} {'MeCo ' if a['meco'] else ''}{a['tokens']:,} tokens, {ep}"
                     + ("  (repeats data)" if a["epochs"] and a["epochs"] > 1 else ""))
    lines.append(f"evaluation: {len(plan['eval_tasks'])} task(s)")
    if plan["eval_missing"]:
        lines.append(f"  missing here: {', '.join(plan['eval_missing'])} -> "
                     + ("reported partial (allow_missing)" if plan["allow_missing"] else
                        "the evaluation stage would FAIL (set evaluate.allow_missing: true for a partial suite)"))
    lines += ["", "stages:"]
    for st in plan["stages"]:
        lines.append(f"  {'reuse' if st['reuse'] else 'run  '}  {st['stage']}")
    est = plan["estimate"]
    lines.append("")
    todo = sum(1 for st in plan["stages"] if not st["reuse"])
    lines.append(f"{todo} of {len(plan['stages'])} stages to run")
    if "train_seconds" in est:
        rate = f" at {est['train_tokens_per_s']:,.0f} tokens/s" if "train_tokens_per_s" in est else ""
        lines.append(f"training: {est['train_runs']} run(s), ~{est['train_seconds'] / 60:.1f} min{rate} ({est['train_basis']})")
    if "eval_seconds" in est:
        lines.append(f"evaluation: {est['eval_runs']} run(s), ~{est['eval_seconds'] / 60:.1f} min (finished evaluations here)")
    if "curation_seconds" in est:
        lines.append(f"curation: {est['datasets']} dataset(s), ~{est['curation_seconds'] / 60:.1f} min (finished datasets here)")
    if est["unmeasured"]:
        lines.append(f"not yet measured on this machine: {', '.join(est['unmeasured'])} (the first run records them)")
    lines.append(f"estimated time: ~{est['total_seconds'] / 60:.1f} min" + (" + unmeasured stages" if est["unmeasured"] else ""))
    return "\n".join(lines)


def write_plan(plan: dict[str, Any], work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")
