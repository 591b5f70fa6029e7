"""Tokenizer training, rendering, packing, the global shuffle and chunked shards, on real text."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict

import numpy as np
import pytest

from crossproc import python_output
from gristmill.cli import main
from gristmill.tokenize import TokenDataset, eot_id, load_tokenizer
from gristmill.tokenize.order import DataOrder, read_document_table
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
    again = tmp_path / "again.json"  # fitted again in another process
    python_output("from gristmill.cli import main; raise SystemExit(main(['tokenizer', 'train', "
                  f"'--input', {str(corpus['wiki'])!r}, {str(corpus['forum'])!r}, "
                  f"'--vocab-size', '512', '--out', {str(again)!r}]))")
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


def test_batch_and_slab_sizes_do_not_change_the_output(corpus, tmp_path, monkeypatch):
    from gristmill.tokenize import documents, pack

    args = ["--meco", "host", "--cooldown-fraction", "0.3", "--chunks", "3"]
    default = _files(tokenize(corpus, tmp_path / "default", 64, *args))
    monkeypatch.setattr(documents, "BATCH_DOCS", 7)  # many batches per phase, interleaved phases
    monkeypatch.setattr(pack, "SLAB_TOKENS", 100)  # a write every couple of windows
    small = _files(tokenize(corpus, tmp_path / "small", 64, *args))
    assert default.keys() == small.keys()
    for name in default:
        assert default[name] == small[name], name


@pytest.mark.ray
def test_ray_executor_gives_the_local_bytes(corpus, ray_local, tmp_path):
    args = ["--tokenizer", str(corpus["tokenizer"]), "--seq-len", "64", "--input", str(corpus["wiki"]),
            str(corpus["forum"]), "--chunks", "3", "--seed", "7", "-q", "--meco", "host"]
    assert main(["tokenize", *args, "--out", str(tmp_path / "local"), "--workers", "1"]) == 0
    assert main(["tokenize", *args, "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    assert ray_local.is_initialized()  # an existing Ray session is used, not shut down
    local, on_ray = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert local.keys() == on_ray.keys() and any(k.endswith(".spans.npy") for k in local)
    for name in local:
        assert local[name] == on_ray[name], name
    stats = json.loads((tmp_path / "ray" / "stats.json").read_text())
    assert stats["executor"] == "ray"


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
    table = read_document_table(out / "sources/part-00000.main.docs.jsonl.zst")
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


def test_data_order_maps_every_row_back_to_its_documents(corpus, tmp_path):
    out = tokenize(corpus, tmp_path / "tok", 64, "--chunks", "3", "--meco", "host", "--cooldown-fraction", "0.2")
    ds = TokenDataset(out)
    tok = load_tokenizer(ds.tokenizer_path)
    order = DataOrder(ds)
    originals, source_of = {}, {}
    for path in (corpus["wiki"], corpus["forum"]):
        with gzip.open(path, "rt") as fh:
            records = {r["id"]: r for r in map(json.loads, fh)}
        originals |= records
        source_of |= dict.fromkeys(records, str(path))
    pieces = defaultdict(list)
    for chunk in ds.chunks:
        rows = np.fromfile(out / f"chunk-{chunk.number:05d}.tokens.bin", dtype=ds.dtype).reshape(-1, ds.window)
        mask = np.fromfile(out / f"chunk-{chunk.number:05d}.mask.bin", dtype=np.uint8).reshape(rows.shape)
        filled = np.zeros(len(rows), dtype=np.int64)
        for s in order.chunk_documents(chunk.number):
            assert s.row_start == filled[s.row]  # pieces tile each row from its start, in order
            filled[s.row] = s.row_end
            pieces[s.id].append((s.doc_start, rows[s.row, s.row_start : s.row_end], s))
            assert s.source == source_of[s.id]
        # Whatever no document covers is padding: EOT, and never a loss target.
        for r in np.nonzero(filled < ds.window)[0]:
            assert (rows[r, filled[r]:] == ds.eot_id).all() and not mask[r, filled[r]:].any()
    assert pieces.keys() == originals.keys()
    for doc_id, parts in pieces.items():
        parts.sort(key=lambda p: p[0])
        first = parts[0][2]
        stream = np.concatenate([p[1] for p in parts])
        assert [p[0] for p in parts] == [0, *np.cumsum([len(p[1]) for p in parts])[:-1].tolist()]
        assert len(stream) == first.doc_tokens and stream[-1] == ds.eot_id
        rec = originals[doc_id]
        assert tok.decode(stream[first.meta_tokens : -1].tolist()) == rec["text"]
        prefix = tok.decode(stream[: first.meta_tokens].tolist())
        if first.phase == "main":
            assert prefix == f"URL: {rec['url'].split('/')[2]}\n\n"
        else:
            assert prefix == "" and first.meta_tokens == 0
    assert {p[2].phase for parts in pieces.values() for p in parts} == {"main", "cooldown"}


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


def test_bucketed_shuffle_bounds_each_task_and_its_buffer_does_not_change_the_output(
        corpus, tmp_path, monkeypatch):
    from gristmill.tokenize import shuffle
    from gristmill.tokenize.meco import MecoConfig
    from gristmill.tokenize.pipeline import tokenize_corpus

    inputs = [str(corpus["wiki"]), str(corpus["forum"])]
    options = {"chunks": 3, "seed": 5, "meco": MecoConfig("host", cooldown_fraction=0.2)}
    default = tokenize_corpus(inputs, corpus["tokenizer"], 64, tmp_path / "default", **options)
    held: list[int] = []
    bucket_windows = shuffle._bucket_windows

    def recorded(task, bucket):
        parts, local = bucket_windows(task, bucket)
        held.append(len(parts))
        return parts, local

    monkeypatch.setattr(shuffle, "_bucket_windows", recorded)
    buffer = shuffle.MIN_BUFFER_BYTES
    small = tokenize_corpus(inputs, corpus["tokenizer"], 64, tmp_path / "small", shuffle_buffer=buffer,
                            **options)
    assert small == default
    assert _files(tmp_path / "small") == _files(tmp_path / "default")
    stats = json.loads((tmp_path / "small" / "stats.json").read_text())
    windows = small["totals"]["sequences"]["main"]
    per_window = 65 * 3 + 24  # uint16 tokens, a mask byte, key and number
    assert stats["shuffle_buckets"]["main"] >= windows * per_window / buffer > 4
    # One bucket at a time, each about the buffer (random bucket sizes: well within 2x).
    assert held and max(held) * per_window <= 2 * buffer

    # The order looks random: a row's position is unrelated to where its window was.
    ds = TokenDataset(tmp_path / "small")
    ids = np.concatenate([np.load(tmp_path / "small" / f"chunk-{c.number:05d}.rows.npy")
                          for c in ds.phase_chunks("main")])
    assert sorted(ids.tolist()) == list(range(windows))
    assert abs(np.corrcoef(ids, np.arange(windows))[0, 1]) < 0.1
    sizes = [c.sequences for c in ds.phase_chunks("main")]
    assert max(sizes) - min(sizes) <= 1  # equal chunks, as one permutation cut in slices


def test_shuffle_keys_are_distinct_seeded_and_pinned():
    from gristmill.tokenize.shuffle import shuffle_keys

    keys = shuffle_keys(0, 0, 3, 100_000)
    assert len(np.unique(keys)) == 100_000
    assert not np.array_equal(keys, shuffle_keys(1, 0, 3, 100_000))
    assert not np.array_equal(keys, shuffle_keys(0, 1, 3, 100_000))

    def splitmix64(z: int) -> int:  # Steele, Lea & Flood (2014), written out independently
        m = (1 << 64) - 1
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    golden = 0x9E3779B97F4A7C15
    word = splitmix64(golden)  # the seed word of seed 0 (phase 0): the first SplitMix64 output
    assert keys[:3].tolist() == [splitmix64(((3 << 32) | i) ^ word) for i in range(3)]
