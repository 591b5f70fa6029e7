"""The tokenizer/tokenize/train/export verbs on bad input: one line, exit 2, nothing half-done.

Each case here was a traceback, a silently ignored option or a silent restart before."""

from __future__ import annotations

import json
import shutil

import pytest

from gristmill.cli import main
from lm_corpus import build_corpus, one_thread, read_metrics, tokenize


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    return build_corpus(shared_data, tmp_path_factory.mktemp("cli_train"), wiki_docs=60, forum_docs=30)


@pytest.fixture(scope="module")
def tokens(corpus):
    return tokenize(corpus, corpus["tokenizer"].parent / "tok", 128, "--chunks", "2")


@pytest.fixture(scope="module")
def run(tokens):
    out = tokens.parent / "run"
    with one_thread():
        assert main(["train", "--scale", "cpu-micro", "--data", str(tokens), "--out", str(out),
                     "--max-steps", "4", "--checkpoint-every", "2", "-q"]) == 0
    return out


def _user_error(args: list[str], capsys) -> str:
    """Run a verb that must fail as a user error; returns its single stderr line."""
    with one_thread():
        assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def _train(tokens, out, *extra: str) -> list[str]:
    return ["train", "--scale", "cpu-micro", "--data", str(tokens), "--out", str(out), "-q", *extra]


@pytest.mark.parametrize("extra, message", [
    (["--min-frequency", "-1"], "--min-frequency: must be an integer of at least 1, got -1"),
    (["--max-docs", "-3"], "--max-docs"),
    (["--max-docs", "0"], "--max-docs"),
])
def test_tokenizer_train_rejects_bad_numbers(corpus, tmp_path, capsys, extra, message):
    args = ["tokenizer", "train", "-i", str(corpus["wiki"]), "--vocab-size", "300", "--out", str(tmp_path / "t.json")]
    assert message in _user_error([*args, *extra], capsys)
    assert not (tmp_path / "t.json").exists()


def test_tokenizer_train_out_folder_and_empty_input(corpus, tmp_path, capsys):
    args = ["tokenizer", "train", "-i", str(corpus["wiki"]), "--vocab-size", "300"]
    assert "is a folder" in _user_error([*args, "--out", str(tmp_path)], capsys)
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": "a", "text": ""}\n')
    args = ["tokenizer", "train", "-i", str(empty), "--vocab-size", "300", "--out", str(tmp_path / "t.json")]
    assert "no documents" in _user_error(args, capsys)


def test_tokenize_rejects_zero_workers(corpus, tmp_path, capsys):
    args = ["tokenize", "--tokenizer", str(corpus["tokenizer"]), "--seq-len", "64", "-i", str(corpus["wiki"]),
            "--out", str(tmp_path / "tok"), "--workers", "0", "-q"]
    assert "--workers" in _user_error(args, capsys)


@pytest.mark.parametrize("extra, message", [
    (["--max-steps", "0"], "--max-steps"),  # was: 0 read as "no limit", the whole schedule ran
    (["--max-steps", "-5"], "--max-steps"),
    (["--micro-batch", "0"], "--micro-batch"),  # was: read as the full batch
    (["--checkpoint-every", "0"], "--checkpoint-every"),
    (["--log-every", "0"], "--log-every"),  # was: ZeroDivisionError after the first step
    (["--cooldown-fraction", "2"], "--cooldown-fraction"),  # was: every step in the cooldown
    (["--cooldown-fraction", "-0.5"], "--cooldown-fraction"),
])
def test_train_rejects_out_of_range_options(tokens, tmp_path, capsys, extra, message):
    assert message in _user_error(_train(tokens, tmp_path / "r", *extra), capsys)
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


def test_dclm_scale_on_cpu_is_refused_with_its_size(tokens, tmp_path, capsys):
    err = _user_error(["train", "--scale", "400M-1x", "--data", str(tokens), "--out", str(tmp_path / "r"),
                       "--device", "cpu", "-q"], capsys)
    assert "GPU scale" in err and "412M parameters" in err and "cpu-micro" in err


def test_corrupt_checkpoint_is_a_one_line_error(run, tmp_path, capsys):
    bad = tmp_path / "run"
    shutil.copytree(run, bad)
    latest = bad / "checkpoints" / (bad / "checkpoints" / "latest").read_text()
    model = latest / "model.safetensors"
    model.write_bytes(model.read_bytes()[:1000])
    err = _user_error(_train(run.parent / "tok", bad, "--max-steps", "4", "--checkpoint-every", "2", "--resume"),
                      capsys)
    assert str(model) in err
    assert str(model) in _user_error(["export", str(bad), "--out", str(tmp_path / "hf")], capsys)
    (latest / "state.json").write_text("{bad")
    assert "state.json" in _user_error(["export", str(latest), "--out", str(tmp_path / "hf")], capsys)


def test_resume_with_a_lost_latest_pointer_continues_from_the_newest_checkpoint(run, tmp_path):
    cut = tmp_path / "run"
    shutil.copytree(run, cut)
    shutil.rmtree(cut / "checkpoints" / "step-00000004")  # "latest" now names a missing folder
    lines = (cut / "metrics.jsonl").read_text().splitlines()
    with one_thread():
        assert main(_train(run.parent / "tok", cut, "--max-steps", "4", "--checkpoint-every", "2", "--resume")) == 0
    # Resumed at step 2 (not restarted from scratch): the first steps' lines are the original ones.
    assert (cut / "metrics.jsonl").read_text().splitlines()[:2] == lines[:2]
    assert [m["step"] for m in read_metrics(cut)] == [0, 1, 2, 3]
    events = [json.loads(line) for line in (cut / "events.jsonl").read_text().splitlines()]
    assert {"event": "resume", "checkpoint": "step-00000002"}.items() <= events[-2].items()


def test_resume_on_other_data_is_refused(corpus, run, tmp_path, capsys):
    other = tokenize(corpus, tmp_path / "tok", 128, "--chunks", "2", "--seed", "1")
    cut = tmp_path / "run"
    shutil.copytree(run, cut)
    err = _user_error(_train(other, cut, "--max-steps", "4", "--checkpoint-every", "2", "--resume"), capsys)
    assert "other data" in err


def test_export_with_a_bad_tokenizer_writes_nothing(run, tmp_path, capsys):
    bad = tmp_path / "tok.json"
    bad.write_text('{"not": "a tokenizer"}')
    for tok in (bad, tmp_path / "missing.json"):
        assert str(tok) in _user_error(["export", str(run), "--out", str(tmp_path / "hf"), "--tokenizer", str(tok)],
                                       capsys)
        assert not (tmp_path / "hf").exists()
    (tmp_path / "file").write_text("")
    assert "not a folder" in _user_error(["export", str(run), "--out", str(tmp_path / "file")], capsys)
