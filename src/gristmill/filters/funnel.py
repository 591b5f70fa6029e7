"""Run a chain of local steps over documents in memory: what survives, and why the rest went.

For tests, benchmarks and notebooks that look at filters without the pipeline's files and
executors; the pipeline itself streams shards through `gristmill.core.shard`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from gristmill.core.document import Document
from gristmill.core.recipe import load_recipe
from gristmill.core.step import Drop, GlobalStep, Step, StepContext, build_step, registry


@dataclass
class Funnel:
    """The outcome of `run_funnel`.

    Attributes:
        kept: the documents every step kept (as the last step returned them), in input order.
        drops: documents dropped, by drop reason.
        out_counts: per step, in chain order, (step name, documents it let through).
    """

    kept: list[Document]
    drops: Counter[str]
    out_counts: list[tuple[str, int]]


def run_funnel(
    steps: Sequence[Step], docs: Sequence[Document], batch_size: int | None = None
) -> Funnel:
    """Pass ``docs`` through ``steps`` in order, ``batch_size`` documents at a time (all at
    once by default); a dropped document skips the later steps, as in the pipeline."""
    size = batch_size or max(len(docs), 1)
    kept: list[Document] = []
    drops: Counter[str] = Counter()
    passed = [0] * len(steps)
    for start in range(0, len(docs), size):
        live = list(docs[start : start + size])
        for i, step in enumerate(steps):
            survivors = []
            for result in step.apply_batch(live):
                if isinstance(result, Drop):
                    drops[result.reason] += 1
                else:
                    survivors.append(result)
            live = survivors
            passed[i] += len(live)
        kept.extend(live)
    return Funnel(kept, drops, [(step.name, n) for step, n in zip(steps, passed, strict=True)])


def recipe_filter_steps(
    recipe: str, assets: Path, *, dclm_compat: Collection[str] = ()
) -> list[Step]:
    """The local steps of a recipe after extraction (global steps such as dedup left out),
    built with ``${assets}`` resolved and set up; the steps named in ``dclm_compat`` get
    ``dclm_compat=True`` (DCLM's code, quirks included)."""
    loaded = load_recipe(recipe, assets=assets)
    steps = []
    for spec in loaded.steps:
        if spec.name == "extract_text" or issubclass(registry()[spec.name], GlobalStep):
            continue
        kwargs = loaded.resolved_kwargs(spec)
        if spec.name in dclm_compat:
            kwargs["dclm_compat"] = True
        step = build_step(spec.name, kwargs)
        step.setup(StepContext(seed=0, assets=assets))
        steps.append(step)
    return steps
