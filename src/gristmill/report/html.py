"""A self-contained HTML report of a curation run: the funnel, drop reasons, errors, samples.

Reads only the run folder (stats.json, manifest.json, errors.jsonl, documents/), so it can be
regenerated at any time with `gristmill report RUN_DIR`.
"""

from __future__ import annotations

import html
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from gristmill.report.page import SCRIPT, STYLE

SAMPLE_DOCS = 5
SAMPLE_CHARS = 600
MAX_ERRORS = 100
SAMPLE_DROPPED = 3  # per (step, reason)
HISTOGRAM_DOCS = 5000  # kept documents read for score histograms

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
.bar{background:#4a7;height:.8em;display:inline-block}pre{white-space:pre-wrap;background:#f8f8f8;padding:.6em}
.bad{color:#b00}.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{border:1px solid #ddd}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _funnel(stats: dict[str, Any]) -> str:
    steps = stats["steps"]
    first = max(steps[0]["docs_in"], 1) if steps else 1
    rows = []
    for s in steps:
        width = int(300 * s["docs_out"] / first)
        reasons = ", ".join(f"{_e(r)}: {n:,}" for r, n in sorted(s["dropped"].items(), key=lambda kv: -kv[1]))
        # Step-specific counters (dedup clusters, paragraphs removed, ...) follow the reasons.
        extra = ", ".join(f"{_e(k)}: {v:,}" for k, v in s.get("extra", {}).items())
        if extra:
            reasons = f"{reasons}; {extra}" if reasons else extra
        rows.append(
            f"<tr><td>{_e(s['name'])}</td><td class=n>{s['docs_in']:,}</td><td class=n>{s['docs_out']:,}</td>"
            f"<td class=n>{s['docs_dropped']:,}</td><td class=n>{s['errors']:,}</td>"
            f"<td class=n>{s['bytes_out'] / 1e6:,.2f}</td><td><span class=bar style='width:{width}px'></span></td>"
            f"<td>{reasons}</td></tr>"
        )
    return (
        "<table><tr><th>step</th><th>docs in</th><th>docs out</th><th>dropped</th><th>errors</th>"
        "<th>MB out</th><th>survivors</th><th>drop reasons and counters</th></tr>" + "".join(rows) + "</table>"
    )


def _samples(run_dir: Path) -> str:
    from gristmill.io.readers import read_documents

    files = sorted((run_dir / "documents").glob("*.jsonl.zst"))
    parts = []
    for path in files:
        for doc in islice(read_documents(str(path)), SAMPLE_DOCS - len(parts)):
            if hasattr(doc, "text"):
                parts.append(f"<h3>{_e(doc.url or doc.id)}</h3><pre>{_e(doc.text[:SAMPLE_CHARS])}</pre>")
        if len(parts) >= SAMPLE_DOCS:
            break
    return "".join(parts) or "<p>no documents kept</p>"


def _dropped_samples(run_dir: Path) -> str:
    """A few removed documents per (step, reason), from ``--keep-dropped`` output."""
    from gristmill.io.readers import read_documents

    root = run_dir / "dropped"
    groups = sorted({p.parent for p in root.rglob("*.jsonl.zst")}) if root.is_dir() else []
    if not groups:
        return "<p>not kept (run with --keep-dropped to see removed documents per rule)</p>"
    parts = []
    for folder in groups:
        docs = []
        for path in sorted(folder.glob("*.jsonl.zst")):
            docs += [d for d in islice(read_documents(str(path)), SAMPLE_DROPPED - len(docs)) if hasattr(d, "text")]
            if len(docs) >= SAMPLE_DROPPED:
                break
        rule = "/".join(folder.relative_to(root).parts)
        items = "".join(f"<h4>{_e(d.url or d.id)}</h4><pre>{_e(d.text[:SAMPLE_CHARS])}</pre>" for d in docs)
        parts.append(f"<details><summary>{_e(rule)} ({len(docs)} shown)</summary>{items}</details>")
    return "".join(parts)


def _score_histograms(run_dir: Path) -> str:
    """Histograms of the numeric metadata (quality scores, ratios) of sampled kept documents."""
    from gristmill.io.readers import read_documents
    from gristmill.report.svg import histogram

    values: dict[str, list[float]] = {}
    seen = 0
    for path in sorted((run_dir / "documents").glob("*.jsonl.zst")):
        for doc in read_documents(str(path)):
            if seen >= HISTOGRAM_DOCS:
                break
            seen += 1
            for key, v in (getattr(doc, "metadata", None) or {}).items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    values.setdefault(key, []).append(float(v))
    charts = [histogram(v, key, key) for key, v in sorted(values.items()) if len(v) >= 10]
    return f'<div class="charts">{"".join(charts)}</div>' if charts else "<p>no numeric scores on kept documents</p>"


def render_run_report(run_dir: Path) -> str:
    stats = orjson.loads((run_dir / "stats.json").read_bytes())
    manifest_path = run_dir / "manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes()) if manifest_path.is_file() else {}
    errors_path = run_dir / "errors.jsonl"
    errors = []
    if errors_path.is_file():
        with errors_path.open("rb") as fh:
            errors = [orjson.loads(line) for line in islice(fh, MAX_ERRORS)]
    t = stats["totals"]
    balance = "accounted for" if t["accounted"] else "<span class=bad>NOT accounted for</span>"
    error_rows = "".join(
        f"<tr><td>{_e(e.get('file'))}</td><td class=n>{_e(e.get('offset'))}</td>"
        f"<td>{_e(e.get('step'))}</td><td>{_e(e.get('message'))}</td></tr>"
        for e in errors
    )
    versions = ", ".join(f"{_e(k)} {_e(v)}" for k, v in manifest.get("versions", {}).items())
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>gristmill run: {_e(stats['recipe'])}</title><style>{_STYLE}{STYLE}</style></head><body><div id="report-errors" role="alert"></div>
<h1>Recipe <code>{_e(stats['recipe'])}</code></h1>
<p>{stats['shards']} shard(s); recipe hash <code>{_e(stats['recipe_hash'][:16])}</code>; seed {_e(manifest.get('seed', ''))}</p>
<p>Input records {t['input_records']:,} = kept {t['kept']:,} + dropped {t['dropped']:,} + errored {t['errored']:,} ({balance}).
Bytes in {t['bytes_in'] / 1e6:,.2f} MB, out {t['bytes_out'] / 1e6:,.2f} MB.</p>
<h2>Funnel</h2>{_funnel(stats)}
<h2>Records that were not documents</h2><p>{_e(stats.get('skipped_records') or 'none')}</p>
<h2>Errors ({t['errored']:,}; first {MAX_ERRORS} shown)</h2>
<table><tr><th>file</th><th>offset</th><th>step</th><th>message</th></tr>{error_rows}</table>
<h2>Score histograms (kept documents)</h2>{_score_histograms(run_dir)}
<h2>Sample of kept documents</h2>{_samples(run_dir)}
<h2>Sample of dropped documents per rule</h2>{_dropped_samples(run_dir)}
<h2>Versions</h2><p>{versions}</p>
<script>{SCRIPT}</script></body></html>
"""


def write_run_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` and return its path."""
    out = run_dir / "report.html"
    out.write_text(render_run_report(run_dir), encoding="utf-8")
    return out
