"""The HTML report of a training run (LLM360 Analysis360 style): what the run was, its loss,
learning-rate and gradient-norm curves, evaluation curves over checkpoints and the memorization
heatmap, all read from the run folder (config.json, metrics.jsonl, checkpoints/, evals/,
analysis/memorization.json).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gristmill.report.page import e, page, table, value_se
from gristmill.report.svg import heatmap, line_chart

MAX_POINTS = 1500  # per curve; longer logs are thinned evenly (the last point is always kept)
EVAL_FILE = re.compile(r"^(step-\d+)\.(.+)\.json$")


def is_training_run(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "metrics.jsonl").is_file()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                break  # a line cut by a kill ends the log
    return out


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    stride = len(points) / MAX_POINTS
    return [points[int(i * stride)] for i in range(MAX_POINTS)] + [points[-1]]


def metric_curves(metrics: list[dict[str, Any]]) -> str:
    def series(key: str) -> list[tuple[float, float]]:
        return _thin([(m["step"], float(m[key])) for m in metrics if m.get(key) is not None])

    charts = [line_chart({"loss": series("loss"), "cross-entropy": series("ce")}, "Training loss", "step", "nats/token"),
              line_chart({"lr": series("lr")}, "Learning rate", "step", "learning rate"),
              line_chart({"grad norm": series("grad_norm")}, "Gradient norm (before clipping)", "step", "L2 norm"),
              line_chart({"tokens/s": series("tokens_per_s")}, "Throughput", "step", "tokens/s")]
    return f'<div class="charts">{"".join(charts)}</div>'


def eval_results(run: Path) -> dict[str, list[dict[str, Any]]]:
    """Results documents in ``run/evals`` grouped by settings tag, oldest checkpoint first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((run / "evals").glob("step-*.json")):
        m = EVAL_FILE.match(path.name)
        if not m:
            continue
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            continue
        groups.setdefault(m.group(2), []).append(doc)
    for docs in groups.values():
        docs.sort(key=lambda d: d["model"].get("tokens_seen") or 0)
    return groups


def eval_curves(groups: dict[str, list[dict[str, Any]]]) -> str:
    """One chart per task (its primary figure against tokens seen, ± standard error, chance)."""
    if not groups:
        return '<p class="muted">No evaluations yet: <code>gristmill eval --all-checkpoints RUN</code>.</p>'
    parts = []
    for tag, docs in groups.items():
        charts = []
        names = list(docs[-1]["tasks"])
        for name in names:
            recs = [(d["model"].get("tokens_seen") or 0, d["tasks"][name]) for d in docs if name in d["tasks"]]
            key = recs[-1][1]["primary"]
            pts = [(float(x), r["metrics"][key]["value"]) for x, r in recs]
            err = [r["metrics"][key].get("se") or 0.0 for _, r in recs]
            charts.append(line_chart({key: pts}, f"{name}", "tokens seen", key, bands={key: err},
                                     reference={"chance": recs[-1][1]["chance"][key]}))
        for agg in docs[-1].get("aggregates", {}):
            pts = [(float(d["model"].get("tokens_seen") or 0), d["aggregates"][agg]["value"]) for d in docs
                   if d.get("aggregates", {}).get(agg, {}).get("value") is not None]
            if pts:
                charts.append(line_chart({agg: pts}, agg.upper().replace("_", " "), "tokens seen", "centered accuracy",
                                         reference={"chance": 0.0}))
        parts.append(f'<h3>Suite <code>{e(tag)}</code> ({len(docs)} checkpoints)</h3><div class="charts">'
                     f'{"".join(charts)}</div>')
    return "".join(parts)


def memorization_section(run: Path) -> str:
    path = run / "analysis" / "memorization.json"
    if not path.is_file():
        return '<p class="muted">No memorization analysis yet: <code>gristmill analyze memorization RUN</code>.</p>'
    doc = json.loads(path.read_text())
    ckpts = doc["checkpoints"]
    rows = [f'{c["checkpoint"]} ({c["tokens_seen"]:,} tok)' for c in ckpts]
    cols = [r["label"].replace("chunk ", "") for r in ckpts[0]["chunks"]] if ckpts else []
    matrix = [[r["token_match"]["value"] for r in c["chunks"]] for c in ckpts]
    marks = [[r["seen"] >= 1.0 for r in c["chunks"]] for c in ckpts]
    out = [f'<p>k = {doc["k"]}, l = {doc["l"]}, up to {doc["samples"]} rows per chunk. Mean position-wise match of '
           'greedy continuations; outlined cells are chunks the checkpoint had fully trained on.</p>',
           heatmap(matrix, rows, cols, "Memorization score per (checkpoint, chunk)", "data chunk", "checkpoint",
                   marks=marks)]
    if ckpts and ckpts[0]["canaries"]:
        cmatrix = [[r["token_match"]["value"] for r in c["canaries"]] for c in ckpts]
        cmarks = [[bool(r["copies_seen"]) for r in c["canaries"]] for c in ckpts]
        ccols = [r["label"].replace("canary ", "c") for r in ckpts[0]["canaries"]]
        out.append(heatmap(cmatrix, rows, ccols, "Canaries: memorization score", "canary", "checkpoint", marks=cmarks))
        body = [[e(c["checkpoint"]), e(r["label"]), value_se(r["token_match"], 3), value_se(r["full_match"], 3),
                 (f'{r["copies_seen"]}/{r["copies"]}', r["copies_seen"])] for c in ckpts for r in c["canaries"]]
        out.append("<details><summary>Canary table</summary>"
                   + table(["checkpoint", "canary", "token match", "full match", "copies seen"], body) + "</details>")
    return "".join(out)


def run_summary(run: Path, config: dict[str, Any]) -> str:
    sched, model, scale = config.get("schedule", {}), config.get("model", {}), config.get("scale", {})
    code = config.get("code", {})
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("step-*"))
    rows = [["scale", e(scale.get("name"))], ["model", e(", ".join(f"{k} {v}" for k, v in model.items()))],
            ["schedule", e(f"{sched.get('total_steps')} steps, warmup {sched.get('warmup')}, "
                           f"{sched.get('tokens_per_step', 0):,} tokens/step, lr {sched.get('lr')}")],
            ["data", e(config.get("data", {}).get("path"))],
            ["code", e(f"gristmill {code.get('gristmill')} {code.get('git_commit', '')[:12]}"
                       f"{' (dirty)' if code.get('git_dirty') else ''}")],
            ["checkpoints", e(", ".join(ckpts) or "none")]]
    return table(["", ""], rows)


def render_training_report(run: Path) -> str:
    config = json.loads((run / "config.json").read_text())
    metrics = read_jsonl(run / "metrics.jsonl")
    last = metrics[-1] if metrics else {}
    body = (f"<h1>Training run <code>{e(run.name)}</code></h1>"
            f"<p>{e(str(run))}: {len(metrics):,} steps logged, {last.get('tokens', 0):,} tokens, "
            f"last loss {last.get('loss')}</p>{run_summary(run, config)}"
            f"<h2>Training curves</h2>{metric_curves(metrics)}"
            f"<h2>Evaluation over checkpoints</h2>{eval_curves(eval_results(run))}"
            f"<h2>Memorization</h2>{memorization_section(run)}")
    return page(f"gristmill training run: {run.name}", body)
