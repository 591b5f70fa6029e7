"""Benchmark: gristmill's exact, BFF and MinHash-LSH dedup against datatrove's MinHash, one core.

Input: a near-duplicate set with known ground truth (`gristmill.dedup.nearsets`) built from
real text: the pages of ``../shared/data/web/pages`` extracted with resiliparse
(``extract_plain_text(main_content=True)``, DCLM's setting) and English Wikipedia articles from
``../shared/data/web/more/wikipedia-00000.jsonl.gz``. Originals are first cleaned of near
copies among themselves (true 5-gram Jaccard >= 0.5); half of them then get a copy — exact,
or with 1%, 3% or 10% of words edited — and other pages are wrapped in per-site boilerplate
headers/footers. Duplicates to find: exact and 1%/3% copies; to keep: originals and pages.

Measured side by side in this run, every method on one worker (documents/s per core):

* gristmill ``exact_dedup``, ``bff_dedup`` (DCLM-Baseline settings), ``minhash_dedup``
  (5-grams, J=0.8, 128 permutations -> 9 x 13) and the same at datatrove's 14 x 8: precision,
  recall, removal by kind, documents/s, MB/s, peak memory (peak RSS, ``VmHWM``, of a fresh
  process minus its RSS after imports).
* datatrove 0.10.1 MinHash, all four stages (signature, buckets, cluster, filter) through its
  ``LocalPipelineExecutor`` (14 x 8, 5-grams, whitespace tokenizer): precision, recall and
  end-to-end documents/s on the same documents.
* signature throughput only: gristmill's shingling + signatures against datatrove's
  ``MinhashDedupSignature.get_shingles`` + ``get_signature`` on the same documents, with
  datatrove's English spaCy word tokenizer (its default for English) on a subset, and with a
  whitespace tokenizer (``str.split``, the fastest it can be given) on all documents.
  datatrove's xxhash hash function passes ``str`` to xxhash, which xxhash 4 refuses; it is
  wrapped to encode first (as xxhash 3 did internally).
* BFF memory: the Bloom filter's allocated bytes and the peak traced memory of the filter pass
  against DCLM's theoretical size for the same n-gram count and rate.

Run: ``python benchmarks/dedup.py [--wiki N] [--spacy-docs N]`` (needs datatrove; spaCy for
the default-tokenizer column).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
PAGES = SHARED / "web" / "pages"
WIKI = SHARED / "web" / "more" / "wikipedia-00000.jsonl.gz"
SHARDS = 8


# -- the evaluation set ---------------------------------------------------------------------


def page_texts() -> list[tuple[str, str]]:
    """(url, main text) of every page under web/pages, extracted as DCLM does."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    out = []
    for path in sorted(PAGES.glob("*/*.html.gz")):
        with gzip.open(path) as f:
            raw = f.read()
        text = extract_plain_text(bytes_to_str(raw, detect_encoding(raw)), main_content=True)
        out.append((f"file://{path.parent.name}/{path.name}", text))
    return out


def wiki_texts(limit: int) -> list[tuple[str, str]]:
    out = []
    with gzip.open(WIKI, "rt", encoding="utf-8") as f:
        for line in f:
            if len(out) >= limit:
                break
            rec = orjson.loads(line)
            out.append((rec.get("url") or rec["id"], rec["text"]))
    return out


