"""Benchmark: quality scorers against bare library loops, and memory per document of the
global quality steps.

Documents: real pages of ``../shared/data`` (PAGES-2026 and PAGES-ARCHIVE WARC mirrors,
extracted with DCLM-Pool's resiliparse call) and English Wikipedia articles. Measured side by
side in this run, on one core's worth of work each (timings are the best of ``--repeats``,
alternating the two sides so machine load hits both):

* fastText: the ``fasttext_quality`` step (``apply_batch`` on batches of 256, the shard
  runner's batch) against a bare ``fasttext.load_model(...).predict`` loop over the same
  texts with DCLM's preprocessing. Goal: >= 0.9x. The scores must agree exactly.
* embedding: the ``embedding_quality`` step against a bare ``SentenceTransformer.encode``
  loop (batch 64) of the same model (all-MiniLM-L6-v2 from its PyPI package) on the same
  documents. Goal: >= 0.9x. The embeddings must agree (max abs difference printed).
* ``top_fraction``: scratch bytes per document (the score files) and the traced peak of the
  in-process run per document, over ``--top-docs`` synthetic scores.
* ``semdedup``: scratch bytes per document of the real run (embeddings, assign rows) and
  the traced peak per document of the k-means / assign / pairwise phases on
  ``--semdedup-docs`` synthetic unit vectors (the embedding phase's memory is the model's,
  the same for any corpus size).

Run: ``python benchmarks/quality.py [--docs N] [--embed-docs N] [--repeats N]`` (needs the
``bench`` extra for sentence-transformers).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WARCS = SHARED / "commoncrawl" / "crawl-data"


def pages(crawl: str, files: int) -> list[str]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from gristmill.extract.resiliparse_backend import extract_dclm_pool

    out = []
    for path in sorted((WARCS / crawl / "segments" / "sample" / "warc").glob("*.warc.gz"))[:files]:
        with path.open("rb") as f:
            for record in ArchiveIterator(f, record_types=WarcRecordType.response):
                text = extract_dclm_pool(record.reader.read())
                if text.strip():
                    out.append(text)
    return out


def wiki(n: int) -> list[str]:
    with gzip.open(SHARED / "web" / "more" / "wikipedia-00000.jsonl.gz", "rb") as fh:
        return [orjson.loads(line)["text"] for line in itertools.islice(fh, n)]


def best_of(repeats: int, *runs):
    """Best wall time of each callable over ``repeats`` alternating rounds."""
    times = [float("inf")] * len(runs)
    results = [None] * len(runs)
    for _ in range(repeats):
        for i, fn in enumerate(runs):
            started = time.perf_counter()
            results[i] = fn()
            times[i] = min(times[i], time.perf_counter() - started)
    return times, results


def bench_fasttext(texts: list[str], tmp: Path, repeats: int) -> dict:
    import fasttext

    from gristmill.core.document import Document
    from gristmill.core.step import StepContext
    from gristmill.quality.fasttext_classifier import FastTextSettings, train_fasttext
    from gristmill.quality.steps import FastTextQuality

    model = tmp / "ft.bin"
    half = len(texts) // 2
    train_fasttext(texts[:half] + wiki(half), [0] * half + [1] * half, model, FastTextSettings(bucket=200_000))
    step = FastTextQuality(model=str(model))
    step.setup(StepContext())
    bare = fasttext.load_model(str(model))
    docs = [Document(id=str(i), text=t) for i, t in enumerate(texts)]

    def ours() -> list[float]:
        out = []
        for a in range(0, len(docs), 256):
            out += [d.metadata["fasttext_quality_prob"] for d in step.apply_batch(docs[a : a + 256])]
        return out

    def loop() -> list[float]:
        out = []
        for t in texts:
            labels, probs = bare.predict(" ".join(t.strip().splitlines()))
            out.append(float(probs[0]) if labels[0] == "__label__hq" else 1.0 - float(probs[0]))
        return out

    (t_ours, t_bare), (s_ours, s_bare) = best_of(repeats, ours, loop)
    assert np.allclose(s_ours, s_bare, atol=1e-6), "fastText scores differ from the bare loop"
    return {"docs": len(texts), "ours_docs_s": len(texts) / t_ours, "bare_docs_s": len(texts) / t_bare,
            "ratio": t_bare / t_ours}


def bench_embedding(texts: list[str], repeats: int) -> dict:
    from sentence_transformers import SentenceTransformer

    from gristmill.core.document import Document
    from gristmill.quality.embedding import Embedder, EmbeddingHead

    embedder = Embedder()
    head = EmbeddingHead(np.random.default_rng(0).normal(size=embedder.dim), 0.0, embedder.name)
    st = SentenceTransformer(str(embedder.folder), device="cpu")
    docs = [Document(id=str(i), text=t) for i, t in enumerate(texts)]
    vectors: dict[str, np.ndarray] = {}

    def ours() -> list[float]:  # what the step's apply_batch does, batch by batch
        out, parts = [], []
        for a in range(0, len(docs), 256):
            x = embedder.encode([d.text for d in docs[a : a + 256]])
            parts.append(x)
            out += head.predict(x).tolist()
        vectors["ours"] = np.concatenate(parts)
        return out

    def loop() -> None:
        vectors["bare"] = st.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)

    (t_ours, t_bare), _ = best_of(repeats, ours, loop)
    diff = float(np.abs(vectors["ours"] - vectors["bare"]).max())
    return {"docs": len(texts), "ours_docs_s": len(texts) / t_ours, "bare_docs_s": len(texts) / t_bare,
            "ratio": t_bare / t_ours, "max_abs_diff": diff}


def traced(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def folder_bytes(folder: Path, pattern: str = "*.npz") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern))


def bench_top_fraction(n: int, tmp: Path) -> dict:
    from gristmill.core.executor import InProcessExecutor
    from gristmill.engine.pipeline import Pipeline

    rng = np.random.default_rng(0)
    shards = 8
    inputs = []
    for s in range(shards):
        path = tmp / "top-in" / f"s{s}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        scores = np.round(rng.random(n // shards), 4)
        path.write_bytes(b"".join(orjson.dumps({"id": f"{s}-{i}", "text": "x", "metadata": {"q": v}}) + b"\n"
                                  for i, v in enumerate(scores.tolist())))
        inputs.append(str(path))
    out = tmp / "top-out"
    _, peak = traced(lambda: Pipeline.from_steps([{"top_fraction": {"key": "q", "fraction": 0.1}}]).run(
        inputs, out, executor=InProcessExecutor(), keep_work=True))
    scratch = folder_bytes(out / ".state", "scores/*.npz")
    return {"docs": n, "scratch_bytes_per_doc": scratch / n, "peak_traced_bytes_per_doc": peak / n}


def bench_semdedup(texts: list[str], n_synthetic: int, tmp: Path) -> dict:
    from gristmill.dedup.scratch import ShardRef, save_arrays
    from gristmill.engine.pipeline import Pipeline
    from gristmill.quality import semdedup as sd

    # The real step on real pages: scratch bytes per document.
    src = tmp / "sd-in" / "pages.jsonl"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(b"".join(orjson.dumps({"id": str(i), "text": t}) + b"\n" for i, t in enumerate(texts)))
    out = tmp / "sd-out"
    Pipeline.from_steps([{"semdedup": {"max_tokens": 128}}]).run([str(src)], out, workers=1, keep_work=True)
    work = next((out / ".state").rglob("semdedup"))
    real = {"docs": len(texts), "emb_bytes_per_doc": folder_bytes(work / "emb") / len(texts),
            "rows_bytes_per_doc": folder_bytes(work / "rows") / len(texts)}
    # The clustering and pairwise phases on synthetic unit vectors: traced peak per document.
    rng = np.random.default_rng(0)
    dim, shards, parts = 384, 4, 16
    per = n_synthetic // shards
    root = tmp / "sd-synth"
    files = []
    for s in range(shards):
        x = sd._normalise(rng.normal(size=(per, dim))).astype(np.float16)
        files.append(str(root / "emb" / f"{s:05d}.npz"))
        save_arrays(Path(files[-1]), emb=x)
    k = max(1, n_synthetic // 1000)
    fit = np.concatenate([np.load(f)["emb"].astype(np.float32) for f in files])[: 50_000]
    centroids, peak_kmeans = traced(lambda: sd.kmeans(fit, k, 20, 0))
    save_arrays(root / "centroids.npz", centroids=centroids)
    _, peak_assign = traced(lambda: sd.assign_shard(sd.AssignTask(ShardRef(0, "s0", ""), files[0],
                                                                  str(root / "centroids.npz"), str(root / "rows"), parts)))
    for s in range(1, shards):
        sd.assign_shard(sd.AssignTask(ShardRef(s, f"s{s}", ""), files[s], str(root / "centroids.npz"),
                                      str(root / "rows"), parts))
    done, peak_dedup = traced(lambda: sd.dedup_partition(sd.DedupTask(0, str(root / "rows"), str(root / "dec"),
                                                                      dim, 0.95, "first")))
    return {**real, "synthetic_docs": n_synthetic, "clusters": k,
            "kmeans_peak_bytes_per_sampled_doc": peak_kmeans / len(fit),
            "assign_peak_bytes_per_doc": peak_assign / per,
            "dedup_rows": done["rows"], "dedup_peak_bytes_per_doc": peak_dedup / max(1, done["rows"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=3000, help="documents for the fastText comparison")
    ap.add_argument("--embed-docs", type=int, default=96, help="documents for the embedding comparison")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--top-docs", type=int, default=200_000)
    ap.add_argument("--semdedup-docs", type=int, default=40_000)
    args = ap.parse_args()

    texts = pages("PAGES-2026", 15) + pages("PAGES-ARCHIVE", 23)
    texts = (texts * (args.docs // len(texts) + 1))[: args.docs]
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-quality-") as tmp_name:
        tmp = Path(tmp_name)
        ft = bench_fasttext(texts, tmp, args.repeats)
        print(f"fastText scoring, {ft['docs']} docs: gristmill step {ft['ours_docs_s']:,.0f} docs/s, bare predict "
              f"loop {ft['bare_docs_s']:,.0f} docs/s -> {ft['ratio']:.2f}x (goal >= 0.9x; scores identical)")
        em = bench_embedding(texts[: args.embed_docs], max(1, args.repeats - 1))
        print(f"embedding scoring, {em['docs']} docs: gristmill step {em['ours_docs_s']:.1f} docs/s, bare "
              f"SentenceTransformer.encode {em['bare_docs_s']:.1f} docs/s -> {em['ratio']:.2f}x (goal >= 0.9x); "
              f"max |embedding difference| {em['max_abs_diff']:.1e}")
        top = bench_top_fraction(args.top_docs, tmp)
        print(f"top_fraction, {top['docs']:,} docs: scratch {top['scratch_bytes_per_doc']:.1f} bytes/doc, "
              f"traced peak of the whole in-process run {top['peak_traced_bytes_per_doc']:.1f} bytes/doc")
        sem = bench_semdedup(texts[: args.embed_docs], args.semdedup_docs, tmp)
        print(f"semdedup, {sem['docs']} real docs: embedding scratch {sem['emb_bytes_per_doc']:.0f} bytes/doc, "
              f"assign rows {sem['rows_bytes_per_doc']:.0f} bytes/doc; {sem['synthetic_docs']:,} synthetic docs "
              f"in {sem['clusters']} clusters: traced peak k-means {sem['kmeans_peak_bytes_per_sampled_doc']:.0f} "
              f"bytes/sampled doc, assign {sem['assign_peak_bytes_per_doc']:.0f} bytes/doc of a shard, "
              f"pairwise {sem['dedup_peak_bytes_per_doc']:.0f} bytes/doc of a partition "
              f"({sem['dedup_rows']} rows, clusters of ~1,000)")
    ok = ft["ratio"] >= 0.9 and em["ratio"] >= 0.9 and em["max_abs_diff"] < 1e-4
    if not ok:
        print("GOAL MISSED", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
