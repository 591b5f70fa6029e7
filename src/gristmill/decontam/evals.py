"""Evaluation items in LLM-Foundry's local ICL format (the format DCLM evaluates with).

Three row kinds (mosaicml/llm-foundry ``scripts/eval/local_data``, ``icl_base``):

* multiple choice ``{query, choices, gold}``: the item text is the query and its gold answer;
* schema ``{context_options, continuation, gold}``: the gold context and the continuation;
* language modelling ``{context, continuation}``: context and continuation;
* generation with chain of thought ``{context, chain_of_thought, answer}`` (gsm8k): all three.

The item text is what a model sees and must produce: the part a training document would have
to contain for the model to have seen the test item (Llama 2 §4.1 computes contamination
over the whole sample). For DCLM's targeted rule (§4.6) an item also carries its question
(for MMLU the last sentence of the question, for HellaSwag the context) and its answer options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from gristmill.core.errors import InputError
from gristmill.text.sentences import split_sentences

# Tasks DCLM's targeted decontamination covers (§4.6), by file stem.
TARGETED_TASKS = ("mmlu", "hellaswag")


@dataclass(frozen=True)
class EvalItem:
    """One test item: where it comes from, the text to look for, and (targeted tasks) the
    question and options."""

    task: str
    row: int  # 1-based line number in its file
    text: str
    question: str = ""
    options: tuple[str, ...] = ()
    query: str = ""  # the whole question (targeted rule's fallback for short last sentences)


def _text(value: object, field: str, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: field {field!r} must be a string, got {type(value).__name__}")
    return value


def _gold(row: dict, n: int, where: str) -> int:
    gold = row.get("gold")
    if isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < n:
        raise InputError(f"{where}: 'gold' must be an index into {n} options, got {gold!r}")
    return gold


def parse_row(row: object, task: str, line: int, where: str) -> EvalItem:
    """One LLM-Foundry row as an `EvalItem`; `InputError` naming ``where`` otherwise."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: a row must be a JSON object")
    if "query" in row and "choices" in row:
        query = _text(row["query"], "query", where)
        choices = row["choices"]
        if not isinstance(choices, list) or not choices:
            raise InputError(f"{where}: 'choices' must be a non-empty list")
        options = tuple(_text(c, "choices", where) for c in choices)
        gold = _gold(row, len(options), where)
        question = query
        if task == "mmlu":
            # DCLM §4.6: for MMLU only the last sentence of the question is matched.
            sentences = split_sentences(query)
            question = sentences[-1] if sentences else query
        return EvalItem(task, line, f"{query} {options[gold]}", question, options, query)
    if "context_options" in row and "continuation" in row:
        contexts = row["context_options"]
        if not isinstance(contexts, list) or not contexts:
            raise InputError(f"{where}: 'context_options' must be a non-empty list")
        gold = _gold(row, len(contexts), where)
        context = _text(contexts[gold], "context_options", where)
        return EvalItem(task, line, f"{context} {_text(row['continuation'], 'continuation', where)}")
    if "context" in row and "answer" in row:  # generation with chain of thought (gsm8k)
        context = _text(row["context"], "context", where)
        steps = _text(row.get("chain_of_thought", ""), "chain_of_thought", where)
        return EvalItem(task, line, f"{context} {steps} {_text(row['answer'], 'answer', where)}")
    if "context" in row and "continuation" in row:
        context = _text(row["context"], "context", where)
        return EvalItem(task, line, f"{context} {_text(row['continuation'], 'continuation', where)}")
    raise InputError(f"{where}: not an LLM-Foundry ICL row (keys: {', '.join(sorted(row))})")


def load_evals(folder: str | Path, tasks: list[str] | None = None) -> list[EvalItem]:
    """Every item of every ``*.jsonl`` in ``folder`` (sorted by file name), or of ``tasks``."""
    root = Path(folder)
    files = sorted(root.glob("*.jsonl")) if root.is_dir() else [root] if root.is_file() else []
    if tasks:
        files = [f for f in files if f.stem in set(tasks)]
    if not files:
        raise InputError(f"no eval sets (*.jsonl) in {root}" + (f" for tasks {tasks}" if tasks else ""))
    items: list[EvalItem] = []
    for path in files:
        with open(path, "rb") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path} row {line_no}"
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise InputError(f"{where}: invalid JSON ({exc})") from exc
                items.append(parse_row(row, path.stem, line_no, where))
    return items
