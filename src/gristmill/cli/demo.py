"""`gristmill demo`: download a small Common Crawl sample and run the most complete recipe.

What `make demo` runs. With the defaults it streams the first 2,000 records of the first WARC
file of a recent crawl from Common Crawl; ``--base-url`` points it at a mirror (a local copy
laid out like the bucket works offline).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from gristmill.cli.summary import print_run_summary
from gristmill.core.ranges import COUNT, POSITIVE

# Common Crawl lists its crawls, newest first, here; the demo samples the newest one.
COLLINFO_URL = "https://index.commoncrawl.org/collinfo.json"
# A crawl known to be published, used when the list cannot be read.
FALLBACK_CRAWL = "CC-MAIN-2024-51"
# Most complete first; the demo runs the first recipe whose steps need no user-supplied model.
RECIPE_PREFERENCE = ("dclm-baseline", "refinedweb", "raw")


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="download a crawl sample and run the demo pipeline",
                       description=__doc__)
    p.add_argument("--crawl", default=None,
                   help="crawl id (default: the newest crawl Common Crawl lists, "
                   f"else {FALLBACK_CRAWL})")
    p.add_argument("--base-url", default=None,
                   help="Common Crawl base URL or local mirror (default: the public endpoint)")
    p.add_argument("--records", type=POSITIVE.parse, default=2000,
                   help="WARC records to sample (default 2000)")
    p.add_argument("--files", type=POSITIVE.parse, default=1,
                   help="WARC files to sample from (default 1)")
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    p.add_argument("--recipe", default=None, help="recipe to run (default: the most complete available)")
    p.add_argument("--assets", type=Path, default=None,
                   help="assets folder for filter word lists (default: OUT/assets, downloaded)")
    p.add_argument("--assets-base-url", default=None,
                   help="mirror of the asset files (default: their public sources)")
    p.add_argument("--workers", type=POSITIVE.parse, default=None,
                   help="worker processes (default: all cores)")
    p.add_argument("--reference", nargs="+", default=[], metavar="PATH",
                   help="high-quality reference documents: without a quality model in the assets "
                   "folder, the demo trains a small stand-in classifier (reference vs pool) on them")
    p.add_argument("--train-steps", type=COUNT.parse, default=60,
                   help="steps of the tiny CPU model trained on the curated text (0: no training)")
    return p


def choose_recipe(assets: Path | None) -> str:
    """The most complete shipped recipe that loads here (its steps and assets are present)."""
    from gristmill.core.errors import GristmillError
    from gristmill.engine.recipe import load_recipe

    for name in RECIPE_PREFERENCE:
        try:
            recipe = load_recipe(name, assets=assets)
        except GristmillError:
            continue
        if all(_assets_present(recipe.resolved_kwargs(s)) for s in recipe.steps):
            return name
    return "raw"


def _assets_present(kwargs: dict) -> bool:
    for value in kwargs.values():
        is_file_arg = isinstance(value, str) and value.endswith((".txt", ".tar.gz", ".bin", ".ftz"))
        if is_file_arg and not Path(value).exists():
            return False
    return True


def _fetch_assets(assets: Path, base_url: str | None) -> None:
    """Fetch the filter assets; without them the demo falls back to a recipe that needs none."""
    from gristmill.assets.fetch import download_assets
    from gristmill.core.errors import GristmillError

    try:
        download_assets(assets, base_url=base_url)
    except GristmillError as exc:
        print(f"filter assets unavailable ({exc}); running without them", file=sys.stderr)


def newest_crawl(timeout: float = 10.0) -> str:
    """The newest crawl id in Common Crawl's collection list, or `FALLBACK_CRAWL`."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(COLLINFO_URL, timeout=timeout) as response:
            crawls = json.load(response)
        return next(c["id"] for c in crawls if str(c.get("id", "")).startswith("CC-MAIN-"))
    except (OSError, ValueError, StopIteration, KeyError, TypeError):
        return FALLBACK_CRAWL


def run(args: argparse.Namespace) -> int:
    from gristmill.core.errors import GristmillError
    from gristmill.engine.pipeline import Pipeline
    from gristmill.io.download import DEFAULT_BASE_URL, download_crawl

    base = args.base_url or DEFAULT_BASE_URL
    if args.crawl is None:
        if base != DEFAULT_BASE_URL:
            raise GristmillError("--crawl is required with a --base-url mirror")
        args.crawl = newest_crawl()
    crawl_dir = args.out / "crawl"
    print(f"downloading {args.records} records of {args.files} WARC file(s) of {args.crawl} "
          f"from {base}", file=sys.stderr)
    results = download_crawl(args.crawl, "warc", args.files, crawl_dir, records=args.records,
                             base_url=base)
    inputs = [str(r.local_path) for r in results]
    assets = args.assets or args.out / "assets"
    if args.recipe is None:
        _fetch_assets(assets, args.assets_base_url)
        if args.reference:
            _stand_in_classifier(assets, args.reference, inputs)
    recipe = args.recipe or choose_recipe(assets)
    print(f"running recipe {recipe!r} on {len(inputs)} file(s)", file=sys.stderr)
    pipeline = Pipeline.from_recipe(recipe, assets=assets)
    run_dir = args.out / recipe
    result = pipeline.run(inputs, run_dir, workers=args.workers, progress=True)
    print_run_summary(result.stats)
    report = None
    try:
        from gristmill.report.html import write_run_report

        report = write_run_report(run_dir)
    except ModuleNotFoundError:
        pass
    trained = _train_tiny_model(run_dir, args.out, args.train_steps) if args.train_steps else None
    print(f"\ndocuments: {run_dir / 'documents'}")
    print(f"stats:     {run_dir / 'stats.json'}")
    if report is not None:
        print(f"report:    {report}")
    if trained is not None:
        for label, path in trained.items():
            print(f"{label + ':':<10} {path}")
    return 0


