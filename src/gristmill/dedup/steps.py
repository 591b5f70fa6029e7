"""The dedup steps recipes use: ``exact_dedup``, ``bff_dedup``, ``minhash_dedup``.

Each is a `GlobalStep`: the pipeline hands it the previous stage's shard files and it runs a
multi-phase job over them (`gristmill.dedup.exact`, `.bff`, `.lsh`). Defaults are the papers':
BFF as DCLM-Baseline ran it, MinHash with DCLM's 5-grams and 0.8 Jaccard threshold. Their
hash seed is the run's seed (``--seed``, the recipe's ``seed``) unless ``seed`` is set.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from gristmill.core.ranges import Count, Positive, Range, Seed, Share
from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalStep, GlobalTask, register
from gristmill.dedup.bff import BffConfig
from gristmill.dedup.bff_job import run_bff
from gristmill.dedup.exact import ExactConfig, run_exact
from gristmill.dedup.lsh import MinhashConfig, run_minhash
from gristmill.dedup.minhash import MinhashParams


@register("exact_dedup")
class ExactDedup(GlobalStep):
    """Remove exact duplicates of the normalized text, of the URL, or of lines (C4-style).

    Args:
        key: ``text`` (whole documents), ``url`` (documents by normalized URL) or ``lines``
            (every line across the corpus; documents left empty are removed).
        keep: which copy survives: ``first`` in corpus order, or ``url_hash``, the smallest
            hash of the normalized URL (DCLM's C4 reproduction keeps the smallest URL MD5).
        normalize: compare ``text.strip().lower()`` (DCLM's ``normalize_whitespace_and_lowercase``)
            instead of the raw text / line.
        partitions: partitions of the intermediate key files (0: one per 32 MiB of input,
            at least 16; never changes the result).
        seed: hash seed (default: the run's seed).
    """

    def __init__(
        self,
        *,
        key: Literal["text", "url", "lines"] = "text",
        keep: Literal["first", "url_hash"] = "first",
        normalize: bool = True,
        partitions: Count = 0,
        seed: Seed | None = None,
    ) -> None:
        self.settings = ExactConfig(key=key, keep=keep, normalize=normalize, partitions=partitions)

    def run(self, task: GlobalTask) -> dict[str, StepStats]:
        return run_exact(self.name, task, _seeded(self, task))


@register("bff_dedup")
class BffDedup(GlobalStep):
    """DCLM's Bloom-filter n-gram dedup (``old-both``), as DCLM-Baseline ran it.

    Args:
        ngram_size: tokens per n-gram (DCLM: 13, ``--max-ngram-size``).
        min_ngram_size: paragraphs with at least this many but fewer than ``ngram_size``
            tokens become one n-gram; shorter ones are never deduplicated (DCLM: 13).
        threshold: a paragraph (document) is removed when more than this share of its
            n-grams were seen (DCLM: 0.8, App. L: keeps median tokens/document closest).
        fp_rate: Bloom filter false-positive rate per n-gram (DCLM: 0.01; App. L found
            0.1/0.01/0.001 remove the same 20.47%).
        expected_ngrams: n-grams the filter is sized for; 0 sizes each dedup shard's filter
            for its exact n-gram count.
        shards: independent dedup shards, input shard i -> i mod shards (DCLM-Baseline: 100).
        blocks: blocks the filter is split into (Ray actors own whole blocks).
        batch_ngrams: n-grams probed per vectorised batch (working memory about 110 bytes
            per n-gram of a batch, beside the filter). Within a batch, n-grams of earlier
            kept paragraphs are matched exactly; across batches, through the filter with its
            false positives, so the batch size can move a contained count by one (output is
            otherwise the same on every executor, worker count and layout). On Ray with one
            global filter, each batch costs two round trips per actor: larger batches cut
            them (``benchmarks/ray_cluster.py``).
        actors: Ray actors holding a global filter (0: one per worker).
        seed: hash seed (default: the run's seed).
    """

    def __init__(
        self,
        *,
        ngram_size: Positive = 13,
        min_ngram_size: Positive = 13,
        threshold: Share = 0.8,
        fp_rate: Annotated[float, Range(0.0, 1.0, low_open=True, high_open=True)] = 0.01,
        expected_ngrams: Count = 0,
        shards: Positive = 1,
        blocks: Positive = 64,
        batch_ngrams: Positive = 16384,
        actors: Count = 0,
        seed: Seed | None = None,
    ) -> None:
        if not 0.0 < fp_rate < 1.0:
            raise ValueError(f"fp_rate must be in (0, 1), got {fp_rate}")
        self.settings = BffConfig(
            ngram_size=ngram_size, min_ngram_size=min_ngram_size, threshold=float(threshold),
            fp_rate=float(fp_rate), expected_ngrams=expected_ngrams, shards=shards, blocks=blocks,
            batch_ngrams=batch_ngrams, actors=actors,
        )

    def run(self, task: GlobalTask) -> dict[str, StepStats]:
        return run_bff(self.name, task, _seeded(self, task))


@register("minhash_dedup")
class MinhashDedup(GlobalStep):
    """MinHash-LSH near-duplicate removal; one survivor (the first copy) per cluster.

    Args:
        ngram: words per shingle (DCLM and FineWeb: 5).
        num_perm: signature length.
        bands, rows: LSH layout; 0 solves it for ``threshold`` (minimising false positive
            plus false negative area). DCLM used 93 x 15, FineWeb 14 x 8.
        threshold: Jaccard similarity regarded as duplicate (DCLM: 0.8).
        verify: keep an LSH link only if the true Jaccard of the shingle sets reaches the
            threshold.
        partitions: partitions of bucket and edge files (0: one per 32 MiB of input, at
            least 16; never changes the result).
        seed: hash seed of the permutations (default: the run's seed).
    """

    def __init__(
        self,
        *,
        ngram: Positive = 5,
        num_perm: Positive = 128,
        bands: Count = 0,
        rows: Count = 0,
        threshold: Share = 0.8,
        verify: bool = False,
        partitions: Count = 0,
        seed: Seed | None = None,
    ) -> None:
        params = MinhashParams(ngram=ngram, num_perm=num_perm, bands=bands, rows=rows,
                               threshold=float(threshold))
        params.layout  # noqa: B018 (solve now so a bad layout fails at recipe load)
        self.settings = MinhashConfig(params=params, verify=verify, partitions=partitions)

    def run(self, task: GlobalTask) -> dict[str, StepStats]:
        seed = _seed(self, task)
        settings = dataclasses.replace(
            self.settings, params=dataclasses.replace(self.settings.params, seed=seed))
        return run_minhash(self.name, task, settings)


def _seed(step: GlobalStep, task: GlobalTask) -> int:
    """The step's own ``seed`` when set, else the run's."""
    seed = step.config.get("seed")
    return task.context.seed if seed is None else seed


def _seeded(step: ExactDedup | BffDedup, task: GlobalTask) -> ExactConfig | BffConfig:
    return dataclasses.replace(step.settings, seed=_seed(step, task))
