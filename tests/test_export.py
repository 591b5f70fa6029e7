"""`gristmill export --format hf`: a stock transformers model whose logits equal ours."""

from __future__ import annotations

import json

import pytest
import torch

from gristmill.cli import main
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
