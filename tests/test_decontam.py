"""Decontamination: real eval items planted in real pages are found, clean pages are not."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import orjson
import pytest

from gristmill.core.errors import InputError
from gristmill.decontam.evals import load_evals
from gristmill.engine.pipeline import Pipeline
from gristmill.io.readers import read_documents

TASKS = ("mmlu", "hellaswag", "copa", "arc_easy")


@pytest.fixture(scope="module")
def evals(shared_data, tmp_path_factory):
    """The first 300 real rows of four eval sets (a small index keeps the test quick)."""
    root = tmp_path_factory.mktemp("evals")
    for task in TASKS:
        with open(shared_data / "evals" / "icl" / f"{task}.jsonl", "rb") as fh:
            (root / f"{task}.jsonl").write_bytes(b"".join(itertools.islice(fh, 300)))
    return root


def _pages(shared_data: Path, n: int) -> list[dict]:
    with gzip.open(shared_data / "web" / "more" / "wikipedia-00000.jsonl.gz", "rb") as fh:
        return [orjson.loads(line) for line in itertools.islice(fh, n)]


def _write(path: Path, docs: list[dict]) -> str:
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return str(path)


@pytest.fixture(scope="module")
def planted(shared_data, evals, tmp_path_factory):
    """Wikipedia pages in two shards; six of them carry a real eval item in the middle."""
    root = tmp_path_factory.mktemp("planted")
    items = load_evals(evals)
    by_task = {t: [it for it in items if it.task == t] for t in TASKS}
    plants = {5: by_task["mmlu"][40], 17: by_task["hellaswag"][7], 30: by_task["arc_easy"][3],
              44: by_task["hellaswag"][200]}
    pages = _pages(shared_data, 60)
    for i, page in enumerate(pages):
        page["id"] = f"page-{i}"
        if i in plants:
            half = len(page["text"]) // 2
            page["text"] = f"{page['text'][:half]}\n{plants[i].text}\n{page['text'][half:]}"
    # DCLM's targeted rule alone: an MMLU question's last sentence and one option, not the item.
    # (a question of at least 8 words: shorter ones are never matched, they match anywhere)
    mmlu = next(it for it in by_task["mmlu"][120:] if len(it.question.split()) >= 10)
    pages[50]["text"] += f"\nQuiz time. {mmlu.question} I think the answer is {mmlu.options[2]}."
    plants[50] = mmlu
    inputs = [_write(root / "a.jsonl", pages[:30]), _write(root / "b.jsonl", pages[30:])]
    return inputs, plants, pages


def _run(inputs, out, **kw):
    Pipeline.from_steps([{"decontaminate": kw}]).run(inputs, out, workers=1)
    return orjson.loads((out / "decontamination.json").read_bytes())


def test_planted_items_are_found_and_nothing_else(planted, evals, tmp_path):
    inputs, plants, _ = planted
    report = _run(inputs, tmp_path / "run", evals=str(evals))
    flagged = {(f["document"], f["task"], f["row"], f["kind"]) for f in report["flagged"]}
    expected = {(f"page-{i}", it.task, it.row, "overlap") for i, it in plants.items() if i != 50}
    expected.add(("page-50", "mmlu", plants[50].row, "targeted"))
    # A planted MMLU / HellaSwag item is caught by both rules.
    expected |= {(f"page-{i}", it.task, it.row, "targeted") for i, it in plants.items()
                 if it.task in ("mmlu", "hellaswag") and i != 50}
    assert flagged == expected
    tasks = report["tasks"]
    assert tasks["hellaswag"]["dirty"] == 2 and tasks["mmlu"]["dirty"] == 1 and tasks["copa"]["dirty"] == 0
    assert tasks["arc_easy"]["dirty_rate"] == pytest.approx(1 / 300, abs=1e-6)
    assert tasks["copa"]["clean"] == tasks["copa"]["items"] == 100  # copa has 100 rows
    span = next(f["span"] for f in report["flagged"] if f["document"] == "page-17" and f["kind"] == "overlap")
    assert span in " ".join(plants[17].text.lower().split()) or len(span.split()) >= 10


def test_remove_documents_drops_exactly_the_flagged_pages(planted, evals, tmp_path):
    inputs, plants, pages = planted
    _run(inputs, tmp_path / "run", evals=str(evals), remove="documents")
    kept = {d.id for s in sorted((tmp_path / "run" / "documents").glob("*.jsonl.zst"))
            for d in read_documents(str(s))}
    assert kept == {p["id"] for p in pages} - {f"page-{i}" for i in plants}
    stats = orjson.loads((tmp_path / "run" / "stats.json").read_bytes())
    assert stats["totals"]["accounted"] and stats["steps"][-1]["dropped"] == {"contaminated": len(plants)}


def test_remove_strings_cuts_the_item_and_keeps_the_page(planted, evals, tmp_path):
    inputs, _, _ = planted
    _run(inputs, tmp_path / "run", evals=str(evals), remove="strings")
    docs = {d.id: d for s in sorted((tmp_path / "run" / "documents").glob("*.jsonl.zst"))
            for d in read_documents(str(s))}
    assert "page-17" in docs
    again = _run([str(p) for p in sorted((tmp_path / "run" / "documents").glob("*.jsonl.zst"))],
                 tmp_path / "again", evals=str(evals))
    assert not [f for f in again["flagged"] if f["kind"] == "overlap"]


def test_a_common_phrase_does_not_flag_every_page(shared_data, tmp_path):
    """An 'item' that is boilerplate found on many pages is a common phrase, not a leak."""
    phrase = ("this article is licensed under the creative commons attribution share alike "
              "license and may be reused")
    pages = _pages(shared_data, 30)
    for i, p in enumerate(pages):
        p["id"] = f"p{i}"
        if i % 3 == 0:
            p["text"] += f"\n{phrase.capitalize()}."
    evals = tmp_path / "evals"
    evals.mkdir()
    (evals / "lm.jsonl").write_text(orjson.dumps({"context": phrase, "continuation": "freely."}).decode() + "\n")
    inputs = [_write(tmp_path / "c.jsonl", pages)]
    guarded = _run(inputs, tmp_path / "guarded", evals=str(evals), max_doc_frequency=5)
    assert guarded["flagged"] == [] and guarded["common_windows_ignored"] > 0
    unguarded = _run(inputs, tmp_path / "unguarded", evals=str(evals), max_doc_frequency=0)
    assert len({f["document"] for f in unguarded["flagged"]}) == 10


def test_bad_eval_row_is_an_error_naming_file_and_row(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"context": "a", "continuation": "b"}\n\n{"query": 1}\n')
    with pytest.raises(InputError, match=r"t\.jsonl row 3"):
        load_evals(tmp_path)
    (tmp_path / "t.jsonl").write_text('{"query": "q", "choices": ["a"], "gold": 4}\n')
    with pytest.raises(InputError, match=r"t\.jsonl row 1: 'gold'"):
        load_evals(tmp_path)
