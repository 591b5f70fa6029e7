"""The in-context-learning tasks of DCLM's evaluation and the files that hold them.

Task settings (label, file, ICL type, shots, continuation delimiter) follow DCLM's
``eval/mmlu_and_lowvar.yaml`` and ``eval/heavy.yaml`` (mlfoundations/dclm); random baselines
follow ``eval/eval_meta_data.csv``: v1 as published with the paper, v2 after DCLM PR #115
(Sept 2025), which changed the rows listed in training.md §3.1. CORE is the 22
``low_variance_datasets`` of ``eval/additional_aggregation.json``.

Task files are in the LLM-Foundry ``local_data`` format (``../shared/data/evals/icl/``):
multiple choice ``{query, choices, gold}``, schema ``{context_options, continuation, gold}``,
language modelling ``{context, continuation}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gristmill.core.errors import GristmillError, InputError

MC, SCHEMA, LM = "multiple_choice", "schema", "language_modeling"
ANSWER = "\nAnswer: "  # DCLM's continuation delimiter for arc, piqa, boolq, mmlu, jeopardy


@dataclass(frozen=True)
class IclTask:
    """One ICL task as DCLM configures it (LLM-Foundry defaults: delimiter " ", examples "\\n")."""

    name: str
    file: str  # under the icl folder
    kind: str  # MC, SCHEMA or LM
    shots: int
    baseline_v1: float  # random baseline, percent (eval_meta_data.csv)
    baseline_v2: float
    category: str
    delimiter: str = " "
    core: bool = False


def _t(name: str, file: str, kind: str, shots: int, v1: float, category: str, *, v2: float | None = None,
       delimiter: str = " ", core: bool = True) -> IclTask:
    return IclTask(name, file, kind, shots, v1, v1 if v2 is None else v2, category, delimiter, core)


TASKS: dict[str, IclTask] = {t.name: t for t in (
    # The 22 CORE tasks, in additional_aggregation.json order.
    _t("hellaswag_zeroshot", "hellaswag.jsonl", MC, 0, 25, "language understanding"),
    _t("jeopardy", "jeopardy_all.jsonl", LM, 10, 0, "world knowledge", delimiter=ANSWER),
    _t("bigbench_qa_wikidata", "bigbench_qa_wikidata.jsonl", LM, 10, 0, "world knowledge"),
    _t("arc_easy", "arc_easy.jsonl", MC, 10, 25, "world knowledge", delimiter=ANSWER),
    _t("arc_challenge", "arc_challenge.jsonl", MC, 10, 25, "world knowledge", delimiter=ANSWER),
    _t("copa", "copa.jsonl", MC, 0, 50, "commonsense reasoning"),
    _t("commonsense_qa", "commonsense_qa.jsonl", MC, 10, 20, "commonsense reasoning", v2=40.3),
    _t("piqa", "piqa.jsonl", MC, 10, 50, "commonsense reasoning", delimiter=ANSWER),
    _t("openbook_qa", "openbook_qa.jsonl", MC, 0, 25, "commonsense reasoning"),
    _t("lambada_openai", "lambada_openai.jsonl", LM, 0, 0, "language understanding"),
    _t("hellaswag", "hellaswag.jsonl", MC, 10, 25, "language understanding"),
    _t("winograd", "winograd_wsc.jsonl", SCHEMA, 0, 50, "language understanding"),
    _t("winogrande", "winogrande.jsonl", SCHEMA, 0, 50, "language understanding"),
    _t("bigbench_dyck_languages", "bigbench_dyck_languages.jsonl", LM, 10, 0, "symbolic problem solving"),
    _t("agi_eval_lsat_ar", "agi_eval_lsat_ar.jsonl", MC, 3, 20, "symbolic problem solving", v2=25),
    _t("bigbench_cs_algorithms", "bigbench_cs_algorithms.jsonl", LM, 10, 0, "symbolic problem solving"),
    _t("bigbench_operators", "bigbench_operators.jsonl", LM, 10, 0, "symbolic problem solving"),
    _t("bigbench_repeat_copy_logic", "bigbench_repeat_copy_logic.jsonl", LM, 10, 0, "symbolic problem solving"),
    # squad and coqa exist here only as OLMES request files (../shared/data/evals/oe_eval), not in
    # the LLM-Foundry format: their files are missing, so a CORE run names them and fails.
    _t("squad", "squad.jsonl", LM, 10, 0, "reading comprehension"),
    _t("coqa", "coqa.jsonl", LM, 0, 0, "reading comprehension"),
    _t("boolq", "boolq.jsonl", MC, 10, 62, "reading comprehension", delimiter=ANSWER),
    _t("bigbench_language_identification", "bigbench_language_identification.jsonl", MC, 10, 9.1,
       "language understanding", v2=25),
    # EXTENDED tasks with a file here (of DCLM's 53).
    _t("mmlu_zeroshot", "mmlu.jsonl", MC, 0, 25, "world knowledge", delimiter="Answer: ", core=False),
    _t("mmlu_fewshot", "mmlu.jsonl", MC, 5, 25, "world knowledge", delimiter=ANSWER, core=False),
    _t("siqa", "siqa.jsonl", MC, 10, 33.3, "commonsense reasoning", v2=50, core=False),
    _t("bigbench_conceptual_combinations", "bigbench_conceptual_combinations.jsonl", MC, 10, 25,
       "language understanding", v2=33, core=False),
)}

CORE_TASKS = tuple(name for name, t in TASKS.items() if t.core)
#: DCLM's EXTENDED covers 53 tasks; these are the ones whose data is here.
EXTENDED_TASKS = tuple(TASKS)
MMLU_TASKS = ("mmlu_fewshot",)


def icl_dir(data_root: Path) -> Path:
    return data_root / "evals" / "icl"


def task_path(task: IclTask, data_root: Path) -> Path:
    return icl_dir(data_root) / task.file


def available(task: IclTask, data_root: Path) -> bool:
    return task_path(task, data_root).is_file()


_FIELDS = {MC: ("query", "choices", "gold"), SCHEMA: ("context_options", "continuation", "gold"),
           LM: ("context", "continuation")}


def _check_row(row: Any, kind: str) -> str | None:
    """Why ``row`` is not a valid item of a ``kind`` task (None when it is)."""
    if not isinstance(row, dict):
        return "not a JSON object"
    missing = [f for f in _FIELDS[kind] if f not in row]
    if missing:
        return f"missing {', '.join(missing)}"
    options = row.get("choices", row.get("context_options"))
    if kind != LM:
        if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) for o in options):
            return "needs a list of at least two strings"
        if not isinstance(row["gold"], int) or not 0 <= row["gold"] < len(options):
            return f"gold {row['gold']!r} is not an index into the {len(options)} options"
    text = [row[f] for f in _FIELDS[kind] if f in ("query", "continuation", "context")]
    if not all(isinstance(t, str) for t in text):
        return "text fields must be strings"
    return None


def load_items(path: Path, kind: str) -> list[dict[str, Any]]:
    """Every row of a task file, checked: a malformed row is a one-line error naming the file
    and line. (All rows are read even when only the first few are scored: few-shot examples are
    drawn from the whole file, and a limit must never hide a bad row.)"""
    if not path.is_file():
        raise InputError(f"task file not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise InputError(f"{path}:{n}: malformed JSON ({exc})") from exc
            problem = _check_row(row, kind)
            if problem:
                raise InputError(f"{path}:{n}: not a {kind} item: {problem}")
            rows.append(row)
    if not rows:
        raise InputError(f"{path}: no items")
    return rows


def resolve_tasks(spec: str) -> list[str]:
    """Task names of a comma-separated list (suite names expand); unknown names are an error."""
    from gristmill.evaluate.small import SMALL_TASKS

    suites = {"core": CORE_TASKS, "extended": EXTENDED_TASKS, "mmlu": MMLU_TASKS, "small": SMALL_TASKS}
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        found = suites.get(part) or ((part,) if part in TASKS or part in SMALL_TASKS else None)
        if found is None:
            known = ", ".join(sorted([*suites, *TASKS, *SMALL_TASKS]))
            raise GristmillError(f"unknown task or suite {part!r} (known: {known})")
        names.extend(n for n in found if n not in names)
    if not names:
        raise GristmillError("no tasks named")
    return names
