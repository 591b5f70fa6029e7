"""Run an evaluation suite on one model, or on every checkpoint of a run (LLM360 curves).

Results are one JSON document per (model, suite): the model (path, step, tokens seen), every
task's figures with standard errors and chance levels, and the aggregates: CORE (v1 and v2
baselines) when CORE tasks were run, EXTENDED over the DCLM tasks that are here. With a MeCo
``prefix`` (training.md §1.5) every task is run twice and reported with and without it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gristmill.core.errors import GristmillError
from gristmill.evaluate.icl import score_task, task_metrics
from gristmill.evaluate.small import SMALL_TASKS, run_small_task
from gristmill.evaluate.stats import aggregate, centered
from gristmill.evaluate.tasks import CORE_TASKS, EXTENDED_TASKS, TASKS, available, task_path
from gristmill.io.atomic import write_atomic
from gristmill.io.run_folder import CHECKPOINTS, STATE, read_state
from gristmill.train.lm import LanguageModel
from gristmill.train.load_model import load_language_model

FORMAT = "gristmill-eval/1"
EVALS_DIR = "evals"
DCLM_EXTENDED_SIZE = 53  # tasks in DCLM's eval_meta_data.csv

#: ``progress(label)`` returns the callback that advances that label's bar by finished sequences.
ProgressFactory = Callable[[str], Callable[[int], None]]


def check_available(names: list[str], data_root: Path, *, allow_missing: bool) -> list[str]:
    """Tasks whose files are missing. Fails (naming them) unless ``allow_missing``."""
    missing = [n for n in names if n in TASKS and not available(TASKS[n], data_root)]
    if missing and not allow_missing:
        where = ", ".join(str(task_path(TASKS[n], data_root)) for n in missing)
        raise GristmillError(
            f"missing task data for {', '.join(missing)} (looked for {where}); "
            "pass --allow-missing to report the rest, marked partial")
    return missing


def _run_tasks(lm: LanguageModel, names: list[str], data_root: Path, limit: int | None, prefix: str,
               progress: ProgressFactory | None) -> dict[str, Any]:
    out = {}
    for name in names:
        label = f"{name} (prefixed)" if prefix else name
        tick = progress(label) if progress else None
        started = time.perf_counter()
        if name in SMALL_TASKS:
            record = run_small_task(name, lm, data_root, limit=limit, prefix=prefix, progress=tick)
        else:
            task = TASKS[name]
            record = task_metrics(task, score_task(lm, task, data_root, limit=limit, prefix=prefix, progress=tick),
                                  lm.vocab_size)
            acc = record["metrics"]["accuracy"]
            record["centered"] = {v: dict(zip(("value", "se"), centered(acc["value"], acc["se"], b), strict=True))
                                  for v, b in (("v1", task.baseline_v1), ("v2", task.baseline_v2))}
            record |= {"shots": task.shots, "kind": task.kind, "category": task.category}
        record["seconds"] = round(time.perf_counter() - started, 3)
        out[name] = record
    return out


def aggregates(tasks: dict[str, Any], *, allow_missing: bool) -> dict[str, Any]:
    """CORE (over its 22 tasks) and EXTENDED (over the tasks here), each with v1 and v2 baselines."""
    out: dict[str, Any] = {}
    groups = []
    if any(n in tasks for n in CORE_TASKS):
        groups.append(("core", CORE_TASKS, allow_missing))
    if any(n in tasks for n in EXTENDED_TASKS):
        groups.append(("extended", EXTENDED_TASKS, True))
    for name, required, partial_ok in groups:
        present = [n for n in required if n in tasks]
        for v in ("v1", "v2"):
            entries = [(tasks[n]["centered"][v]["value"], tasks[n]["centered"][v]["se"]) for n in present]
            out[f"{name}_{v}"] = aggregate(entries, required, present, allow_missing=partial_ok)
        if name == "extended":
            for v in ("v1", "v2"):
                out[f"extended_{v}"] |= {"partial": True, "of": DCLM_EXTENDED_SIZE}
    return out


def model_info(lm: LanguageModel) -> dict[str, Any]:
    """Where the model came from and how far it trained (for curves and leaderboards)."""
    info: dict[str, Any] = {"source": lm.source, "kind": lm.kind, "max_len": lm.max_len, "vocab_size": lm.vocab_size}
    src = Path(lm.source)
    if lm.kind == "gristmill" and (src / STATE).is_file():
        state = read_state(src)
        info |= {"step": state.get("step"), "tokens_seen": state.get("tokens_seen"), "scale": state.get("scale"),
                 "checkpoint": src.name, "run": str(src.parent.parent)}
    elif (src / "gristmill_export.json").is_file():
        export = json.loads((src / "gristmill_export.json").read_text())
        info |= {k: export.get(k) for k in ("step", "tokens_seen", "scale")} | {"checkpoint": export.get("checkpoint")}
    return info


def evaluate(lm: LanguageModel, names: list[str], data_root: Path, *, limit: int | None = None, prefix: str = "",
             allow_missing: bool = False, progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Evaluate ``lm`` on the named tasks; the results document (see the module docstring)."""
    if limit is not None and limit < 1:
        raise GristmillError(f"--limit must be at least 1, got {limit}")
    missing = check_available(names, data_root, allow_missing=allow_missing)
    runnable = [n for n in names if n not in missing]
    started = time.perf_counter()
    tasks = _run_tasks(lm, runnable, data_root, limit, "", progress)
    doc: dict[str, Any] = {
        "format": FORMAT, "model": model_info(lm), "tasks_requested": names, "missing": missing,
        "limit": limit, "tasks": tasks, "aggregates": aggregates(tasks, allow_missing=allow_missing),
    }
    if prefix:
        prefixed = _run_tasks(lm, runnable, data_root, limit, prefix, progress)
        doc["prefixed"] = {"prefix": prefix, "tasks": prefixed,
                           "aggregates": aggregates(prefixed, allow_missing=allow_missing)}
    doc["seconds"] = round(time.perf_counter() - started, 3)
    return doc


