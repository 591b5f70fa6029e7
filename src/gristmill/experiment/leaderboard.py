"""The leaderboard: per arm, each metric's mean ± standard error over seeds; per question,
each arm's difference from the question's baseline paired by seed, with a 95% interval; and
each row's lineage (recipe hash, pool, documents and tokens kept, epochs, decontamination,
scale, code version, seconds per stage).

Pairing by seed removes what the seed does to both arms alike (initialisation), the noise
that dominates comparisons of tiny models. A difference is marked real when its 95% interval
(Student's t with seeds - 1 degrees of freedom) excludes zero; with 3 seeds t is 4.30, so only
consistent differences pass. DCLM compares arms at one seed and reports a ±0.5-1 point spread
on CORE across seeds (dclm.md §7); the small suite here is far noisier per item.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gristmill.evaluate.stats import mean_se
from gristmill.io.atomic import write_atomic
from gristmill.report.page import e, page, table

if TYPE_CHECKING:
    from gristmill.experiment.runner import Experiment

# Two-sided 95% Student t quantiles t(0.975, df) for df = 1..30 (any statistics table).
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)


def t975(df: int) -> float:
    return T975[df - 1] if 1 <= df <= len(T975) else 1.96


def paired(diffs: list[float], higher_is_better: bool) -> dict[str, Any]:
    """Mean paired difference, its 95% t interval and the verdict."""
    m = mean_se(diffs)
    half = t975(m["n"] - 1) * m["se"] if m["n"] > 1 else float("nan")
    lo, hi = m["value"] - half, m["value"] + half
    if m["n"] < 2 or lo != lo:
        verdict = "one seed: no interval"
    elif m["se"] <= 1e-12 * max(1.0, abs(m["value"])):
        # Every seed moved by the same amount (e.g. one item of 100 on an accuracy): a t interval
        # of width zero would call it certain, but there is no spread to test it against.
        verdict = "same in every seed: no spread to test"
    elif lo > 0 or hi < 0:
        better = (m["value"] > 0) == higher_is_better
        verdict = "better" if better else "worse"
    else:
        verdict = "no difference shown"
    return {**m, "ci95": [lo, hi], "verdict": verdict, "per_seed": diffs}


def _lineage(exp: Experiment, arm: str) -> dict[str, Any]:
    a = exp.spec.arms[arm]
    ds = exp.spec.datasets[a.dataset]
    data = exp.dataset_stage(a.dataset).result()
    tokens = exp.tokens_stage(arm).result()
    decon = exp.decontam_stage(a.dataset).result() if exp.spec.decontaminate is not None else None
    seeds = range(exp.spec.train.seeds)
    trains = [exp.train_stage(arm, s).result() for s in seeds]
    evals = [exp.eval_stage(arm, s).result() for s in seeds]
    chain, name = [], a.dataset
    while name is not None:  # the dataset and the datasets it was computed from
        chain.append(exp.dataset_stage(name).result()["seconds"])
        parent = exp.parent_dataset(exp.spec.datasets[name])
        name = parent.name if parent else None
    return {
        "dataset": a.dataset, "recipe": ds.recipe_name, "recipe_hash": ds.recipe.hash,
        "overrides": ds.overrides, "meco": a.meco and {"mode": a.meco_mode, "cooldown": a.cooldown_fraction},
        "pool": {"files": len(exp.pool_files()), "key": exp.pool_stage().hash[:12]},
        "records_in": data["input_records"], "documents_kept": data["kept"],
        "tokens_main": tokens["tokens"]["main"], "epochs": round(exp.epochs(arm, tokens), 3),
        "budget_tokens": exp.spec.train.tokens, "scale": exp.scale.name,
        "decontamination": decon and {k: decon[k] for k in ("items", "dirty", "dirty_rate", "worst_task", "worst_dirty_rate")},
        "code": trains[0].get("code"),
        "seconds": {"curation": round(sum(chain), 1), "tokenize": tokens["seconds"],
                    "train": round(sum(t["seconds"] for t in trains), 1),
                    "eval": round(sum(v["seconds"] for v in evals), 1)},
        "stage_keys": {"dataset": exp.dataset_stage(a.dataset).hash[:12], "tokens": exp.tokens_stage(arm).hash[:12]},
    }


def build_leaderboard(exp: Experiment) -> dict[str, Any]:
    """Gather every arm's evaluations into the leaderboard document, written as
    ``leaderboard.json`` and ``leaderboard.html`` in the work folder."""
    seeds = list(range(exp.spec.train.seeds))
    per_seed: dict[str, dict[str, list[float]]] = {}
    direction: dict[str, bool] = {}
    for arm in exp.spec.arms:
        per_seed[arm] = {}
        for s in seeds:
            for metric, m in exp.eval_stage(arm, s).result()["metrics"].items():
                per_seed[arm].setdefault(metric, []).append(m["value"])
                direction[metric] = m["higher_is_better"]
    metrics = sorted(direction)
    arms = {arm: {"metrics": {m: mean_se(v) for m, v in per_seed[arm].items()}, "lineage": _lineage(exp, arm)}
            for arm in exp.spec.arms}
    questions = []
    for q in exp.spec.questions:
        base = q.arms[0]
        comparisons = {}
        for arm in q.arms[1:]:
            comparisons[arm] = {m: paired([x - y for x, y in zip(per_seed[arm][m], per_seed[base][m], strict=True)],
                                          direction[m]) for m in metrics}
        questions.append({"name": q.name, "baseline": base, "arms": list(q.arms), "differences": comparisons})
    doc = {"experiment": exp.spec.name, "source": str(exp.spec.source), "seeds": seeds, "metrics": metrics,
           "higher_is_better": direction, "arms": arms, "questions": questions,
           "scale": exp.scale.to_dict(), "budget_tokens": exp.spec.train.tokens,
           "eval": {"tasks": exp.eval_tasks, "limit": exp.spec.evaluate.get("limit")}}
    work = exp.cache.work
    write_atomic(work / "leaderboard.json", (json.dumps(doc, indent=1) + "\n").encode())
    write_atomic(work / "leaderboard.html", render_html(doc).encode())
    return doc


def _fmt(m: dict[str, Any], digits: int = 3) -> str:
    se = m.get("se")
    return f"{m['value']:.{digits}f}" + (f"±{se:.{digits}f}" if se == se and se is not None else "")


def _short(metric: str) -> str:
    task, name = metric.split("/", 1) if "/" in metric else (metric, "")
    return {"accuracy": task, "gold_logprob": f"{task} lp", "bits_per_byte": "bpb", "target_nll": f"{task} nll"}.get(name, metric)


def render_text(doc: dict[str, Any]) -> str:
    """The terminal leaderboard: arms × metrics, then each question's paired differences."""
    metrics = doc["metrics"]
    lines = [f"experiment {doc['experiment']}: {doc['scale']['name']}, {doc['budget_tokens']:,} tokens per arm, "
             f"{len(doc['seeds'])} seeds (mean±SE over seeds; ↑/↓ = higher/lower is better)"]
    head = ["arm", "docs", "tokens", "epochs"] + [_short(m) + ("↑" if doc["higher_is_better"][m] else "↓") for m in metrics]
    rows = [head]
    for arm, rec in doc["arms"].items():
        lin = rec["lineage"]
        rows.append([arm, f"{lin['documents_kept']:,}", f"{lin['tokens_main']:,}", f"{lin['epochs']:.2f}"]
                    + [_fmt(rec["metrics"][m]) for m in metrics])
    lines += _columns(rows)
    for q in doc["questions"]:
        lines.append("")
        lines.append(f"question: {q['name']} (paired by seed against {q['baseline']}; 95% t interval)")
        for arm, diffs in q["differences"].items():
            real = [f"{_short(m)} {d['value']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] {d['verdict']}"
                    for m, d in diffs.items() if d["verdict"] in ("better", "worse")]
            lines.append(f"  {arm} - {q['baseline']}: " + ("; ".join(real) if real else "no difference shown on any metric"))
    lines += ["", chance_line(doc)]
    return "\n".join(lines)


