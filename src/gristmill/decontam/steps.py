"""The ``decontaminate`` global step: scan the corpus once for eval items, report, remove.

Phases (`gristmill.dedup.job.DedupJob` frame, resumable, identical on every executor):

1. ``scan`` (per shard): every document against the eval index (`gristmill.decontam.matcher`);
   verified matches go to scratch as small arrays.
2. driver: aggregate. Per item, the Llama 2 contaminated-token fraction: the share of its
   tokens inside some ``ngram``-token span shared with *any* document; dirty above
   ``dirty_threshold`` (0.8), clean below ``clean_threshold`` (0.2) (Llama 2 §4.1; DCLM App.
   D/O). Common phrases: an eval window found in more than ``max_doc_frequency`` documents
   (and a targeted question found in more) is a phrase of the language or of web boilerplate,
   not a leaked item (GPT-3 App. C likewise dropped frequent n-grams), and is ignored. A
   (item, document) pair is flagged when that document alone covers more than
   ``dirty_threshold`` of the item, or when DCLM's targeted MMLU/HellaSwag rule fires.
3. ``write`` (per shard): ``remove: documents`` drops documents of flagged pairs (reason
   ``contaminated``); ``remove: strings`` deletes the matched spans from them instead (DCLM
   §4.6 removed the matched question and option strings); ``none`` only reports.

The report (``report`` path, else ``decontamination.json`` in the run folder) lists per task
items, dirty/clean counts and rates, documents flagged, and every flagged pair with the
matched span.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalStep, GlobalTask, register
from gristmill.decontam.matcher import MatchSettings, cached_index
from gristmill.dedup.job import DedupJob
from gristmill.dedup.scratch import (
    ReadCounts,
    ShardRef,
    load_arrays,
    load_ids,
    read_batches,
    save_arrays,
    save_ids,
)
from gristmill.io.atomic import write_atomic
from gristmill.io.readers import read_documents
from gristmill.io.writers import open_writer

REASON = "contaminated"


@dataclass(frozen=True)
class ScanTask:
    shard: ShardRef
    evals: str
    tasks: tuple[str, ...]
    settings: MatchSettings
    out: str
    ids: str


def scan_shard(task: ScanTask) -> dict[str, Any]:
    index = cached_index(task.evals, task.tasks, task.settings)
    counts = ReadCounts()
    ov: list[tuple[int, int, int, int]] = []
    tg: list[tuple[int, int, int, int]] = []
    ids: list[str] = []
    for batch in read_batches(task.shard, counts):
        for doc in batch:
            rec = len(ids)
            ids.append(doc.id)
            m = index.scan(doc.text)
            ov.extend((rec, i, ip, dp) for i, ip, dp in m.overlap)
            tg.extend((rec, i, qp, opt) for i, qp, opt in m.targeted)
    o = np.asarray(ov, dtype=np.int64).reshape(-1, 4)
    t = np.asarray(tg, dtype=np.int64).reshape(-1, 4)
    save_arrays(Path(task.out), overlap=o, targeted=t)
    save_ids(Path(task.ids), ids)
    return {"documents": counts.documents, "bytes": counts.bytes}


def _runs(covered: np.ndarray) -> tuple[int, int]:
    """The longest run of True in ``covered`` as [start, end)."""
    best, start = (0, 0), None
    for i, c in enumerate([*covered.tolist(), False]):
        if c and start is None:
            start = i
        elif not c and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def aggregate(index, scans: dict[int, dict[str, np.ndarray]], ids: dict[int, list[str]],
              cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[int, dict[int, list]]]:
    """The report and, per shard, ``{record: [(item, kind, doc positions)]}`` of flagged pairs."""
    n = cfg["ngram"]
    window_docs: dict[tuple[int, int], set] = defaultdict(set)
    question_docs: dict[int, set] = defaultdict(set)
    for shard, arr in scans.items():
        for rec, item, ipos, _ in arr["overlap"].tolist():
            window_docs[item, ipos].add((shard, rec))
        for rec, item, _, _ in arr["targeted"].tolist():
            question_docs[item].add((shard, rec))
    limit = cfg["max_doc_frequency"] or float("inf")
    common = {k for k, docs in window_docs.items() if len(docs) > limit}
    common_q = {k for k, docs in question_docs.items() if len(docs) > limit}
    item_cover: dict[int, np.ndarray] = {}
    pairs: dict[tuple[int, int, int], list] = defaultdict(list)  # (item, shard, rec) -> [(ipos, dpos)]
    for shard, arr in scans.items():
        for rec, item, ipos, dpos in arr["overlap"].tolist():
            if (item, ipos) in common:
                continue
            cover = item_cover.setdefault(item, np.zeros(len(index.item_tokens[item]), bool))
            cover[ipos : ipos + n] = True
            pairs[item, shard, rec].append((ipos, dpos))
    flagged: list[dict[str, Any]] = []
    removal: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for (item, shard, rec), hits in sorted(pairs.items()):
        toks = index.item_tokens[item]
        cover = np.zeros(len(toks), bool)
        for ipos, _ in hits:
            cover[ipos : ipos + n] = True
        share = float(cover.mean())
        if share <= cfg["dirty_threshold"]:
            continue
        a, b = _runs(cover)
        flagged.append({"task": index.items[item].task, "row": index.items[item].row,
                        "document": ids[shard][rec], "kind": "overlap", "coverage": round(share, 4),
                        "span": " ".join(toks[a:b])})
        removal[shard][rec].append([" ".join(toks[ip : ip + n]) for ip, _ in hits])
    for shard, arr in scans.items():
        for rec, item, _, opt in arr["targeted"].tolist():
            if item in common_q:
                continue
            it = index.items[item]
            q, o = " ".join(index.questions[item]), " ".join(index.options[item][opt])
            flagged.append({"task": it.task, "row": it.row, "document": ids[shard][rec],
                            "kind": "targeted", "span": f"{q} ... {o}"})
            removal[shard][rec].append([q, o])
    return _report(index, item_cover, flagged, cfg, len(common), len(common_q)), removal


def _report(index, item_cover, flagged, cfg, common, common_q) -> dict[str, Any]:
    tasks: dict[str, dict[str, Any]] = {}
    for i, it in enumerate(index.items):
        t = tasks.setdefault(it.task, {"items": 0, "dirty": 0, "clean": 0, "too_short": 0,
                                       "documents_flagged": set(), "pairs_flagged": 0})
        t["items"] += 1
        share = float(item_cover[i].mean()) if i in item_cover else 0.0
        t["dirty"] += share > cfg["dirty_threshold"]
        t["clean"] += share < cfg["clean_threshold"]
        t["too_short"] += len(index.item_tokens[i]) < cfg["ngram"]
    for f in flagged:
        tasks[f["task"]]["documents_flagged"].add(f["document"])
        tasks[f["task"]]["pairs_flagged"] += 1
    for t in tasks.values():
        t["documents_flagged"] = len(t["documents_flagged"])
        t["dirty_rate"] = round(t["dirty"] / t["items"], 6)
        t["clean_rate"] = round(t["clean"] / t["items"], 6)
    return {"settings": {k: v for k, v in cfg.items() if k != "report"},
            "eval_templates_ignored": index.templates, "common_windows_ignored": common,
            "common_questions_ignored": common_q, "tasks": dict(sorted(tasks.items())),
            "flagged": flagged}


@dataclass(frozen=True)
class StringsTask:
    step: str
    shard: ShardRef
    out: str
    spans: dict[int, list[list[str]]]


def remove_strings(task: StringsTask) -> dict[str, Any]:
    """Delete the matched spans (as word sequences, any punctuation between) from flagged
    documents; a document left empty is dropped."""
    stats = StepStats(task.step)
    with open_writer(task.out) as out:
        for rec, doc in enumerate(d for d in read_documents(task.shard.path) if not isinstance(d, Exception)):
            stats.docs_in += 1
            stats.bytes_in += len(doc.text.encode())
            for group in task.spans.get(rec, []):
                for span in group:
                    pattern = r"(?:\W|_)+".join(re.escape(w) for w in span.split())
                    doc.text = re.sub(pattern, " ", doc.text, flags=re.IGNORECASE)
            if task.spans.get(rec) and not doc.text.strip():
                stats.dropped[REASON] += 1
                continue
            out.write(doc)
            stats.docs_out += 1
            stats.bytes_out += len(doc.text.encode())
    stats.extra["documents_rewritten"] = len(task.spans)
    return stats.to_dict()


@register("decontaminate")
class Decontaminate(GlobalStep):
    """Find eval items (LLM-Foundry ICL files) in the corpus; report per task; optionally
    remove. See the module docstring for every rule and its source.

    Args:
        evals: folder of ``*.jsonl`` eval sets (or one file).
        tasks: only these task file stems (default: all).
        ngram: span length in tokens (Llama 2: 10).
        dirty_threshold, clean_threshold: contaminated-token share of an item above which it
            is dirty (0.8), below which clean (0.2).
        targeted: DCLM's MMLU/HellaSwag question-and-option rule.
        max_item_frequency: windows in more eval items than this are templates (10).
        max_doc_frequency: windows (questions) in more documents than this are common
            phrases, ignored (100; 0: no limit).
        min_question_words, option_window: targeted rule guards (8 words; 200 words).
        remove: ``none``, ``documents`` or ``strings``.
        report: where the JSON report goes (default: ``decontamination.json`` in the run).
    """

    def __init__(self, *, evals: str, tasks: list[str] = (), ngram: int = 10,  # type: ignore[assignment]
                 dirty_threshold: float = 0.8, clean_threshold: float = 0.2, targeted: bool = True,
                 max_item_frequency: int = 10, max_doc_frequency: int = 100,
                 min_question_words: int = 8, option_window: int = 200,
                 remove: Literal["none", "documents", "strings"] = "none", report: str = "") -> None:
        if ngram < 1 or min_question_words < 1:
            raise ValueError("ngram and min_question_words must be positive")
        if not 0 <= clean_threshold <= dirty_threshold <= 1:
            raise ValueError("need 0 <= clean_threshold <= dirty_threshold <= 1")

    def run(self, task: GlobalTask) -> dict[str, StepStats]:
        cfg = dict(self.config)
        cfg["tasks"] = list(cfg["tasks"])
        settings = MatchSettings(cfg["ngram"], cfg["max_item_frequency"], cfg["targeted"],
                                 cfg["min_question_words"], cfg["option_window"])
        job = DedupJob.open(self.name, REASON, task, cfg)
        scans_dir = job.root / "scans"
        evals = str(Path(cfg["evals"]).resolve())
        tasks = [ScanTask(s, evals, tuple(cfg["tasks"]), settings, str(scans_dir / f"{s.index:05d}.npz"),
                          str(job.ids_dir / f"{s.index:05d}.json")) for s in job.shards]
        job.shard_phase("scan", scan_shard, tasks)
        with job.timed():
            index = cached_index(evals, tuple(cfg["tasks"]), settings)
            scans = {s.index: load_arrays(Path(t.out)) for s, t in zip(job.shards, tasks, strict=True)}
            ids = {s.index: load_ids(Path(t.ids)) for s, t in zip(job.shards, tasks, strict=True)}
            report, removal = aggregate(index, scans, ids, cfg)
            run_dir = Path(task.context.extra.get("run_dir", task.out_dir.parent))
            write_atomic(Path(cfg["report"]) if cfg["report"] else run_dir / "decontamination.json",
                         orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        if cfg["remove"] == "strings":
            results = job.shard_phase("strings", remove_strings, [
                StringsTask(self.name, s, str(job.out_dir / f"{s.name}.jsonl.zst"), dict(removal.get(s.index, {})))
                for s in job.shards])
            stats = {s.name: StepStats.from_dict(r) for s, r in zip(job.shards, results, strict=True)}
        else:
            decisions = job.root / "decisions"
            for s in job.shards:
                recs = sorted(removal.get(s.index, {})) if cfg["remove"] == "documents" else []
                save_arrays(decisions / f"{s.index:05d}.npz", drop_rec=np.asarray(recs, np.int64),
                            drop_dup=np.full(len(recs), np.iinfo(np.uint64).max, np.uint64))
            stats = job.write(lambda s: [str(decisions / f"{s.index:05d}.npz")], with_ids=False)
        for st in stats.values():
            st.info["tasks_dirty_rate"] = {k: v["dirty_rate"] for k, v in report["tasks"].items()}
            st.info["pairs_flagged"] = len(report["flagged"])
        return stats
