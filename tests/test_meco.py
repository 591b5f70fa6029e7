"""MeCo: metadata modes, the masked prefix, inert masked positions, the cooldown switch."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
import xxhash

from gristmill.cli import main
from gristmill.tokenize import TokenDataset, load_tokenizer
from gristmill.tokenize.meco import MECO_MODES, MecoConfig, cooldown_document
from gristmill.tokenize.order import DataOrder
from gristmill.tokenize.render import render_batch
from gristmill.train.model import ModelConfig, Transformer, lm_loss
from gristmill.train.scales import get_scale
from gristmill.train.schedule import cooldown_start, lr_at
from gristmill.train.trainer import TrainOptions, train
from lm_corpus import FORUM, WIKI, build_corpus, one_thread, read_metrics, tokenize


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    return build_corpus(shared_data, tmp_path_factory.mktemp("meco"), wiki_docs=200, forum_docs=200)


@pytest.fixture(scope="module")
def meco_tokens(corpus, tmp_path_factory):
    # A large cooldown share so that the small corpus has a cooldown pool of several chunks' worth.
    return tokenize(corpus, tmp_path_factory.mktemp("meco_tok") / "tok", 128, "--meco", "host",
                    "--cooldown-fraction", "0.2", "--chunks", "5")


def _first_url(shared_data, rel):
    with gzip.open(shared_data / rel, "rt") as fh:
        return json.loads(fh.readline())["url"]


def test_metadata_modes_on_real_urls(shared_data):
    wiki, forum = _first_url(shared_data, WIKI), _first_url(shared_data, FORUM)
    values = {mode: MecoConfig(mode).value(wiki, {"topic": "biography"}) for mode in MECO_MODES}
    assert values == {
        "none": "",
        "host": "en.wikipedia.org",  # MeCo's short URL keeps subdomains
        "url": wiki,
        "domain": "wikipedia.org",
        "suffix": "org",
        "hash": values["hash"],
        "fixed": "example.com",
        "topic": "biography",
    }
    assert len(values["hash"]) == 16 and values["hash"] != MecoConfig("hash").value(forum, {})
    assert MecoConfig("hash").value(wiki + "&x=1", {}) == values["hash"]  # same host, same hash
    assert MecoConfig("host").value(forum, {}) == "collapsed-stacks.github.io"
    assert MecoConfig("domain").value("http://news.bbc.co.uk/x", {}) == "bbc.co.uk"
    assert MecoConfig("suffix").value("http://news.bbc.co.uk/x", {}) == "co.uk"
    assert MecoConfig("host").value("", {}) == "unknown"
    assert MecoConfig("topic").value(wiki, {}) == "unknown"
    assert MecoConfig("host").prefix_text(wiki, {}) == "URL: en.wikipedia.org\n\n"


def test_prefix_is_tokenized_alone_and_masked(corpus):
    tok = load_tokenizer(corpus["tokenizer"])
    texts = ["Paris is the capital of France.", "Second document."]
    prefixes = ["URL: en.wikipedia.org\n\n", "URL: collapsed-stacks.github.io\n\n"]
    r = render_batch(tok, texts, prefixes, 0)
    expected, mask = [], []
    for p, t in zip(prefixes, texts, strict=True):
        pid, tid = tok.encode(p).ids, tok.encode(t).ids
        expected += [*pid, *tid, 0]
        mask += [0] * len(pid) + [1] * (len(tid) + 1)
    assert r.ids.tolist() == expected and r.mask.tolist() == mask


def test_cooldown_split_is_a_stable_hash():
    ids = [f"doc-{i}" for i in range(20000)]
    chosen = [cooldown_document(i, 0.1, 0) for i in ids]
    assert 0.09 < np.mean(chosen) < 0.11
    # The split is xxh64 of the id (a published hash, unsalted): the same in every process.
    assert chosen == [xxhash.xxh64_intdigest(i.encode(), seed=0) < 0.1 * 2.0**64 for i in ids]
    assert chosen != [cooldown_document(i, 0.1, 1) for i in ids]


def test_masked_positions_add_nothing_to_the_loss(meco_tokens):
    ds = TokenDataset(meco_tokens)
    rows, mask = ds.read_rows("main", 0, 8)
    assert (mask == 0).any() and (mask == 1).any()
    torch.manual_seed(0)
    model = Transformer(ModelConfig(512, 32, 1, 2, 128))
    x = torch.from_numpy(rows[:, :-1])
    y = torch.from_numpy(rows[:, 1:])
    m = torch.from_numpy(mask[:, 1:])
    logits = model(x).detach().requires_grad_(True)
    loss, _, _ = lm_loss(logits, y, m, 1e-4)
    # Other targets at the metadata positions: the same loss.
    y2 = torch.where(m == 0, torch.randint(0, 512, y.shape), y)
    assert torch.equal(lm_loss(logits, y2, m, 1e-4)[0], loss)
    # Any logits there: no gradient flows from them (CE and z-loss alike).
    loss.backward()
    assert logits.grad[m == 0].abs().max() == 0
    assert logits.grad[m == 1].abs().max() > 0


def test_cooldown_switch_happens_at_the_right_step(meco_tokens, tmp_path):
    run = tmp_path / "run"
    with one_thread():
        train(get_scale("cpu-micro"), TrainOptions(data=str(meco_tokens), out=str(run), meco=True,
                                                    max_steps=50, precision="fp32", quiet=True))
    metrics = read_metrics(run)
    ds = TokenDataset(meco_tokens)
    switch = cooldown_start(50, 0.2)
    assert switch == 40
    assert [m["phase"] for m in metrics] == ["main"] * 40 + ["cooldown"] * 10
    cooldown_chunks = {c.number for c in ds.phase_chunks("cooldown")}
    assert {m["chunk"] for m in metrics[40:]} <= cooldown_chunks
    assert not {m["chunk"] for m in metrics[:40]} & cooldown_chunks
    # The learning-rate schedule simply continues through the switch.
    sched = json.loads((run / "config.json").read_text())["schedule"]
    assert [m["lr"] for m in metrics] == [lr_at(s, sched["lr"], sched["min_lr"], sched["warmup"], 50) for s in range(50)]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "checkpoint" and e["step"] == 40 and "cooldown-switch" in e["reason"] for e in events)
    # Main rows carry "URL: <host>" prefixes; cooldown rows carry none.
    tok = load_tokenizer(ds.index["tokenizer"]["path"])
    main_text = tok.decode(ds.read_rows("main", 0, 16)[0].reshape(-1).tolist())
    cool_text = tok.decode(ds.read_rows("cooldown", 0, ds.phase_rows("cooldown"))[0].reshape(-1).tolist())
    assert "URL: en.wikipedia.org\n\n" in main_text and "URL: collapsed-stacks.github.io\n\n" in main_text
    assert "URL: " not in cool_text


def test_meco_data_requires_the_meco_flag(meco_tokens, tmp_path):
    from gristmill.core.errors import GristmillError

    with pytest.raises(GristmillError, match="pass --meco"):
        train(get_scale("cpu-micro"), TrainOptions(data=str(meco_tokens), out=str(tmp_path / "r"), max_steps=2))


def test_separate_cooldown_pool_from_its_own_files(corpus, tmp_path):
    out = tmp_path / "tok"
    assert main(["tokenize", "--tokenizer", str(corpus["tokenizer"]), "--seq-len", "128", "--input",
                 str(corpus["wiki"]), "--cooldown-input", str(corpus["forum"]), "--meco", "host",
                 "--cooldown-fraction", "0.2", "--chunks", "4", "--out", str(out), "--workers", "1", "-q"]) == 0
    ds = TokenDataset(out)
    index = ds.index
    assert index["meco"]["cooldown_pool"] == "inputs"
    assert [(i["path"], i["pool"]) for i in index["inputs"]] == [(str(corpus["wiki"]), "main"),
                                                                 (str(corpus["forum"]), "cooldown")]
    # No hash split: every Wikipedia article is in the main phase, every forum thread in the cooldown.
    assert index["inputs"][0]["documents"] == {"main": 200, "cooldown": 0}
    assert index["inputs"][1]["documents"] == {"main": 0, "cooldown": 200}
    order = DataOrder(ds)
    for chunk in ds.chunks:
        sources = {s.source for s in order.chunk_documents(chunk.number)}
        assert sources == {str(corpus["wiki"] if chunk.phase == "main" else corpus["forum"])}
    tok = load_tokenizer(ds.tokenizer_path)
    cool = tok.decode(ds.read_rows("cooldown", 0, ds.phase_rows("cooldown"))[0].reshape(-1).tolist())
    assert "URL: " not in cool and "URL: en.wikipedia.org\n\n" in tok.decode(ds.read_rows("main", 0, 8)[0].reshape(-1).tolist())

    # The trainer switches to that pool for the last 20% of steps, as with the hash split.
    run = tmp_path / "run"
    with one_thread():
        train(get_scale("cpu-micro"), TrainOptions(data=str(out), out=str(run), meco=True, max_steps=10,
                                                    precision="fp32", quiet=True))
    cooldown_chunks = {c.number for c in ds.phase_chunks("cooldown")}
    metrics = read_metrics(run)
    assert [m["phase"] for m in metrics] == ["main"] * 8 + ["cooldown"] * 2
    assert {m["chunk"] for m in metrics[8:]} <= cooldown_chunks


def test_cooldown_pool_needs_meco(corpus, tmp_path, capsys):
    assert main(["tokenize", "--tokenizer", str(corpus["tokenizer"]), "--seq-len", "128", "--input",
                 str(corpus["wiki"]), "--cooldown-input", str(corpus["forum"]), "--out", str(tmp_path / "t"),
                 "-q"]) == 2
    assert "needs --meco" in capsys.readouterr().err
