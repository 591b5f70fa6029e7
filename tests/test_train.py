"""Training at a CPU scale: it learns, resumes exactly after a kill, DDP matches one process."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from gristmill.cli import main
from gristmill.tokenize import TokenDataset
from gristmill.tokenize.order import DataOrder, checkpoint_documents
from gristmill.train.model import Transformer
from gristmill.train.scales import SCALES, get_scale
from gristmill.train.schedule import lr_at
from gristmill.train.trainer import Run, TrainOptions, train
from lm_corpus import build_corpus, one_thread, read_metrics, subprocess_env, tokenize


@pytest.fixture(scope="module")
def tokens(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    corpus = build_corpus(shared_data, root, wiki_docs=400, forum_docs=100)
    return tokenize(corpus, root / "tok", 128, "--chunks", "6")


def _train_cli(*args: str, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gristmill", "train", "--scale", "cpu-micro", "-q", *args],
                            env=env or subprocess_env(), stderr=subprocess.PIPE, text=True)


def test_published_scales():
    s = SCALES["400M-1x"]
    assert (s.tokens, s.total_steps, s.global_batch, s.lr, s.warmup) == (8_232_325_120, 7851, 512, 3e-3, 2000)
    assert SCALES["1B-1x"].tokens == 28_795_904_000
    assert SCALES["7B-2x"].tokens == 275_576_422_400 and SCALES["7B-2x"].z_loss == 5e-6
    assert SCALES["1B-5x"].tokens == 5 * SCALES["1B-1x"].tokens
    for name in ("cpu-200k", "cpu-2m", "cpu-10m"):
        cfg = get_scale(name).model_config(get_scale(name).vocab_size)
        with torch.device("meta"):
            n = sum(p.numel() for p in Transformer(cfg).parameters())
        assert n == get_scale(name).params
    assert 1.5e6 < SCALES["cpu-2m"].params < 3e6 and 8e6 < SCALES["cpu-10m"].params < 12e6


def test_schedule_warmup_then_cosine_to_minimum():
    assert lr_at(0, 1e-3, 1e-5, 10, 100) == pytest.approx(1e-4)
    assert lr_at(9, 1e-3, 1e-5, 10, 100) == pytest.approx(1e-3)
    assert lr_at(55, 1e-3, 1e-5, 10, 100) == pytest.approx((1e-3 + 1e-5) / 2)
    assert lr_at(100, 1e-3, 1e-5, 10, 100) == pytest.approx(1e-5)


@pytest.fixture(scope="module")
def trained(tokens, tmp_path_factory):
    """A 200-step cpu-micro run from the Python API (the CLI is exercised by the other tests)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    with one_thread():
        train(get_scale("cpu-micro"), TrainOptions(data=str(tokens), out=str(run), max_steps=200, quiet=True))
    return run


def test_cpu_scale_loss_falls_far_below_unigram_entropy(tokens, trained):
    ds = TokenDataset(tokens)
    rows, mask = ds.read_rows("main", 0, ds.phase_rows("main"))
    counts = np.bincount(rows[:, 1:][mask[:, 1:] == 1], minlength=ds.vocab_size).astype(float)
    p = counts[counts > 0] / counts.sum()
    unigram_entropy = float(-(p * np.log(p)).sum())  # nats/token of the best context-free model
    metrics = read_metrics(trained)
    assert len(metrics) == 200 and not any(m["skipped"] for m in metrics)
    final = float(np.mean([m["ce"] for m in metrics[-20:]]))
    assert metrics[0]["ce"] > unigram_entropy
    print(f"final ce {final:.3f} nats vs unigram entropy {unigram_entropy:.3f}")
    assert final < 0.85 * unigram_entropy, (final, unigram_entropy)
    m = metrics[-1]
    assert m["tokens"] == 200 * 16 * 128 and m["tokens_per_s"] > 0 and m["mfu"] > 0 and m["grad_norm"] > 0


