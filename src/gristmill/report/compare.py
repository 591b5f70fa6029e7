"""One page that compares training runs, as DCLM's leaderboard and LLM360's Analysis360 do:
a leaderboard with each run's lineage (curation recipe and its hash, dataset, scale, tokens)
and its scores with standard errors, and overlaid loss and evaluation curves.

Each PATH is a training run (its evaluations in ``RUN/evals/``, newest checkpoint per suite) or a
results file written by ``gristmill eval --out``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gristmill.core.errors import GristmillError
from gristmill.report.page import e, page, table, value_se
from gristmill.report.svg import line_chart
from gristmill.report.training import eval_results, is_training_run, read_jsonl


def _curation_lineage(input_path: str) -> dict[str, Any] | None:
    """The curation run an input file came from: a ``stats.json`` in one of its parent folders."""
    for parent in list(Path(input_path).parents)[:3]:
        stats = parent / "stats.json"
        if stats.is_file():
            try:
                doc = json.loads(stats.read_text())
            except ValueError:
                return None
            if "recipe_hash" in doc:
                return {"recipe": doc.get("recipe"), "recipe_hash": doc["recipe_hash"], "run": str(parent)}
    return None


def lineage(run: Path | None) -> dict[str, Any]:
    """Scale, tokens, dataset and curation recipe of a training run (what is known of it)."""
    if run is None or not (run / "config.json").is_file():
        return {}
    config = json.loads((run / "config.json").read_text())
    data = Path(config.get("data", {}).get("path", ""))
    out: dict[str, Any] = {"scale": config.get("scale", {}).get("name"), "dataset": data.name or str(data),
                           "tokens_budget": config.get("schedule", {}).get("total_steps", 0)
                           * config.get("schedule", {}).get("tokens_per_step", 0)}
    index = data / "index.json"
    if index.is_file():
        inputs = json.loads(index.read_text()).get("inputs", [])
        out["inputs"] = [Path(i["path"]).name for i in inputs]
        recipes = [r for r in (_curation_lineage(i["path"]) for i in inputs) if r]
        if recipes:
            out["recipe"] = ", ".join(sorted({str(r["recipe"]) for r in recipes}))
            out["recipe_hash"] = ", ".join(sorted({r["recipe_hash"][:12] for r in recipes}))
    return out


def _entry(path: Path) -> dict[str, Any]:
    """A leaderboard entry: name, run folder, results (latest per suite), metrics log."""
    if is_training_run(path):
        docs = [group[-1] for group in eval_results(path).values()]
        return {"name": path.name, "run": path, "docs": docs, "groups": eval_results(path),
                "metrics": read_jsonl(path / "metrics.jsonl")}
    if path.is_file() and path.suffix == ".json":
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            raise GristmillError(f"{path}: not a JSON results file ({exc})") from exc
        if not str(doc.get("format", "")).startswith("gristmill-eval"):
            raise GristmillError(f"{path}: not a gristmill eval results file")
        run = doc["model"].get("run")
        return {"name": path.stem, "run": Path(run) if run else None, "docs": [doc], "groups": {}, "metrics": []}
    raise GristmillError(f"{path} is neither a training run folder nor a gristmill eval results file")


def leaderboard(entries: list[dict[str, Any]]) -> str:
    aggs: list[str] = []
    tasks: list[tuple[str, str]] = []
    for ent in entries:
        for doc in ent["docs"]:
            aggs += [a for a in doc.get("aggregates", {}) if a not in aggs]
            tasks += [(n, r["primary"]) for n, r in doc["tasks"].items() if (n, r["primary"]) not in tasks]
    header = ["run", "recipe", "recipe hash", "dataset", "scale", "tokens", *[e(a) for a in aggs],
              *[f"{e(n)}<br><span class=muted>{e(k)}</span>" for n, k in tasks]]
    rows = []
    for ent in entries:
        lin = lineage(ent["run"])
        merged_tasks: dict[str, Any] = {}
        merged_aggs: dict[str, Any] = {}
        tokens = None
        for doc in ent["docs"]:
            merged_tasks |= doc["tasks"]
            merged_aggs |= doc.get("aggregates", {})
            tokens = doc["model"].get("tokens_seen", tokens)
        row: list[Any] = [e(ent["name"]), e(lin.get("recipe", "-")), f'<code>{e(lin.get("recipe_hash", "-"))}</code>',
                          e(lin.get("dataset", "-")), e(lin.get("scale", "-")),
                          (f"{tokens:,}" if tokens else "-", tokens or 0)]
        for a in aggs:
            cell = value_se(merged_aggs.get(a))
            if merged_aggs.get(a, {}).get("partial"):
                cell = (cell[0] + ' <span class="bad">partial</span>', cell[1])
            row.append(cell)
        row += [value_se((merged_tasks.get(n) or {}).get("metrics", {}).get(k)) for n, k in tasks]
        rows.append(row)
    return table(header, rows, sortable=True, cls="leaderboard")


def overlays(entries: list[dict[str, Any]]) -> str:
    charts = []
    loss = {ent["name"]: [(float(m["tokens"]), float(m["loss"])) for m in ent["metrics"] if m.get("loss") is not None]
            for ent in entries if ent["metrics"]}
    if loss:
        charts.append(line_chart(loss, "Training loss", "tokens", "nats/token"))
    tasks: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for ent in entries:
        for docs in ent["groups"].values():
            for doc in docs:
                for name, rec in doc["tasks"].items():
                    x = float(doc["model"].get("tokens_seen") or 0)
                    tasks.setdefault(name, {}).setdefault(ent["name"], []).append(
                        (x, rec["metrics"][rec["primary"]]["value"]))
    for name, series in tasks.items():
        if len(series) > 1:
            charts.append(line_chart(series, name, "tokens seen", "primary metric"))
    return f'<div class="charts">{"".join(charts)}</div>' if charts else ""


def _names(paths: list[Path]) -> list[str]:
    """Short distinct names: the folder or file name, with as many parent folders as it takes."""
    for depth in range(1, 8):
        names = ["/".join(p.resolve().with_suffix("").parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def render_comparison(paths: list[Path]) -> str:
    entries = [_entry(p) | {"name": name} for p, name in zip(paths, _names(paths), strict=True)]
    body = (f"<h1>Comparison of {len(entries)} runs</h1>"
            "<p>Scores are the newest checkpoint's figures ± standard error (click a header to sort). "
            "CORE is DCLM's mean centered accuracy (v1 and v2 random baselines); "
            "<span class=bad>partial</span> marks an aggregate with tasks missing.</p>"
            f"<h2>Leaderboard</h2>{leaderboard(entries)}<h2>Curves</h2>{overlays(entries)}")
    return page(f"gristmill comparison of {len(entries)} runs", body)
