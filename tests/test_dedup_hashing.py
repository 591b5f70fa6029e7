"""Stable hashing, shingles and tokens shared by the dedup methods."""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import orjson

from crossproc import python_output
from gristmill.core.hashing import (
    bucket_of,
    combine_columns,
    hash_strings,
    hash_text,
    mix64,
    mix64_int,
    window_hashes,
)
from gristmill.dedup.minhash import MinhashParams, band_keys, signatures
from gristmill.dedup.shingles import (
    bff_paragraph_shingles,
    minhash_document_shingles,
    paragraphs,
    remove_paragraphs,
    sequence_shingles,
    uniseg_tokens,
)


def test_hashes_are_pinned_so_results_never_drift():
    # A change to any of these values changes every dedup result ever written.
    assert hash_text("gristmill") == 0x405BE01050BD0F1B
    assert hash_text("gristmill", seed=1) == 0x25BC46FCF5499DF2
    assert int(hash_strings(["gristmill"])[0]) == hash_text("gristmill")
    assert int(mix64(np.array([12345], dtype=np.uint64))[0]) == 0x7F6A6FB2086B7417
    assert mix64_int(12345) == 0xF36CF1164265DD51  # the unseeded finaliser itself
    h, _ = window_hashes(hash_strings(["a", "b", "c"]), [0, 3], 3)
    assert int(h[0]) == 0xA423280FE39756D3


def test_window_hashes_stay_inside_sequences_and_respect_order():
    toks = hash_strings(["a", "b", "c", "d", "e", "f", "g"])
    hashes, counts = window_hashes(toks, [0, 3, 3, 7], 2)
    assert counts.tolist() == [2, 0, 3]  # "ab bc" | (empty) | "de ef fg": no window spans c|d
    again, _ = window_hashes(hash_strings(["x", "b", "c"]), [0, 3], 2)
    assert again[1] == hashes[1]  # "b c" hashes alike wherever it occurs
    forward, _ = window_hashes(hash_strings(["a", "b"]), [0, 2], 2)
    backward, _ = window_hashes(hash_strings(["b", "a"]), [0, 2], 2)
    assert forward[0] != backward[0]
    assert len(set(hashes.tolist())) == 5


def test_buckets_and_band_hashes_are_in_range_and_stable_across_processes():
    h = hash_strings([str(i) for i in range(1000)])
    b = bucket_of(h, 7)
    assert b.min() >= 0 and b.max() < 7 and len(np.unique(b)) == 7
    m = np.stack([h[:500], h[500:]], axis=1)
    assert not np.array_equal(combine_columns(m, 3), combine_columns(m[:, ::-1], 3))
    elsewhere = python_output(
        "import numpy as np; from gristmill.core.hashing import hash_strings, combine_columns\n"
        "h = hash_strings([str(i) for i in range(1000)])\n"
        "print(combine_columns(np.stack([h[:500], h[500:]], axis=1), 3).tobytes().hex())")
    assert elsewhere.strip() == combine_columns(m, 3).tobytes().hex()


def test_uniseg_tokens_keep_punctuation_and_drop_whitespace_like_dclm_bff():
    # DCLM tokenize(): split_word_bounds() minus whitespace-only segments.
    assert uniseg_tokens("Hello, world!  It's 3.14\tU.S.A.\n") == [
        "Hello", ",", "world", "!", "It's", "3.14", "U.S.A", "."]
    assert uniseg_tokens("日本語のテキスト") == ["日", "本", "語", "の", "テキスト"]
    assert uniseg_tokens(" \n\t ") == []


def test_paragraph_windows_are_dclms():
    text = "first line\nsecond\n\nfourth"
    assert paragraphs(text) == ["first line", "second", "", "fourth"]
    # Window i > 0 starts at the newline before piece i; removing it removes that newline.
    assert remove_paragraphs(text, [1]) == "first line\n\nfourth"
    assert remove_paragraphs(text, [0]) == "\nsecond\n\nfourth"
    assert remove_paragraphs(text, [0, 1, 2, 3]) == ""
    assert remove_paragraphs(text, []) == text


def test_short_sequences_get_one_whole_shingle_only_above_the_minimum():
    seqs = [["a", "b", "c"], ["x"], ["a", "b", "c", "d"], [], ["x"]]
    hashes, counts = sequence_shingles(seqs, 3, 1, seed=0)
    assert counts.tolist() == [1, 1, 2, 0, 1]
    assert hashes[0] == hashes[2]  # "a b c" as a window and as a whole sequence
    assert hashes[1] == hashes[4]
    _, counts13 = sequence_shingles(seqs, 3, 3, seed=0)
    assert counts13.tolist() == [1, 0, 2, 0, 0]


def test_bff_shingles_count_13_grams_per_paragraph(shared_data):
    with gzip.open(shared_data / "web/more/wikipedia-00000.jsonl.gz", "rt") as f:
        texts = [orjson.loads(line)["text"] for line in itertools.islice(f, 20)]
    hashes, per_para, per_doc = bff_paragraph_shingles(texts, 13, 13, seed=0)
    assert per_doc.tolist() == [len(t.split("\n")) for t in texts]
    expected = [max(0, len(uniseg_tokens(p)) - 12) for t in texts for p in t.split("\n")]
    assert per_para.tolist() == expected
    assert len(hashes) == sum(expected)


def test_minhash_signatures_estimate_jaccard_on_real_text(shared_data):
    with gzip.open(shared_data / "web/more/wikipedia-00000.jsonl.gz", "rt") as f:
        text = orjson.loads(next(itertools.islice(f, 3, 4)))["text"]
    words = text.split(" ")
    half = " ".join(words[: len(words) // 2])
    params = MinhashParams(num_perm=256)
    shingles, counts = minhash_document_shingles([text, text, half, ""], 5, 0)
    assert counts[3] == 0
    sigs = signatures(shingles, counts, params)
    assert np.array_equal(sigs[0], sigs[1])
    ends = np.cumsum(counts)
    a, b = (set(shingles[e - c : e].tolist()) for e, c in zip(ends[[0, 2]], counts[[0, 2]], strict=True))
    true_j = len(a & b) / len(a | b)
    est = float(np.mean(sigs[0] == sigs[2]))
    assert abs(est - true_j) < 0.1  # 256 permutations: standard error about 0.03
    keys = band_keys(sigs, params)
    assert keys.shape == (4, params.layout[0]) and np.array_equal(keys[0], keys[1])
    # A document bigger than one signature block agrees with the same shingles signed alone.
    big = np.concatenate([shingles] * 5)
    assert np.array_equal(signatures(big, [len(big)], params)[0], signatures(shingles, [len(shingles)], params)[0])
