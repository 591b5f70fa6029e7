"""Tokenizer training, rendering, packing, the global shuffle and chunked shards, on real text."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import zstandard

from gristmill.cli import main
from gristmill.tokenize import TokenDataset, eot_id, load_tokenizer
from gristmill.tokenize.render import render_batch
from lm_corpus import build_corpus, tokenize


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    return build_corpus(shared_data, tmp_path_factory.mktemp("tok"))


def test_trained_bpe_has_eot_zero_round_trips_and_is_deterministic(corpus, tmp_path):
    tok = load_tokenizer(corpus["tokenizer"])
    assert tok.get_vocab_size() == 512
    assert eot_id(tok) == 0
    text = "Deon Jones (born January 4, 1993) is an American — basketball player. ünïcödé"
    assert tok.decode(tok.encode(text).ids) == text
    again = tmp_path / "again.json"
    assert main(["tokenizer", "train", "--input", str(corpus["wiki"]), str(corpus["forum"]),
                 "--vocab-size", "512", "--out", str(again)]) == 0
    assert again.read_bytes() == corpus["tokenizer"].read_bytes()


def test_render_matches_plain_encoding_with_neox(shared_data):
    tok = load_tokenizer(shared_data / "tokenizers/gpt-neox-20b.tokenizer.json")
    # This copy (OLMo's GPT-NeoX variant) keeps <|endoftext|> at 50279; id 0 is a PII marker.
    eot = eot_id(tok)
    assert eot == tok.token_to_id("<|endoftext|>") == 50279
    texts = ["Hello world.\n\nA second paragraph.", "Ünïcode and    spaces"]
    r = render_batch(tok, texts, None, eot)
    expected = [i for t in texts for i in [*tok.encode(t, add_special_tokens=False).ids, eot]]
    assert r.ids.tolist() == expected
    assert r.mask.tolist() == [1] * len(expected)
    assert r.lengths.tolist() == [len(tok.encode(t).ids) + 1 for t in texts]


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "stats.json"}


def test_output_identical_for_one_and_two_workers(corpus, tmp_path):
    args = ["--tokenizer", str(corpus["tokenizer"]), "--seq-len", "64", "--input", str(corpus["wiki"]),
            str(corpus["forum"]), "--chunks", "3", "--seed", "7", "-q", "--meco", "host"]
    assert main(["tokenize", *args, "--out", str(tmp_path / "w1"), "--workers", "1"]) == 0
    assert main(["tokenize", *args, "--out", str(tmp_path / "w2"), "--workers", "2"]) == 0
    one, two = _files(tmp_path / "w1"), _files(tmp_path / "w2")
    assert one.keys() == two.keys()
    assert {k for k in one if k.endswith(".tokens.bin")}  # chunks were written
    for name in one:
        assert one[name] == two[name], name


def test_chunks_are_a_shuffled_exact_packing_of_every_document(corpus, tmp_path):
    out = tokenize(corpus, tmp_path / "tok", 64, "--chunks", "4", "--seed", "3")
    ds = TokenDataset(out)
    tok = load_tokenizer(corpus["tokenizer"])
    index = ds.index
    docs = index["totals"]["documents"]["main"]
    assert docs == 450 and index["totals"]["errors"] == 0
    assert len(ds.chunks) == 4 and sum(c.documents for c in ds.chunks) == docs

    # Undo the shuffle: rows.npy gives each row's window id; together they are a permutation.
    n = ds.phase_rows("main")
    rows, mask = ds.read_rows("main", 0, n)
    ids = np.concatenate([np.load(out / f"chunk-{c.number:05d}.rows.npy") for c in ds.chunks])
    assert sorted(ids.tolist()) == list(range(n))
    assert not np.array_equal(ids, np.arange(n))  # actually shuffled
    stream = np.empty_like(rows)
    stream[ids] = rows
    stream_mask = np.empty_like(mask)
    stream_mask[ids] = mask
    # Each file's windows are consecutive; every document is at its recorded offset, then EOT.
    part = index["inputs"][0]
    flat = stream[: part["windows"]["main"]].reshape(-1)
    raw = (out / "sources/part-00000.docs.jsonl.zst").read_bytes()
    table = [json.loads(line) for line in zstandard.ZstdDecompressor().decompress(raw).splitlines()]
    with gzip.open(corpus["wiki"], "rt") as fh:
        originals = [json.loads(line)["text"] for line in fh]
    assert len(table) == len(originals)
    for rec, text in zip(table[:50], originals[:50], strict=True):
        span = flat[rec["start"] : rec["start"] + rec["tokens"]]
        assert span[-1] == 0 and tok.decode(span[:-1].tolist()) == text
    # Padding only at each file's tail, and never a loss target; all real tokens are targets.
    loss_tokens = int(stream_mask.sum())
    assert loss_tokens == index["totals"]["tokens"]["main"]
    assert sum(ds.chunk_manifest(c.number)["loss_tokens"] for c in ds.chunks) == loss_tokens


def test_bad_records_are_reported_and_the_rest_tokenized(corpus, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "first good document", "url": "https://a.example/x"}\n'
                   "{not json\n"
                   '{"id": "b", "text": 42}\n'
                   '{"id": "c", "text": "last good document", "url": "https://c.example/y"}\n')
    truncated = tmp_path / "cut.jsonl.gz"
    lines = "".join(json.dumps({"id": f"d{i}", "text": f"document {i} ends with {i * 7919 % 10007}"}) + "\n"
                    for i in range(20000))
    truncated.write_bytes(gzip.compress(lines.encode())[:-200])
    out = tmp_path / "tok"
    assert main(["tokenize", "--tokenizer", str(corpus["tokenizer"]), "--seq-len", "32", "--input",
                 str(bad), str(truncated), "--out", str(out), "--workers", "1", "-q"]) == 0
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [(e["source"], e["record"]) for e in errors[:2]] == [(str(bad), 2), (str(bad), 3)]
    assert errors[2]["source"] == str(truncated)
    index = json.loads((out / "index.json").read_text())
    assert index["inputs"][0]["documents"]["main"] == 2
    assert index["inputs"][1]["documents"]["main"] >= 1


def test_existing_token_folder_is_not_overwritten(corpus, tmp_path, capsys):
    out = tokenize(corpus, tmp_path / "tok", 64)
    args = ["tokenize", "--tokenizer", str(corpus["tokenizer"]), "--seq-len", "64", "--input",
            str(corpus["wiki"]), "--out", str(out), "-q"]
    assert main(args) == 2
    assert "already holds a token folder" in capsys.readouterr().err
