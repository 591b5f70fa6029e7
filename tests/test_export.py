"""`gristmill export --format hf`: a stock transformers model whose logits equal ours."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import pytest
import torch

from gristmill.cli import main
from gristmill.core.errors import GristmillError
from gristmill.tokenize import load_tokenizer
from gristmill.train import checkpoint as ckpt
from gristmill.train.model import ModelConfig, Transformer


@pytest.fixture
def run(trained_run):
    return trained_run


def test_hf_export_loads_in_transformers_with_equal_logits(run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "hf"
    assert main(["export", str(run), "--format", "hf", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ForCausalLM"] and config["tie_word_embeddings"] is False

    src = ckpt.resolve_checkpoint(run)
    state = ckpt.read_state(src)
    ours = Transformer(ModelConfig(**state["model"]))
    ours.load_state_dict(ckpt.load_model_tensors(src))
    theirs = AutoModelForCausalLM.from_pretrained(str(out))  # no trust_remote_code
    ours.eval()
    theirs.eval()

    text = "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was designed by"
    hf_tok = AutoTokenizer.from_pretrained(str(out))
    ids = hf_tok(text, return_tensors="pt").input_ids
    assert ids[0].tolist() == load_tokenizer(state["tokenizer"]["path"]).encode(text).ids
    batch = torch.cat([ids[:, :16], torch.randint(0, 512, (1, 16))])
    with torch.no_grad():
        for x in (ids, batch):
            diff = (ours(x) - theirs(x).logits).abs().max().item()
            assert diff < 1e-4, diff
    with torch.no_grad():  # greedy generation works through the stock class
        generated = theirs.generate(ids, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 5


def test_export_of_a_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "hf")]) == 2
    assert "neither a checkpoint folder nor a run folder" in capsys.readouterr().err


def test_a_tokenizer_larger_than_the_model_is_refused_and_nothing_written(run, tmp_path, capsys):
    # Before: the export succeeded and the model failed in generate() on the ids past 512.
    bigger = tmp_path / "bpe600.json"
    wiki = run.parent / "docs" / "wiki.jsonl.gz"
    assert main(["tokenizer", "train", "--input", str(wiki), "--vocab-size", "600", "--out",
                 str(bigger)]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "hf"), "--tokenizer", str(bigger)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"gristmill export: error: --tokenizer {bigger} has 600 tokens, more than the 512 "
                    "the model was trained with; export with the tokenizer used for its token folder")
    assert not (tmp_path / "hf").exists()


def test_quiet_export_prints_nothing(run, tmp_path, capsys):
    assert main(["export", str(run), "--out", str(tmp_path / "hf"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""  # was: transformers' "Writing model shards" bar
    assert (tmp_path / "hf" / "model.safetensors").is_file()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_checkpoint_and_exported_weights_have_the_usual_file_mode(run, tmp_path):
    # Before: safetensors wrote them 0600, so another user's `export` of the run failed.
    usual = 0o666 & ~_umask()
    written = list((run / ckpt.CHECKPOINTS).rglob("*.safetensors"))
    assert main(["export", str(run), "--format", "hf", "--out", str(tmp_path / "hf"), "-q"]) == 0
    written += list((tmp_path / "hf").glob("*.safetensors"))
    assert len(written) >= 4 and {stat.S_IMODE(p.stat().st_mode) for p in written} == {usual}


def _as_another_user(load, path: Path) -> str:
    """What ``load(path)`` raises for a user who is not the file's owner ("" if nothing)."""
    def attempt() -> str:
        try:
            load(path)
        except GristmillError as exc:
            return str(exc)
        return ""

    if os.geteuid() != 0:  # the file is root's or ours; chmod is enough
        return attempt()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child drops root (which reads any file) for nobody
        os.close(read_end)
        try:
            os.setgid(65534)
            os.setuid(65534)
            message = attempt()
        except BaseException as exc:  # reported to the parent, whose assertion then fails
            message = f"child failed: {exc!r}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_a_checkpoint_file_another_user_cannot_read_says_permission_denied():
    # Before: safetensors's "No such file or directory" for a file that is there.
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # others may enter, as in a shared run folder
        saved = ckpt.save_checkpoint(Path(folder), 1, {"w": torch.zeros(2)}, {}, [], {"step": 1})
        model = saved / "model.safetensors"
        assert _as_another_user(ckpt.load_model_tensors, saved) == ""  # the usual mode: readable
        os.chmod(model, 0o600 if os.geteuid() == 0 else 0o000)  # (0600: what safetensors wrote)
        assert _as_another_user(ckpt.load_model_tensors, saved) == (
            f"{model}: unreadable checkpoint file (Permission denied)")
