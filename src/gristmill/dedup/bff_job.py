"""The BFF job: n-gram phase, filter phase (tasks per dedup shard, or one filter over Ray actors)
and the rewrite of the shards (`gristmill.dedup.bff` has the algorithm)."""

from __future__ import annotations

from dataclasses import asdict

from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalTask
from gristmill.dedup.bff import BffConfig, FilterTask, NgramTask, filter_dedup_shard, ngram_shard
from gristmill.dedup.bff_ray import filter_on_ray_actors
from gristmill.dedup.job import DedupJob
from gristmill.dedup.scratch import ShardRef, mark_done, phase_done


def dedup_shards(shards: list[ShardRef], k: int) -> list[tuple[ShardRef, ...]]:
    """Input shards of each dedup shard: shard ``i`` -> dedup shard ``i mod k`` (DCLM)."""
    return [tuple(s for s in shards if s.index % k == j) for j in range(k)]


def run_bff(step: str, task: GlobalTask, config: BffConfig) -> dict[str, StepStats]:
    """BFF over the task's shards; ``{shard name: StepStats}``.

    With ``expected_ngrams`` given and at least one dedup shard per worker, each filter task
    hashes its own files while filtering (no n-gram scratch files, DCLM's streaming shape);
    otherwise phase ``ngrams`` first hashes all shards in parallel, which also yields the
    exact n-gram counts that size the filters. Both routes give the same bytes.
    """
    job = DedupJob.open(step, "bff_duplicate", task, asdict(config))
    groups = [g for g in dedup_shards(job.shards, config.shards) if g]
    on_ray = getattr(job.executor, "kind", "local") == "ray"
    workers = max(1, int(getattr(job.executor, "workers", 1)))
    global_on_actors = on_ray and len(groups) == 1
    stored = not (config.expected_ngrams and len(groups) >= workers and not global_on_actors)
    if stored:
        counts = job.shard_phase("ngrams", ngram_shard, [NgramTask(s, config, str(job.root)) for s in job.shards])
        ngrams_of = {s.index: c["ngrams"] for s, c in zip(job.shards, counts, strict=True)}
    else:
        ngrams_of = {s.index: 0 for s in job.shards}
    tasks = [
        FilterTask(f"dedup-{g[0].index % config.shards:05d}", g,
                   config.plan(sum(ngrams_of[s.index] for s in g)), config, str(job.root), stored)
        for g in groups
    ]
    if global_on_actors:
        # One global filter: spread its blocks over actors instead of one task's memory.
        actors = min(config.actors or workers, config.blocks)
        if phase_done(job.root, "filter", tasks[0].name) is None:
            with job.timed():
                result = filter_on_ray_actors(job, tasks[0], actors)
            mark_done(job.root, "filter", tasks[0].name, result)
    else:
        job.phase("filter", filter_dedup_shard, tasks, [t.name for t in tasks])

    def decisions(shard: ShardRef) -> list[str]:
        return [str(job.root / "decisions" / f"shard-{shard.index:05d}" / "bff.npz")]

    return job.write(decisions, with_ids=False)
