"""Tokenization throughput: gristmill's encoding path against a bare `tokenizers` loop.

Both encode the same real documents (shared Wikipedia + Stack Exchange text) with DCLM's
GPT-NeoX-20B tokenizer in batches of the same size, alternating runs in one process; the
best of each is compared. gristmill's path (`render_batch`) also builds the EOT-separated
uint32 stream and the loss mask (with and without a MeCo prefix). The whole `tokenize_corpus`
(read, render, pack, shuffle, write) is timed too, for context.

(Named tokenization.py, not tokenize.py: a script's folder is first on sys.path, and a
benchmarks/tokenize.py would shadow the standard library's `tokenize` for every script here.)

    python benchmarks/tokenization.py [--docs N] [--repeats R]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import tempfile
import time
from pathlib import Path

from gristmill.tokenize import MecoConfig, eot_id, load_tokenizer, tokenize_corpus
from gristmill.tokenize.render import BATCH_DOCS_DEFAULT, render_batch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCES = ("web/more/wikipedia-00000.jsonl.gz", "web/more/se_archives-00000.jsonl.gz")


def load_docs(n: int) -> list[dict]:
    docs: list[dict] = []
    for rel in SOURCES:
        with gzip.open(SHARED / rel, "rt") as fh:
            docs += [json.loads(line) for line in itertools.islice(fh, n // len(SOURCES))]
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    tok_path = SHARED / "tokenizers/gpt-neox-20b.tokenizer.json"
    tok = load_tokenizer(tok_path)
    eot = eot_id(tok)
    docs = load_docs(args.docs)
    texts = [d["text"] for d in docs]
    meco = MecoConfig("host")
    prefixes = [meco.prefix_text(d["url"], {}) for d in docs]
    batches = [slice(i, i + BATCH_DOCS_DEFAULT) for i in range(0, len(texts), BATCH_DOCS_DEFAULT)]

    def bare() -> int:
        n = 0
        for b in batches:
            n += sum(len(e.ids) for e in tok.encode_batch(texts[b], add_special_tokens=False))
        return n

    def bare_fast() -> int:
        n = 0
        for b in batches:
            n += sum(len(e.ids) for e in tok.encode_batch_fast(texts[b], add_special_tokens=False))
        return n

    def ours() -> int:
        return sum(len(render_batch(tok, texts[b], None, eot).ids) for b in batches)

    def ours_meco() -> int:
        return sum(len(render_batch(tok, texts[b], prefixes[b], eot).ids) for b in batches)

    runs = {"bare encode_batch": bare, "bare encode_batch_fast": bare_fast, "gristmill render": ours, "gristmill render + MeCo": ours_meco}
    best: dict[str, tuple[float, int]] = {}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t = time.perf_counter()
            n = fn()
            dt = time.perf_counter() - t
            if name not in best or dt < best[name][0]:
                best[name] = (dt, n)
    base_tps = best["bare encode_batch"][1] / best["bare encode_batch"][0]
    print(f"{len(texts)} documents, {sum(map(len, texts)) / 1e6:.1f}M chars, GPT-NeoX-20B tokenizer")
    for name, (dt, n) in best.items():
        tps = n / dt
        print(f"{name:<26} {n:>10,} tokens  {tps:>12,.0f} tokens/s  ratio {tps / base_tps:.3f}x")
    # Tokens differ by the EOT per document (and the MeCo prefixes); ratios use each path's own count.

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "docs.jsonl"
        src.write_text("".join(json.dumps(d) + "\n" for d in docs))
        t = time.perf_counter()
        index = tokenize_corpus([str(src)], tok_path, 2048, Path(tmp) / "tok", workers=1, chunks=4)
        dt = time.perf_counter() - t
        n = index["totals"]["tokens"]["main"]
        print(f"{'tokenize_corpus end-to-end':<26} {n:>10,} tokens  {n / dt:>12,.0f} tokens/s  ratio "
              f"{n / dt / base_tps:.3f}x  (read + render + pack + shuffle + write, 1 worker)")


if __name__ == "__main__":
    main()