def test_run_folder_documents_config_code_data_and_a_checkpoint_per_chunk(tokens, trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["schedule"]["total_steps"] == 200 and config["scale"]["name"] == "cpu-micro"
    code = config["code"]
    assert code["gristmill"] and len(code["source_sha256"]) == 64
    assert "git_commit" not in code or len(code["git_commit"]) == 40
    manifest = json.loads((trained / "data_manifest.json").read_text())
    assert manifest["index"] == json.loads((tokens / "index.json").read_text())
    assert [c["chunk"] for c in manifest["chunks"]] == list(range(6))
    # 200 steps x 16 rows wrap the ~6 chunks more than once: a checkpoint each time one is done.
    events = [json.loads(line) for line in (trained / "events.jsonl").read_text().splitlines()]
    chunk_ckpts = [e for e in events if e["event"] == "checkpoint" and "chunk" in e["reason"]]
    done = [e["chunks_completed"]["main"] for e in chunk_ckpts]
    rows_per_chunk = manifest["chunks"][0]["sequences"]
    assert len(done) >= 200 * 16 // (rows_per_chunk * 6) * 6 and done == list(range(1, len(done) + 1))
    for e in chunk_ckpts:
        state = json.loads((trained / e["path"] / "state.json").read_text())
        assert state["chunks_completed"]["main"] == e["chunks_completed"]["main"]
        assert (trained / e["path"] / "model.safetensors").is_file()
    assert (trained / "checkpoints" / "step-00000200" / "model.safetensors").is_file()


def test_checkpoint_documents_are_exactly_the_rows_read_before_it(tokens, trained):
    ds = TokenDataset(tokens)
    events = [json.loads(line) for line in (trained / "events.jsonl").read_text().splitlines()]
    first = next(e for e in events if e["event"] == "checkpoint" and "chunk" in e["reason"])
    state = json.loads((trained / first["path"] / "state.json").read_text())
    cursor = state["cursor"]["main"]
    assert cursor == state["step"] * 16 and cursor >= ds.chunks[0].sequences  # chunk 0 read in full
    spans = list(checkpoint_documents(trained, trained / first["path"]))
    # Exactly the first `cursor` rows of the main stream: chunk 0, then the start of chunk 1.
    seen_rows = sorted({(s.chunk, s.row) for s in spans})
    expected = [(0, r) for r in range(ds.chunks[0].sequences)]
    expected += [(1, r) for r in range(cursor - ds.chunks[0].sequences)]
    assert seen_rows == expected
    assert all(s.step == (s.row + (ds.chunks[0].sequences if s.chunk == 1 else 0)) // 16 for s in spans)
    assert max(s.step for s in spans) == state["step"] - 1
    # Chunk 0's own span table names every document in it; a later checkpoint saw a superset.
    chunk0 = {s.id for s in DataOrder(tokens).chunk_documents(0)}
    seen = {s.id for s in spans}
    assert chunk0 <= seen and len(seen) > 10
    assert seen <= {s.id for s in checkpoint_documents(trained)}  # latest checkpoint


def test_resume_after_kill_reproduces_the_uninterrupted_run(tokens, tmp_path):
    steps = ["--data", str(tokens), "--max-steps", "40", "--checkpoint-every", "10"]
    whole = tmp_path / "whole"  # uninterrupted, in this process: the other two are processes of their own
    with one_thread():
        assert main(["train", "--scale", "cpu-micro", "-q", *steps, "--out", str(whole)]) == 0

    cut = tmp_path / "cut"
    proc = _train_cli(*steps, "--out", str(cut))
    first = cut / "checkpoints" / "step-00000010" / "state.json"
    deadline = time.monotonic() + 120
    while not first.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert len(read_metrics(cut)) < 40
    resumed = _train_cli(*steps, "--out", str(cut), "--resume")
    assert resumed.wait() == 0, resumed.stderr.read()

    a, b = read_metrics(whole), read_metrics(cut)
    assert [m["step"] for m in b] == list(range(40))
    assert [m["loss"] for m in a] == [m["loss"] for m in b]
    assert [m["grad_norm"] for m in a] == [m["grad_norm"] for m in b]
    assert any(json.loads(line)["event"] == "resume" for line in (cut / "events.jsonl").read_text().splitlines())


def test_existing_run_needs_resume(tokens, tmp_path, capsys):
    args = ["train", "--scale", "cpu-micro", "--data", str(tokens), "--out", str(tmp_path / "run"),
            "--max-steps", "2", "-q"]
    with one_thread():
        assert main(args) == 0
        assert main(args) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("torchrun") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "torchrun")),
                    reason="torchrun not installed")
def test_two_process_ddp_matches_one_process(tokens, tmp_path):
    common = ["--scale", "cpu-micro", "--data", str(tokens), "--max-steps", "15", "--precision", "fp32", "-q"]
    one = tmp_path / "one"
    two = tmp_path / "two"
    with one_thread():
        assert main(["train", *common, "--out", str(one)]) == 0
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "gristmill", "train",
                           *common, "--out", str(two)], env=subprocess_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = read_metrics(one), read_metrics(two)
    assert len(a) == len(b) == 15
    for x, y in zip(a, b, strict=True):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5, abs=1e-5)
        assert x["grad_norm"] == pytest.approx(y["grad_norm"], rel=1e-4, abs=1e-5)
    config = json.loads((two / "config.json").read_text())
    assert config["parallel"]["world_size"] == 2 and config["parallel"]["micro_batch"] == 8


def test_non_finite_loss_is_skipped_and_logged(tokens, tmp_path):
    with one_thread():
        run = Run(get_scale("cpu-micro"), TrainOptions(data=str(tokens), out=str(tmp_path / "run"), max_steps=5,
                                                      precision="fp32", quiet=True))
        run.prepare()
        run.train_step()
        with torch.no_grad():
            run.model.head.weight[0, 0] = math.inf
        before = {k: v.clone() for k, v in run.model.state_dict().items()}
        metrics = run.train_step()
    assert metrics["skipped"] and metrics["loss"] is None and metrics["step"] == 1
    after = run.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k != "head.weight")
    assert run.step == 2 and run.cursor["main"] == 2 * 16
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "skipped" and events[-1]["step"] == 1
