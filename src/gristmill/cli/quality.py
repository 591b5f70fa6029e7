"""`gristmill quality`: train a quality classifier, score documents, keep a top fraction.

    gristmill quality train --positive REF... --negative POOL... --out model.bin
    gristmill quality train --kind embedding --positive ... --negative ... --out head.npz
    gristmill quality score --model model.bin --input DOCS --output OUT
    gristmill quality top --input OUT/documents --key fasttext_quality_prob --fraction 0.1 --output TOP

``train`` uses DCLM's fastText settings (bigrams, lr 0.1, dim 100, 5 epochs, minCount 1,
balanced classes, ``__label__hq`` / ``__label__cc``) and prints held-out accuracy and ROC AUC,
also saved as ``<model>.eval.json``. ``score`` writes a run folder whose documents carry the
score in ``metadata`` and whose ``attributes/<key>/<shard>.jsonl.zst`` side files hold it row
by row, so ``top`` (or a ``score_filter``) can change the threshold without rescoring.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gristmill.cli.summary import add_run_options, check_error_rate, print_run_summary
from gristmill.core.errors import GristmillError


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="train a quality classifier, score documents, keep a top fraction",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    t = actions.add_parser("train", help="train a fastText (or embedding + linear) classifier",
                           description="Train a quality classifier (DCLM's fastText settings by default) "
                           "and print its held-out accuracy and ROC AUC.")
    t.add_argument("--positive", nargs="+", required=True, metavar="PATH",
                   help="high-quality documents (JSONL/Parquet/WARC files or folders)")
    t.add_argument("--negative", nargs="+", required=True, metavar="PATH", help="pool documents")
    t.add_argument("--out", required=True, type=Path, help="model file to write (.bin; .npz for embedding)")
    t.add_argument("--kind", choices=["fasttext", "embedding"], default="fasttext",
                   help="fasttext (DCLM's classifier) or embedding (linear head on sentence embeddings)")
    t.add_argument("--heldout-positive", nargs="+", default=[], metavar="PATH",
                   help="held-out positives (other sources than --positive); replaces the split")
    t.add_argument("--heldout-negative", nargs="+", default=[], metavar="PATH",
                   help="held-out negatives (other sources than --negative)")
    t.add_argument("--heldout", type=float, default=0.1, help="held-out share of a seeded split (0.1)")
    t.add_argument("--max-per-class", type=int, default=0, help="cap on examples per class (DCLM: 200000)")
    t.add_argument("--seed", type=int, default=0, help="sampling and split seed")
    ft = t.add_argument_group("fastText (defaults: DCLM's)")
    ft.add_argument("--epoch", type=int, default=None, help="epochs (5)")
    ft.add_argument("--lr", type=float, default=None, help="learning rate (0.1)")
    ft.add_argument("--dim", type=int, default=None, help="vector size (100)")
    ft.add_argument("--word-ngrams", type=int, default=None, help="word n-grams (2)")
    ft.add_argument("--bucket", type=int, default=None,
                    help="hash buckets (2,000,000: ~800 MB models; smaller for small data)")
    ft.add_argument("--threads", type=int, default=None,
                    help="training threads (1: the same model bytes on every run)")
    em = t.add_argument_group("embedding (--kind embedding)")
    em.add_argument("--embedder", default=None,
                    help="packaged embedder name (all-MiniLM-L6-v2, the default) or a local "
                    "sentence-transformers folder")
    em.add_argument("--l2", type=float, default=None, help="L2 penalty of the logistic head (0.01)")
    em.add_argument("--max-tokens", type=int, default=None,
                    help="embedding window in tokens (default: the model's, 256)")

    s = actions.add_parser("score", help="score documents with a classifier (metadata + attribute files)",
                           description="Score documents; writes OUT/documents and OUT/attributes/<key>/.")
    s.add_argument("--model", required=True, help="fastText .bin, or embedding head .npz with --kind embedding")
    s.add_argument("--kind", choices=["fasttext", "embedding"], default="fasttext")
    s.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH")
    s.add_argument("--output", "-o", required=True, type=Path, metavar="DIR")
    s.add_argument("--key", default=None, help="metadata key of the score")
    add_run_options(s)

    k = actions.add_parser("top", help="keep the top fraction of documents by a score (global, exact)",
                           description="Keep the top --fraction of all documents by metadata[--key].")
    k.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH")
    k.add_argument("--output", "-o", required=True, type=Path, metavar="DIR")
    k.add_argument("--key", required=True)
    k.add_argument("--fraction", type=float, required=True, help="share kept (DCLM: 0.1)")
    k.add_argument("--keep", choices=["high", "low"], default="high")
    add_run_options(k)
    return p


def run(args: argparse.Namespace) -> int:
    if args.action == "train":
        return _train(args)
    if args.action == "score":
        step = "fasttext_quality" if args.kind == "fasttext" else "embedding_quality"
        kwargs = {"model": str(Path(args.model).resolve())}
        if args.key:
            kwargs["key"] = args.key
        return _pipeline(args, [{step: kwargs}], f"quality-score-{args.kind}")
    if args.action == "top":
        return _pipeline(args, [{"top_fraction": {"key": args.key, "fraction": args.fraction,
                                                  "keep": args.keep}}], "quality-top")
    raise GristmillError("give an action: train, score or top (see gristmill quality --help)")


def _train(args: argparse.Namespace) -> int:
    from gristmill.quality.train import TrainRequest, eval_path, train_classifier

    fasttext = {key: value for key, value in (
        ("epoch", args.epoch), ("lr", args.lr), ("dim", args.dim), ("word_ngrams", args.word_ngrams),
        ("bucket", args.bucket), ("threads", args.threads)) if value is not None}
    embedding = {key: value for key, value in (
        ("embedder", args.embedder), ("l2", args.l2), ("max_tokens", args.max_tokens)) if value is not None}
    report = train_classifier(TrainRequest(
        positive=args.positive, negative=args.negative, out=args.out, kind=args.kind,
        heldout_positive=args.heldout_positive, heldout_negative=args.heldout_negative,
        heldout=args.heldout, max_per_class=args.max_per_class, seed=args.seed, fasttext=fasttext,
        embedding=embedding,
    ))
    held = report["heldout"]
    print(f"trained {report['kind']} classifier on {report['train']['examples']} examples -> {args.out}")
    print(f"held-out ({held['how']}, {held['examples']} examples): accuracy {report['accuracy']:.4f}, "
          f"ROC AUC {report['roc_auc']:.4f}")
    print(f"report: {eval_path(args.out)}")
    return 0


def _pipeline(args: argparse.Namespace, steps: list, name: str) -> int:
    from gristmill.engine.pipeline import Pipeline
    from gristmill.engine.recipe import recipe_from_steps
    from gristmill.io.formats import detect_format
    from gristmill.io.paths import expand_inputs

    if any(detect_format(f) == "warc" for f in expand_inputs(args.input)):
        steps.insert(0, {"extract_text": {"backend": "auto"}})
    result = Pipeline(recipe_from_steps(steps, name=name)).run(
        args.input, args.output, executor=args.executor, workers=args.workers,
        ray_address=args.ray_address, keep_dropped=args.keep_dropped, progress=not args.quiet)
    if not args.quiet and not result.nothing_to_do:
        print_run_summary(result.stats)
    print(f"documents: {args.output / 'documents'}", file=sys.stderr)
    check_error_rate(result.stats, args.max_error_rate)
    return 0