def build_set(wiki: int, workdir: Path) -> tuple[list[Any], list[tuple[str, Path]]]:
    from gristmill.core.document import Document
    from gristmill.dedup.nearsets import build_near_duplicates, drop_similar
    from gristmill.io.writers import open_writer

    pages = [(u, t) for u, t in page_texts() if len(t.split()) >= 50]
    wikis = [(u, t) for u, t in wiki_texts(wiki) if len(t.split()) >= 50]
    everything = pages + wikis
    keep = drop_similar([t for _, t in everything], threshold=0.5)
    clean = [everything[i] for i in keep]
    # Page bodies: a quarter of the cleaned web pages; originals: the rest (pages + wiki).
    n_pages = sum(1 for i in keep if i < len(pages))
    bodies = [t for _, t in clean[: n_pages // 4]]
    originals = clean[n_pages // 4 :]
    boilerplate = [ln for _, t in wikis[-200:] for ln in t.split("\n")]
    docs = build_near_duplicates(originals, bodies, boilerplate, seed=0, copy_fraction=0.5,
                                 edit_rates=(0.01, 0.03, 0.10), sites=20)
    inputs = []
    for s in range(SHARDS):
        path = workdir / "input" / f"part-{s:02d}.jsonl.zst"
        with open_writer(path) as w:
            for d in docs[s::SHARDS]:
                w.write(Document(id=d.id, text=d.text, url=d.url))
        inputs.append((f"part-{s:02d}", path))
    return docs, inputs


# -- running one method in a fresh process ------------------------------------------------


def _status_kib(field: str) -> int:
    """A memory field of /proc/self/status in KiB (VmRSS: now, VmHWM: peak of this process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(conn: Any, step_name: str, kwargs: dict[str, Any], inputs: list[tuple[str, str]],
           out: str) -> None:
    from gristmill.core.step import GlobalTask, StepContext
    from gristmill.engine.executors import LocalExecutor
    from gristmill.engine.registry import build_step
    from gristmill.io.readers import read_documents

    base = _status_kib("VmRSS")
    step = build_step(step_name, kwargs)
    task = GlobalTask([(n, Path(p)) for n, p in inputs], Path(out) / "docs", None, Path(out) / "work",
                      LocalExecutor(1), StepContext())
    t0, c0 = time.perf_counter(), time.process_time()
    stats = step.run(task)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _status_kib("VmHWM")
    kept = {}
    for p in sorted((Path(out) / "docs").glob("*.jsonl.zst")):
        for d in read_documents(str(p)):
            kept[d.id] = d.text
    conn.send({"wall": wall, "cpu": cpu, "rss_kib": peak - base, "kept": kept,
               "stats": {k: v.to_dict() for k, v in stats.items()}})
    conn.close()


def run_method(step_name: str, kwargs: dict[str, Any], inputs: list[tuple[str, Path]], out: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, step_name, kwargs, [(n, str(p)) for n, p in inputs], str(out)))
    proc.start()
    child.close()  # so a crashed child ends recv() with EOFError instead of a hang
    result = parent.recv()
    proc.join()
    return result


# -- datatrove ----------------------------------------------------------------------------


def _whitespace_words() -> Any:
    """A datatrove word tokenizer that splits on whitespace, as gristmill's shingles do."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    return Whitespace()


def _datatrove_minhash_signature(folder: str, language: Any) -> Any:
    """datatrove's signature step (default config) hashing shingles with xxh64, as gristmill."""
    import xxhash
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    sig = MinhashDedupSignature(folder, config=MinhashConfig(), language=language)
    sig._hash_func = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8", "surrogatepass"))
    return sig


def _datatrove_signature(tokenizer: str):
    language = _whitespace_words() if tokenizer == "whitespace" else "en"
    sig = _datatrove_minhash_signature(tempfile.mkdtemp(), language)
    sig.get_shingles("warm up the tokenizer once")
    return sig


def datatrove_signature_rate(texts: list[str], tokenizer: str) -> float:
    """Documents per CPU second of datatrove's shingling + signature (14 x 8 = 112 hashes)."""
    sig = _datatrove_signature(tokenizer)
    c0 = time.process_time()
    for t in texts:
        sh = sig.get_shingles(t)
        if sh.size:
            sig.get_signature(sh)
    return len(texts) / (time.process_time() - c0)


def gristmill_signature_rate(texts: list[str], num_perm: int, bands: int, rows: int) -> float:
    from gristmill.dedup.minhash import MinhashParams, band_keys, signatures
    from gristmill.dedup.shingles import minhash_document_shingles

    params = MinhashParams(num_perm=num_perm, bands=bands, rows=rows)
    params.permutations  # noqa: B018 (set up outside the timing, like datatrove's parameters)
    c0 = time.process_time()
    for i in range(0, len(texts), 1024):
        shingles, counts = minhash_document_shingles(texts[i : i + 1024], params.ngram, params.seed)
        band_keys(signatures(shingles, counts, params), params)
    return len(texts) / (time.process_time() - c0)


def _datatrove_child(conn: Any, inputs: list[str], out: str) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    base = _status_kib("VmRSS")
    cfg = MinhashConfig()
    folder = str(Path(inputs[0]).parent)
    sig = _datatrove_minhash_signature(f"{out}/sigs", _whitespace_words())

    def reader():
        return JsonlReader(folder, glob_pattern="*.jsonl.zst", compression="zstd", text_key="text",
                           id_key="id")

    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        LocalPipelineExecutor([reader(), sig], tasks=1, workers=1, logging_dir=f"{out}/l1").run()
        LocalPipelineExecutor([MinhashDedupBuckets(f"{out}/sigs", f"{out}/buckets", config=cfg)],
                              tasks=cfg.num_buckets, workers=1, logging_dir=f"{out}/l2").run()
        LocalPipelineExecutor([MinhashDedupCluster(f"{out}/buckets", f"{out}/ids", config=cfg)],
                              tasks=1, workers=1, logging_dir=f"{out}/l3").run()
        LocalPipelineExecutor([reader(), MinhashDedupFilter(f"{out}/ids"),
                               JsonlWriter(f"{out}/kept", compression=None)],
                              tasks=1, workers=1, logging_dir=f"{out}/l4").run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _status_kib("VmHWM")
    kept = {}
    for p in Path(f"{out}/kept").glob("*.jsonl"):
        for line in p.read_bytes().split(b"\n"):
            if not line:
                continue
            rec = orjson.loads(line)
            kept[rec["id"]] = rec["text"]
    conn.send({"wall": wall, "cpu": cpu, "rss_kib": peak - base, "kept": kept})
    conn.close()


def run_datatrove(inputs: list[tuple[str, Path]], out: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_datatrove_child, args=(child, [str(p) for _, p in inputs], str(out)))
    proc.start()
    child.close()
    result = parent.recv()
    proc.join()
    return result


# -- BFF memory ---------------------------------------------------------------------------


def bff_memory(inputs: list[tuple[str, Path]], workdir: Path, planned: int) -> list[dict[str, Any]]:
    """Filter bytes and peak traced memory of BFF's filter pass against DCLM's size, for the
    filter sized to the counted n-grams and to ``planned`` n-grams (a bigger shard's plan)."""
    from dataclasses import asdict

    from gristmill.core.step import GlobalTask, StepContext
    from gristmill.dedup.bff import BffConfig, FilterTask, filter_dedup_shard
    from gristmill.dedup.bff_job import dedup_shards, run_bff
    from gristmill.dedup.job import DedupJob
    from gristmill.engine.executors import LocalExecutor

    cfg = BffConfig()
    task = GlobalTask(list(inputs), workdir / "docs", None, workdir / "work", LocalExecutor(1), StepContext())
    run_bff("bff_dedup", task, cfg)  # leaves the n-gram scratch files in place
    job = DedupJob.open("bff_dedup", "bff_duplicate", task, asdict(cfg))
    counted = int(sum(np.fromfile(p, dtype=np.int64).sum() for p in (job.root / "ngrams").glob("*.para.i64")))
    out = []
    for expected in (counted, planned):
        plan = BffConfig(expected_ngrams=expected).plan(counted)
        ftask = FilterTask("mem", dedup_shards(job.shards, 1)[0], plan, cfg, str(job.root), True)
        tracemalloc.start()
        result = filter_dedup_shard(ftask)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.append({"expected_ngrams": expected, "theoretical_bytes": plan.theoretical_bytes,
                    "filter_bytes": result["filter_bytes"], "peak_traced_bytes": peak})
    return out


# -- main ---------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wiki", type=int, default=3000, help="Wikipedia articles to add to the pages")
    ap.add_argument("--spacy-docs", type=int, default=300, help="documents for datatrove+spaCy rate")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    from gristmill.dedup.nearsets import score

    work = Path(tempfile.mkdtemp(prefix="gristmill-dedup-bench-"))
    try:
        t0 = time.perf_counter()
        docs, inputs = build_set(args.wiki, work)
        texts = [d.text for d in docs]
        mb = sum(len(t.encode()) for t in texts) / 1e6
        kinds: dict[str, int] = {}
        for d in docs:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        print(f"set: {len(docs):,} documents, {mb:.1f} MB of text ({time.perf_counter() - t0:.0f} s to build); "
              + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items())))

        methods = [
            ("exact (text)", "exact_dedup", {}),
            ("exact (lines)", "exact_dedup", {"key": "lines"}),
            ("bff (DCLM 13/0.8/0.01)", "bff_dedup", {}),
            ("bff 4 shards", "bff_dedup", {"shards": 4}),
            ("minhash 9x13", "minhash_dedup", {}),
            ("minhash 14x8", "minhash_dedup", {"num_perm": 112, "bands": 14, "rows": 8}),
            ("minhash 9x13 verify", "minhash_dedup", {"verify": True}),
        ]
        head = (f"{'method':<24} {'prec':>6} {'recall':>6} {'exact':>6} {'1%':>6} {'3%':>6} {'10%':>6} "
                f"{'orig':>6} {'page':>6} {'boiler':>6} {'docs/s':>8} {'MB/s':>6} {'peak MB':>8}")
        print("\nshare removed by kind (a copy that precedes its original survives instead of it);"
              " boiler = repeated boilerplate lines removed; one core each")
        print(head)
        print("-" * len(head), flush=True)

        def row(label: str, r: dict[str, Any]) -> None:
            s = score(docs, r["kept"])
            k = s.removed_by_kind
            print(f"{label:<24} {s.precision:>6.3f} {s.recall:>6.3f} {k.get('exact', 0):>6.2f} "
                  f"{k.get('edit-0.01', 0):>6.2f} {k.get('edit-0.03', 0):>6.2f} {k.get('edit-0.1', 0):>6.2f} "
                  f"{k.get('original', 0):>6.3f} {k.get('page', 0):>6.3f} {s.boilerplate_lines_removed:>6.2f} "
                  f"{len(docs) / r['cpu']:>8,.0f} {mb / r['cpu']:>6.2f} {r['rss_kib'] / 1024:>8.1f}", flush=True)

        for label, step, kwargs in methods:
            row(label, run_method(step, kwargs, inputs, work / label.replace(" ", "_").replace("/", "-")))
        row("datatrove minhash 14x8", run_datatrove(inputs, work / "datatrove"))

        print("\nMinHash signatures (shingling + signature, documents per CPU second, same documents;"
              " best of 3 alternating rounds)")
        sub = texts[: args.spacy_docs]
        rates: dict[str, float] = {}
        for _ in range(3):
            for key, fn in (
                ("ours112", lambda: gristmill_signature_rate(texts, 112, 14, 8)),
                ("ours128", lambda: gristmill_signature_rate(texts, 128, 9, 13)),
                ("dt_ws", lambda: datatrove_signature_rate(texts, "whitespace")),
            ):
                rates[key] = max(rates.get(key, 0.0), fn())
        print(f"  gristmill 112 hashes: {rates['ours112']:,.0f} docs/s   128 hashes: {rates['ours128']:,.0f} docs/s")
        print(f"  datatrove 112 hashes, whitespace tokenizer: {rates['dt_ws']:,.0f} docs/s -> gristmill "
              f"{rates['ours112'] / rates['dt_ws']:.2f}x")
        try:
            dt_spacy = datatrove_signature_rate(sub, "spacy")
            ours_sub = gristmill_signature_rate(sub, 112, 14, 8)
            print(f"  datatrove 112 hashes, default English spaCy tokenizer ({len(sub)} docs): "
                  f"{dt_spacy:,.0f} docs/s -> gristmill ({ours_sub:,.0f} docs/s) {ours_sub / dt_spacy:.1f}x")
        except ImportError as exc:
            print(f"  datatrove with spaCy: skipped ({exc})")

        print("\nBFF memory (filter pass, traced) against DCLM's theoretical size at fp 0.01")
        for m in bff_memory(inputs, work / "bffmem", 50_000_000):
            print(f"  sized for {m['expected_ngrams']:>11,} n-grams: theoretical "
                  f"{m['theoretical_bytes'] / 2**20:7.2f} MiB, filter {m['filter_bytes'] / 2**20:7.2f} MiB"
                  f" ({m['filter_bytes'] / m['theoretical_bytes']:.4f}x), peak traced"
                  f" {m['peak_traced_bytes'] / 2**20:7.2f} MiB ({m['peak_traced_bytes'] / m['theoretical_bytes']:.3f}x)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