# dclm-baseline's model file (recipes/dclm-baseline.yaml).
QUALITY_MODEL = "quality_fasttext.bin"


def _stand_in_classifier(assets: Path, reference: list[str], pool: list[str]) -> None:
    """Train a small fastText classifier, reference text vs the sampled pool, unless the
    assets folder already holds a quality model: a STAND-IN for DCLM's OpenHermes-2.5 + ELI5
    classifier, which cannot be downloaded here, so that the demo can run dclm-baseline."""
    from gristmill.quality.train import TrainRequest, train_classifier

    model = assets / QUALITY_MODEL
    if model.is_file():
        return
    print("training a STAND-IN quality classifier (reference text vs this pool sample); DCLM's "
          "is OpenHermes-2.5 + ELI5 vs RefinedWeb (mlfoundations/fasttext-oh-eli5): put that file "
          f"at {model} to use it", file=sys.stderr)
    report = train_classifier(TrainRequest(positive=reference, negative=pool, out=model,
                                           max_per_class=2000, fasttext={"bucket": 100_000}))
    print(f"stand-in classifier: held-out accuracy {report['accuracy']:.3f}, ROC AUC "
          f"{report['roc_auc']:.3f} ({report['heldout']['how']})", file=sys.stderr)


DEMO_SCALE = "cpu-micro"


def _train_tiny_model(run_dir: Path, out: Path, max_steps: int) -> dict[str, Path] | None:
    """Tokenize the curated documents (a BPE fitted on them, MeCo URL prefixes) and train the
    smallest CPU scale for a few steps: the whole flow, with nothing supplied by the user."""
    from gristmill.io.readers import read_documents
    from gristmill.io.run_folder import latest_checkpoint
    from gristmill.tokenize.meco import MecoConfig
    from gristmill.tokenize.pipeline import tokenize_corpus
    from gristmill.tokenize.shards import INDEX
    from gristmill.tokenize.vocab import train_tokenizer
    from gristmill.train.export import export_checkpoint
    from gristmill.train.scales import get_scale
    from gristmill.train.trainer import TrainOptions, train

    scale = get_scale(DEMO_SCALE)
    shards = sorted(str(p) for p in (run_dir / "documents").glob("*.jsonl.zst"))
    tokens = out / "tokens"
    if (tokens / INDEX).is_file():  # a rerun of the demo: the curated run did not change
        print(f"reusing the token folder {tokens}", file=sys.stderr)
        index = json.loads((tokens / INDEX).read_text())
    else:
        texts = [d.text for path in shards for d in read_documents(path) if hasattr(d, "text")]
        if not texts:
            print("no documents kept: skipping tokenization and training", file=sys.stderr)
            return None
        tokenizer = out / "tokenizer.json"
        print(f"fitting a {scale.vocab_size}-token BPE on {len(texts)} documents", file=sys.stderr)
        train_tokenizer(texts, scale.vocab_size, tokenizer)
        # A token folder left by a killed demo has no index: start it over.
        shutil.rmtree(tokens, ignore_errors=True)
        index = tokenize_corpus(shards, str(tokenizer), scale.seq_len, tokens,
                                meco=MecoConfig(mode="host"), chunks=4, seed=0)
    sequences = index["totals"]["sequences"]["main"]
    steps = min(max_steps, sequences // scale.global_batch)
    if steps < 2:
        print(f"only {sequences} sequences: too few to train", file=sys.stderr)
        return {"tokens": tokens}
    model_dir = out / "model"
    print(f"training {DEMO_SCALE} for {steps} steps (MeCo: URL host prefixes, cooldown without)",
          file=sys.stderr)
    # Resume what a previous demo trained (a finished run has nothing left to do).
    train(scale, TrainOptions(data=str(tokens), out=str(model_dir), meco=True, max_steps=steps,
                              resume=latest_checkpoint(model_dir) is not None))
    hf = export_checkpoint(model_dir, out / "model-hf", "hf")
    return {"tokens": tokens, "model": model_dir, "hf model": hf}