def chance_line(doc: dict[str, Any]) -> str:
    """How many intervals exclude zero against how many would by chance (5% of them): with
    many metrics per comparison, a few "real" differences are expected from noise alone."""
    verdicts = [d["verdict"] for q in doc["questions"] for diffs in q["differences"].values() for d in diffs.values()]
    real = sum(v in ("better", "worse") for v in verdicts)
    return (f"{real} of {len(verdicts)} intervals exclude zero; about {0.05 * len(verdicts):.1f} would by chance "
            "alone (no correction for multiple comparisons)")


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in rows]


def render_html(doc: dict[str, Any]) -> str:
    metrics = doc["metrics"]
    head = ["arm", "dataset", "docs kept", "tokens", "epochs"] + [e(_short(m)) for m in metrics]
    rows = []
    for arm, rec in doc["arms"].items():
        lin = rec["lineage"]
        rows.append([e(arm), e(lin["dataset"]), (f"{lin['documents_kept']:,}", lin["documents_kept"]),
                     (f"{lin['tokens_main']:,}", lin["tokens_main"]), (f"{lin['epochs']:.2f}", lin["epochs"])]
                    + [(e(_fmt(rec["metrics"][m], 4)), rec["metrics"][m]["value"]) for m in metrics])
    body = [f"<h1>Experiment {e(doc['experiment'])}</h1>",
            f"<p>{e(doc['scale']['name'])}, {doc['budget_tokens']:,} tokens per arm, seeds {e(doc['seeds'])}; "
            "mean ± standard error over seeds.</p>", table(head, rows, sortable=True)]
    for q in doc["questions"]:
        body.append(f"<h2>{e(q['name'])}</h2><p>Differences from <b>{e(q['baseline'])}</b>, paired by seed, "
                    "95% Student-t interval; <b>bold</b> where the interval excludes zero.</p>")
        qrows = []
        for arm, diffs in q["differences"].items():
            for m, d in diffs.items():
                cell = f"{d['value']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]"
                real = d["verdict"] in ("better", "worse")
                qrows.append([e(arm), e(_short(m)), (f"<b>{cell}</b>" if real else e(cell), d["value"]), e(d["verdict"])])
        body.append(table(["arm", "metric", "difference [95% CI]", "verdict"], qrows, sortable=True))
    body.append(f"<p>{e(chance_line(doc))}.</p><h2>Lineage</h2>")
    lrows = [[e(arm), f"<pre>{e(json.dumps(rec['lineage'], indent=1))}</pre>"] for arm, rec in doc["arms"].items()]
    body.append(table(["arm", "lineage"], lrows))
    return page(f"experiment {doc['experiment']}", "".join(body))


def load_leaderboard(work: Path) -> dict[str, Any]:
    return json.loads((work / "leaderboard.json").read_text())