def write_results(doc: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, (json.dumps(doc, indent=1, allow_nan=True) + "\n").encode())
    return out


def results_tag(spec: str, limit: int | None, prefix: str) -> str:
    """File-name tag of an evaluation's settings, so that other settings never skip it."""
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "+", spec.strip()) or "eval"
    if limit is not None:
        tag += f"-limit{limit}"
    if prefix:
        tag += "-prefix" + hashlib.sha256(prefix.encode()).hexdigest()[:8]
    return tag


def run_checkpoints(run: Path) -> list[Path]:
    """Every complete checkpoint of a run, oldest first."""
    folder = run / CHECKPOINTS
    found = sorted(p for p in folder.glob("step-*") if (p / STATE).is_file())
    if not found:
        raise GristmillError(f"{run} has no checkpoints (looked in {folder})")
    return found


def evaluate_all_checkpoints(run: Path, spec: str, names: list[str], data_root: Path, *, limit: int | None = None,
                             prefix: str = "", allow_missing: bool = False, device: str = "cpu", bf16: bool = False,
                             progress: ProgressFactory | None = None,
                             on_checkpoint: Callable[[Path, Path, bool], None] | None = None) -> list[Path]:
    """Evaluate every checkpoint of ``run`` into ``run/evals/<checkpoint>.<tag>.json``, skipping
    checkpoints whose results file is already there (LLM360's evaluation daemon, §2.1)."""
    check_available(names, data_root, allow_missing=allow_missing)
    tag = results_tag(spec, limit, prefix)
    written = []
    for ckpt in run_checkpoints(run):
        out = run / EVALS_DIR / f"{ckpt.name}.{tag}.json"
        done = out.is_file()
        if not done:
            lm = load_language_model(ckpt, device=device, bf16=bf16)
            doc = evaluate(lm, names, data_root, limit=limit, prefix=prefix, allow_missing=allow_missing,
                           progress=progress)
            write_results(doc | {"suite": spec}, out)
        if on_checkpoint:
            on_checkpoint(ckpt, out, done)
        written.append(out)
    return written
