"""Every user mistake is one line that says what is allowed; no option is silently meaningless.

One case per validated option or recipe threshold (each was accepted before, or a traceback),
and the surprises a new user met: `train --resume` on an empty folder, dedup on WARC input,
dedup's progress bar and error list, the summary's "+N more", Ray's log lines under -q.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from rich.console import Console

from gristmill.cli import main
from gristmill.cli.summary import print_run_summary
from gristmill.engine.executors import usable_cpus

CPUS = usable_cpus()
PAGE = "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc/pages-00000.warc.gz"


def _one_line(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _run(*extra: str) -> list[str]:
    return ["run", "raw", "--input", "in.jsonl", "--output", "out", *extra]


def _dedup(*extra: str, method: str = "bff") -> list[str]:
    return ["dedup", "--method", method, "--input", "in.jsonl", "--output", "out", *extra]


def _tokenize(*extra: str, seq_len: str = "128") -> list[str]:
    return ["tokenize", "--tokenizer", "t.json", "--seq-len", seq_len, "--input", "in.jsonl",
            "--out", "tok", *extra]


def _train(*extra: str) -> list[str]:
    return ["train", "--scale", "cpu-micro", "--data", "tok", "--out", "run", *extra]


ARGPARSE = [  # (argv, the line's tail after "error: argument ")
    (_run("--workers", "0"), "run", "--workers: must be an integer of at least 1, got 0"),
    (_run("--seed", "-1"), "run",
     "--seed: must be an integer from 0 to 9,223,372,036,854,775,807, got -1"),
    (_run("--max-error-rate", "2"), "run", "--max-error-rate: must be between 0 and 1, got 2"),
    (_dedup("--workers", "-1", "--executor", "ray"), "dedup",
     "--workers: must be an integer of at least 1, got -1"),
    (["dedup", "plan", "--ngrams", "1e9", "--bytes-per-token", "0"], "dedup",
     "--bytes-per-token: must be a number above 0, got 0.0"),
    (["download", "--crawl", "X", "--files", "1", "--out", "o", "--timeout", "0"], "download",
     "--timeout: must be a number above 0, got 0.0"),
    (["download", "--crawl", "X", "--files", "1", "--out", "o", "--offset", "-1"], "download",
     "--offset: must be an integer of at least 0, got -1"),
    (["download", "--crawl", "X", "--files", "1", "--out", "o", "--backoff", "-1"], "download",
     "--backoff: must be a number of at least 0, got -1.0"),
    (_tokenize(seq_len="100000000"), "tokenize",
     "--seq-len: must be an integer from 1 to 1,048,576, got 100000000"),
    (_tokenize("--chunks", "0"), "tokenize", "--chunks: must be an integer of at least 1, got 0"),
    (_tokenize("--workers", "0"), "tokenize", "--workers: must be an integer of at least 1, got 0"),
    (_tokenize("--meco", "host", "--cooldown-fraction", "1"), "tokenize",
     "--cooldown-fraction: must be a number in [0, 1), got 1.0"),
    (["tokenizer", "train", "--input", "in.jsonl", "--vocab-size", "100", "--out", "t.json"],
     "tokenizer train", "--vocab-size: must be an integer of at least 257, got 100"),
    (["tokenizer", "train", "--input", "in.jsonl", "--vocab-size", "300", "--out", "t.json",
      "--min-frequency", "0"], "tokenizer train",
     "--min-frequency: must be an integer of at least 1, got 0"),
    (_train("--peak-tflops", "-1"), "train", "--peak-tflops: must be a number above 0, got -1.0"),
    (_train("--seed", "-3"), "train",
     "--seed: must be an integer from 0 to 9,223,372,036,854,775,807, got -3"),
    (["demo", "--records", "0"], "demo", "--records: must be an integer of at least 1, got 0"),
    (["demo", "--train-steps", "-1"], "demo",
     "--train-steps: must be an integer of at least 0, got -1"),
]


@pytest.mark.parametrize("argv, verb, tail", ARGPARSE, ids=[" ".join(a[1:2] + a[-2:]) for a, _, _ in ARGPARSE])
def test_numeric_options_list_their_allowed_values(argv, verb, tail, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _one_line(argv, capsys) == (
        f"gristmill {verb}: error: argument {tail} (see gristmill {verb} --help)")


CHECKED = [  # checked before any input is read or any folder written
    (_run("--workers", str(CPUS + 13)), "run",
     f"--workers must be an integer from 1 to {CPUS} (the CPUs this process may use) with the "
     f"local executor, got {CPUS + 13}"),
    (_run("--ray-address", "auto"), "run",
     "--ray-address has no effect with the local executor; add --executor ray"),
    (_dedup("--expected-ngrams", "-3"), "dedup", "--expected-ngrams must be an integer of at least 0, got -3"),
    (_dedup("--fp-rate", "1"), "dedup", "--fp-rate must be a number in (0, 1), got 1.0"),
    (_dedup("--threshold", "1.5"), "dedup", "--threshold must be a number from 0 to 1, got 1.5"),
    (_dedup("--ngram-size", "0"), "dedup", "--ngram-size must be an integer of at least 1, got 0"),
    (_dedup("--blocks", "0"), "dedup", "--blocks must be an integer of at least 1, got 0"),
    (_dedup("--actors", "-1"), "dedup", "--actors must be an integer of at least 0, got -1"),
    (_dedup("--num-perm", "0", method="minhash"), "dedup",
     "--num-perm must be an integer of at least 1, got 0"),
    (_dedup("--bands", "-2", method="minhash"), "dedup",
     "--bands must be an integer of at least 0, got -2"),
    (_dedup("--partitions", "-1", method="exact"), "dedup",
     "--partitions must be an integer of at least 0, got -1"),
    (["dedup", "plan", "--ngrams", "1e9", "--shards", "-4"], "dedup",
     "--shards must be an integer of at least 1, got -4"),
    (["dedup", "plan", "--ngrams", "1e9", "--fp-rate", "0"], "dedup",
     "--fp-rate must be a number in (0, 1), got 0.0"),
    (["dedup", "plan", "--ngrams", "0"], "dedup", "the plan needs at least one n-gram, got 0 n-grams"),
    (_tokenize("--meco-value", "x.org"), "tokenize",
     "--meco-value is read only by --meco fixed (this run: --meco none)"),
    (_tokenize("--meco", "host", "--meco-field", "lang"), "tokenize",
     "--meco-field is read only by --meco topic (this run: --meco host)"),
    (_tokenize("--cooldown-fraction", "0.2"), "tokenize",
     "--cooldown-fraction needs --meco (a MeCo mode); without it, it has no effect"),
    (_train("--cooldown-fraction", "0.2"), "train",
     "--cooldown-fraction is the share of the MeCo cooldown; it has no effect without --meco"),
    (_train("--resume"), "train",
     "run has no checkpoint to resume from; drop --resume to start a new run there"),
]


@pytest.mark.parametrize("argv, verb, message", CHECKED, ids=[" ".join(a[1:2] + a[-2:]) for a, _, _ in CHECKED])
def test_meaningless_values_and_flags_are_one_line_errors(argv, verb, message, tmp_path,
                                                          monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _one_line(argv, capsys) == f"gristmill {verb}: error: {message}"
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()


RECIPES = [
    ("steps:\n  - page_length_filter: {min_length: -5}\n",
     "line 2: step 'page_length_filter': key 'min_length' must be an integer of at least 0, got -5"),
    ("steps:\n  - language_filter: {threshold: 1.5}\n",
     "line 2: step 'language_filter': key 'threshold' must be a number from 0 to 1, got 1.5"),
    ("steps:\n  - page_length_filter: {min_length: 500, max_length: 50}\n",
     "line 2: step 'page_length_filter': min_length (500) must not exceed max_length (50)"),
    ("steps:\n  - gopher_repetition_filter: {top_ngram_fractions: [0.2, 0.18, 16]}\n",
     "line 2: step 'gopher_repetition_filter': key 'top_ngram_fractions' items must be a number "
     "from 0 to 1, got 16"),
    ("steps:\n  - bff_dedup: {fp_rate: 0}\n",
     "line 2: step 'bff_dedup': key 'fp_rate' must be a number in (0, 1), got 0"),
    ("steps:\n  - page_length_filter:\n      min_length: 5\n      min_length: 7\n",
     "line 4: duplicate key 'min_length' (first given on line 3)"),
    ("name: a\nname: b\nsteps: [extract_text]\n", "line 2: duplicate key 'name' (first given on line 1)"),
]


@pytest.mark.parametrize("text, message", RECIPES)
def test_recipe_thresholds_out_of_range_and_repeated_keys(text, message, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    line = _one_line(["run", str(recipe), "--input", "x", "--output", str(tmp_path / "o")], capsys)
    assert line == f"gristmill run: error: {recipe} {message}"


@pytest.fixture(scope="module")
def wiki(shared_data, tmp_path_factory) -> Path:
    lines = gzip.decompress((shared_data / "web/more/wikipedia-00000.jsonl.gz").read_bytes())
    path = tmp_path_factory.mktemp("wiki") / "wiki.jsonl"
    path.write_bytes(b"\n".join(lines.splitlines()[:60]) + b"\n")
    return path


def test_bff_refuses_an_expected_ngrams_far_below_what_it_sees(wiki, tmp_path, capsys):
    # Before: a filter sized for 1 n-gram answered "seen" for everything; 77% was removed.
    line = _one_line(["dedup", "--method", "bff", "--expected-ngrams", "1", "--input", str(wiki),
                      "--output", str(tmp_path / "o"), "-q"], capsys)
    # A filter for 1 n-gram is saturated: no count can be estimated, only a lower bound.
    assert line.startswith("gristmill dedup: error: the BFF filter received so many distinct "
                           "n-grams that all ")
    assert "of its bits are set (about " in line and "inf" not in line
    assert "or more), far above the expected_ngrams 1 it was sized for" in line
    assert not list((tmp_path / "o" / "documents").glob("*.jsonl.zst"))
    assert not (tmp_path / "o" / "stats.json").exists()
    assert main(["dedup", "--method", "bff", "--expected-ngrams", "100000", "--input", str(wiki),
                 "--output", str(tmp_path / "ok"), "-q"]) == 0


def test_report_refuses_what_is_not_a_curation_run(wiki, tmp_path, capsys):
    assert main(["run", "raw", "--input", str(wiki), "--output", str(tmp_path / "r"),
                 "--workers", "1", "-q"]) == 0
    (tmp_path / "r" / "errors.jsonl").write_text('{"file": "a"}\n{broken\n')
    line = _one_line(["report", str(tmp_path / "r")], capsys)
    assert line.startswith(f"gristmill report: error: {tmp_path / 'r' / 'errors.jsonl'} line 2 is damaged:")
    (tmp_path / "r" / "stats.json").write_text('{"recipe": ')
    assert _one_line(["report", str(tmp_path / "r")], capsys).startswith(
        f"gristmill report: error: {tmp_path / 'r' / 'stats.json'} is damaged:")
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "stats.json").write_text('{"stage": "tokenize", "seconds": 1.0}')
    assert _one_line(["report", str(tmp_path / "tok")], capsys) == (
        f"gristmill report: error: {tmp_path / 'tok' / 'stats.json'} is not the stats of a "
        "curation run (no recipe, recipe_hash, shards, totals, steps); gristmill report reads "
        "`gristmill run` and `gristmill dedup` folders")


def test_dedup_of_warc_input_extracts_text_says_so_and_shows_progress(shared_data, tmp_path,
                                                                      capsys):
    out = tmp_path / "o"
    assert main(["dedup", "--method", "exact", "--input", str(shared_data / PAGE),
                 "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "WARC input: extracting the text of its pages first (extract_text" in err
    assert "stage 1: exact_dedup: write shard" in err  # a bar per phase of the dedup job
    stats = orjson.loads((out / "stats.json").read_bytes())
    assert [s["name"] for s in stats["steps"]] == ["read", "extract_text", "exact_dedup"]
    assert stats["totals"]["input_records"] == 100 and stats["totals"]["accounted"]
    assert (out / "errors.jsonl").is_file()
    from gristmill.io.readers import read_documents

    texts = [d.text for p in (out / "documents").glob("*.jsonl.zst") for d in read_documents(str(p))]
    assert len(texts) == stats["totals"]["kept"] > 90 and all(texts)  # never empty documents


def test_summary_names_how_many_more_drop_reasons_there_are():
    step = {"name": "f", "docs_in": 10, "docs_out": 2, "docs_dropped": 8, "errors": 0,
            "bytes_in": 0, "bytes_out": 0, "seconds": 0.0,
            "dropped": {"a": 4, "b": 2, "c": 1, "d": 1}}
    stats = {"recipe": "r", "shards": 1, "steps": [step],
             "totals": {"input_records": 10, "kept": 2, "dropped": 8, "errored": 0,
                        "accounted": True}}
    buffer = io.StringIO()
    print_run_summary(stats, Console(file=buffer, width=200))
    assert "8 (a: 4, b: 2, +2 more)" in buffer.getvalue()


@pytest.mark.ray
def test_quiet_ray_run_prints_nothing(wiki, tmp_path):
    done = subprocess.run([sys.executable, "-m", "gristmill", "run", "raw", "--input", str(wiki),
                           "--output", str(tmp_path / "o"), "--executor", "ray", "--workers", "1",
                           "-q"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == ""  # was: Ray's start-up and warning lines
