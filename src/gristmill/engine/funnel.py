"""Run a chain of local steps over documents in memory: what survives, and why the rest went.

For tests, benchmarks and notebooks that look at filters without the pipeline's files and
executors. It drives the same `gristmill.engine.chain.StepChain` that `gristmill run` uses
on every shard, so what a funnel shows is what a run does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gristmill.core.document import Document
from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalStep, Step, StepContext
from gristmill.engine.chain import StepChain
from gristmill.engine.recipe import load_recipe
from gristmill.engine.registry import build_step, step_class


@dataclass
class Funnel:
    """The outcome of `run_funnel`.

    Attributes:
        kept: the documents every step kept (as the last step returned them), in input order.
        drops: documents dropped, by drop reason.
        out_counts: per step, in chain order, (step label, documents it let through).
        errors: (step name, document id, message) of every document a step raised on.
        stats: per step, the same `StepStats` a run's ``stats.json`` reports.
    """

    kept: list[Document]
    drops: Counter[str]
    out_counts: list[tuple[str, int]]
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    stats: list[StepStats] = field(default_factory=list)


def run_funnel(
    steps: Sequence[Step], docs: Sequence[Document], batch_size: int | None = None
) -> Funnel:
    """Pass ``docs`` through ``steps`` (already set up) in order, ``batch_size`` documents at
    a time (all at once by default); a dropped document skips the later steps."""
    chain = StepChain(list(steps))
    size = batch_size or max(len(docs), 1)
    kept: list[Document] = []
    errors: list[tuple[str, str, str]] = []

    def on_error(step: Step, doc: Document, message: str) -> None:
        errors.append((step.name, doc.id, message))

    for start in range(0, len(docs), size):
        survivors, _ = chain.run(list(docs[start : start + size]), on_error=on_error)
        kept.extend(survivors)
    drops: Counter[str] = Counter()
    for stats in chain.stats:
        drops.update(stats.dropped)
    out_counts = [(stats.name, stats.docs_out) for stats in chain.stats]
    return Funnel(kept, drops, out_counts, errors, chain.stats)


def prepared_step(name: str, kwargs: dict[str, Any] | None = None,
                  context: StepContext | None = None) -> Step:
    """A step built from its name and config and set up, ready for `apply`."""
    step = build_step(name, dict(kwargs or {}))
    step.setup(context or StepContext())
    return step


def recipe_filter_steps(
    recipe: str, assets: Path, *, dclm_compat: Collection[str] = ()
) -> list[Step]:
    """The local steps of a recipe after extraction (global steps such as dedup left out),
    built with ``${assets}`` resolved and set up; the steps named in ``dclm_compat`` get
    ``dclm_compat=True`` (DCLM's code, quirks included)."""
    loaded = load_recipe(recipe, assets=assets)
    steps = []
    for spec in loaded.steps:
        if spec.name == "extract_text" or issubclass(step_class(spec.name), GlobalStep):
            continue
        kwargs = loaded.resolved_kwargs(spec)
        if spec.name in dclm_compat:
            kwargs["dclm_compat"] = True
        steps.append(prepared_step(spec.name, kwargs, StepContext(seed=0, assets=assets)))
    return steps
