"""The pipeline driver: a recipe over input shards, on any executor, resumable.

A recipe's steps split into stages at global steps (dedup, quantile thresholds): runs of local
steps stream each shard independently; a global step runs as a multi-phase job over all shards
of the previous stage. Output layout of ``gristmill run ... --output DIR``::

    DIR/documents/<shard>.jsonl.zst   kept documents (same shard names as the inputs)
    DIR/stats.json                    per step: documents/bytes in and out, drops by reason, errors
    DIR/errors.jsonl                  file, offset and message of every bad record or document
    DIR/manifest.json                 recipe and its hash, inputs, versions, seed
    DIR/dropped/<step>/<reason>/      with --keep-dropped, the removed documents
    DIR/quarantine/<shard>.jsonl.zst  documents a step raised on (counted as errors)
    DIR/attributes/<key>/<shard>.jsonl.zst  scores steps declare (`Step.attribute_keys`), Dolma layout
    DIR/.state/                       done markers and intermediate stages (for resume)

Stats and outputs are assembled in shard order, so they are identical for any executor and
worker count (only the ``seconds`` figures differ).
"""

from __future__ import annotations

import logging
import platform
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import orjson

from gristmill.core.errors import GristmillError
from gristmill.core.executor import Executor
from gristmill.core.stats import StepStats
from gristmill.core.step import GlobalStep, GlobalTask, StepContext
from gristmill.engine.chain import step_labels
from gristmill.engine.executors import check_executor_options, make_executor
from gristmill.engine.output_folder import (
    MANIFEST,
    check_inputs_outside,
    prepare_output,
    run_identity,
)
from gristmill.engine.progress import ProgressExecutor, progress_bar
from gristmill.engine.recipe import Recipe, StepSpec, load_recipe, recipe_from_steps
from gristmill.engine.registry import build_step, step_class
from gristmill.engine.shard import (
    READER_STEP,
    ShardResult,
    ShardTask,
    process_shard,
    read_marker,
)
from gristmill.io.atomic import remove_stale_temps, write_atomic
from gristmill.io.attributes import attribute_path, write_attribute_files
from gristmill.io.lock import folder_lock
from gristmill.io.paths import common_root, expand_inputs, shard_name

log = logging.getLogger(__name__)

VERSIONED_PACKAGES = (
    "gristmill", "fastwarc", "resiliparse", "trafilatura", "zstandard", "pyarrow", "numpy",
    "orjson", "fasttext", "fasttext-predict", "tokenizers", "xxhash", "ray", "torch",
)


@dataclass
class RunResult:
    """The outcome of `Pipeline.run`: where things are and the merged statistics."""

    output: Path
    stats: dict[str, Any]
    shards_total: int
    shards_done_before: int
    nothing_to_do: bool = False
    step_stats: list[StepStats] = field(default_factory=list)


class ShardsFailedError(GristmillError):
    """Shards whose input could not be read to the end: they are not done (no marker), the
    other shards are, and a rerun redoes only these."""

    def __init__(self, failed: list[ShardResult], total: int) -> None:
        first = failed[0]
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        super().__init__(
            f"{len(failed)} of {total} shard(s) not done, their input could not be read to the "
            f"end; rerun to retry them: {first.shard}: {first.failed}{more}"
        )
        self.failed = failed


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _stages(specs: list[StepSpec]) -> list[tuple[str, list[StepSpec]]]:
    """Split steps into ("local", [...]) and ("global", [one]) stages, in order. A recipe
    that starts with a global step gets a first local stage of no steps, which only reads
    the inputs into shard files for it."""
    stages: list[tuple[str, list[StepSpec]]] = []
    for spec in specs:
        if issubclass(step_class(spec.name), GlobalStep):
            if not stages:
                stages.append(("local", []))
            stages.append(("global", [spec]))
        elif stages and stages[-1][0] == "local":
            stages[-1][1].append(spec)
        else:
            stages.append(("local", [spec]))
    return stages


class Pipeline:
    """A curation recipe, runnable over input files on the local or Ray executor.

    >>> from gristmill import Pipeline
    >>> Pipeline.from_recipe("raw").run(["crawl/*.warc.gz"], "out/")  # doctest: +SKIP
    """

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe

    @classmethod
    def from_recipe(cls, name_or_path: str, assets: Path | None = None) -> Pipeline:
        return cls(load_recipe(name_or_path, assets=assets))

    @classmethod
    def from_steps(cls, steps: list[Any], name: str = "custom", seed: int = 0,
                   assets: Path | None = None) -> Pipeline:
        return cls(recipe_from_steps(steps, name=name, seed=seed, assets=assets))

    # -- the run -------------------------------------------------------------------------

    def run(
        self,
        inputs: list[str],
        output: str | Path,
        executor: str | Executor = "local",
        workers: int | None = None,
        ray_address: str | None = None,
        keep_dropped: bool = False,
        seed: int | None = None,
        progress: bool = False,
        keep_work: bool = False,
        overwrite: bool = False,
    ) -> RunResult:
        """Run the recipe over ``inputs`` into the folder ``output``.

        The folder is locked for the run (a second run into it is refused), must be empty or
        hold this same run (recipe, seed, inputs and their sizes), which then resumes;
        ``overwrite`` replaces a run that is there. Raises `GristmillError` with a one-line
        reason otherwise.
        """
        out = Path(output)
        if isinstance(executor, str):
            check_executor_options(executor, workers, ray_address)  # before the folder is touched
        if seed is not None:
            self.recipe.seed = seed
        files = expand_inputs(list(inputs))
        root = common_root(files)
        shards = [(shard_name(f, root), f) for f in files]
        names = [s for s, _ in shards]
        if len(set(names)) != len(names):
            dup = next(n for n, c in Counter(names).items() if c > 1)
            raise GristmillError(f"two inputs map to the same shard name {dup!r}")
        check_inputs_outside(files, out)
        identity = run_identity(self.recipe.name, self.recipe.hash, self.recipe.seed, shards)
        with folder_lock(out):
            resumed = prepare_output(out, identity, overwrite=overwrite)
            remove_stale_temps(out)
            if not resumed:
                # Written first, so a killed run is recognised (and its identity checked).
                self._write_manifest(out, names, files, identity, keep_dropped)
            elif keep_dropped and not _manifest(out).get("keep_dropped"):
                log.warning("--keep-dropped applies only to shards not done yet: this run "
                            "started without it (use --overwrite to redo every shard)")
            run = _Run(out, executor, workers, ray_address, keep_dropped, progress, keep_work)
            try:
                return self._run_stages(run, shards, names, files)
            finally:
                run.close()

    def _run_stages(self, run: _Run, shards, names, files) -> RunResult:
        out = run.out
        stages = _stages(self.recipe.steps)
        total_done_before = 0
        total_todo = 0
        stage_inputs = shards
        results_by_stage: list[dict[str, ShardResult]] = []
        started = time.perf_counter()
        for index, (kind, specs) in enumerate(stages):
            last = index == len(stages) - 1
            docs_dir = out / "documents" if last else run.state / f"stage-{index}" / "documents"
            if kind == "local":
                results, done_before, todo = self._run_local_stage(
                    run, index, specs, stage_inputs, docs_dir, first=index == 0)
            else:
                results, done_before, todo = self._run_global_stage(
                    run, index, specs[0], stage_inputs, docs_dir)
            total_done_before += done_before
            total_todo += todo
            results_by_stage.append(results)
            stage_inputs = [(name, str(docs_dir / f"{name}.jsonl.zst")) for name, _ in shards]
        self._write_attributes(run, names)

        nothing_to_do = total_todo == 0 and (out / "stats.json").is_file()
        step_stats, stats = self._merge(results_by_stage, names, files)
        stats["seconds_this_run"] = round(time.perf_counter() - started, 3)
        if not nothing_to_do:
            self._write_outputs(out, stats, results_by_stage, names)
        return RunResult(out, stats, len(shards), total_done_before, nothing_to_do, step_stats)

    def _run_local_stage(self, run: _Run, index, specs, inputs, docs_dir, first):
        marker_dir = run.state / f"stage-{index}" / "done"
        steps = tuple((s.name, self.recipe.resolved_kwargs(s)) for s in specs)
        all_labels = step_labels([s.name for s in self.recipe.steps])
        labels = tuple(all_labels[i] for spec in specs
                       for i, s in enumerate(self.recipe.steps) if s is spec)
        plugins = tuple(self.recipe.plugins)
        assets = str(self.recipe.assets) if self.recipe.assets else None
        tasks: list[ShardTask] = []
        results: dict[str, ShardResult] = {}
        for name, path in inputs:
            marker = marker_dir / f"{name}.json"
            done = read_marker(marker)
            if done is not None and (docs_dir / f"{name}.jsonl.zst").is_file():
                results[name] = done
                continue
            tasks.append(ShardTask(
                shard=name,
                input_path=path,
                steps=steps,
                output_path=str(docs_dir / f"{name}.jsonl.zst"),
                marker_path=str(marker),
                seed=self.recipe.seed,
                assets=assets,
                dropped_dir=str(run.out / "dropped") if run.keep_dropped else None,
                quarantine_path=str(run.out / "quarantine" / f"{name}.jsonl.zst"),
                count_reader=first,
                source_label=_label(path) if first else "",
                labels=labels,
                plugins=plugins,
            ))
        done_before = len(results)
        if tasks:
            what = f"{len(specs)} step(s)" if specs else "reading inputs"
            failed: list[ShardResult] = []
            executor = run.executor()  # started before the bar: it may fail in one line
            with progress_bar(run.progress, f"stage {index}: {what}", len(tasks), "shards") as bar:
                for i, result in executor.imap(process_shard, tasks):
                    if result.failed is None:
                        results[tasks[i].shard] = result
                    else:
                        failed.append(result)
                    bar.advance()
            if failed:
                raise ShardsFailedError(failed, len(inputs))
        return results, done_before, len(tasks)

    def _run_global_stage(self, run: _Run, index, spec, inputs, docs_dir):
        marker = run.state / f"stage-{index}" / "global.done.json"
        if marker.is_file():
            data = orjson.loads(marker.read_bytes())
            return {k: ShardResult.from_dict(v) for k, v in data.items()}, len(data), 0
        step = build_step(spec.name, self.recipe.resolved_kwargs(spec))
        if not isinstance(step, GlobalStep):  # pragma: no cover - guarded by _stages
            raise GristmillError(f"{spec.name} is not a global step")
        context = StepContext(seed=self.recipe.seed, assets=self.recipe.assets,
                              extra={"run_dir": str(run.out)})
        step.setup(context)
        work = run.state / f"stage-{index}" / "work"
        docs_dir.mkdir(parents=True, exist_ok=True)
        executor = run.executor()
        if run.progress:  # a bar per phase of the step's job
            executor = ProgressExecutor(executor, f"stage {index}: {spec.name}")
        stats = step.run(GlobalTask(
            inputs=[(n, Path(p)) for n, p in inputs],
            out_dir=docs_dir,
            dropped_dir=run.out / "dropped" / spec.name if run.keep_dropped else None,
            work_dir=work,
            executor=executor,
            context=context,
        ))
        results = {}
        for name, _ in inputs:
            s = stats[name]
            if not isinstance(s, StepStats):
                s = StepStats.from_dict(s)
            results[name] = ShardResult(name, [s])
        write_atomic(marker, _dumps({k: v.to_dict() for k, v in results.items()}))
        if not run.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        return results, 0, len(inputs)

    def _write_attributes(self, run: _Run, names) -> None:
        """Attribute side files of the final documents for every score a step declares
        (`Step.attribute_keys`), row-aligned with ``documents/<shard>.jsonl.zst``."""
        keys = sorted({key for spec in self.recipe.steps
                       for key in build_step(spec.name, self.recipe.resolved_kwargs(spec)).attribute_keys()})
        tasks = []
        for name in names:
            targets = {k: str(attribute_path(run.out, k, name)) for k in keys}
            if any(not Path(t).is_file() for t in targets.values()):
                tasks.append((str(run.out / "documents" / f"{name}.jsonl.zst"), targets))
        if tasks:
            run.executor().map(_attribute_task, tasks)

    # -- assembling outputs ----------------------------------------------------------------

    def _merge(self, results_by_stage, names, files):
        merged: list[StepStats] = []
        skipped: Counter[str] = Counter()
        errors = 0
        for results in results_by_stage:
            stage_stats: list[StepStats] | None = None
            for name in names:
                r = results[name]
                if stage_stats is None:
                    stage_stats = [StepStats(s.name) for s in r.steps]
                for acc, s in zip(stage_stats, r.steps, strict=True):
                    acc.merge(s)
                skipped.update(r.skipped)
                errors += len(r.errors)
            merged.extend(stage_stats or [])
        # Labels over the whole recipe, so a step repeated across stages is told apart too.
        labels = step_labels([READER_STEP] + [spec.name for spec in self.recipe.steps])
        if len(labels) == len(merged):
            for stats, label in zip(merged, labels, strict=True):
                stats.name = label
        reader = merged[0]
        read_errors = reader.errors
        documents_read = reader.docs_out
        kept = merged[-1].docs_out if merged else 0
        dropped = sum(s.docs_dropped for s in merged)
        errored = sum(s.errors for s in merged)
        copies = sum(s.extra.get("copies_added", 0) for s in merged)
        totals = {
            "input_records": reader.docs_in,
            "documents_read": documents_read,
            "kept": kept,
            "dropped": dropped,
            "errored": errored,
            "read_errors": read_errors,
            "bytes_in": reader.bytes_in,
            "bytes_out": merged[-1].bytes_out if merged else 0,
            # a mix step's repeated copies are kept documents no input accounts for
            "accounted": reader.docs_in == kept - copies + dropped + errored,
        }
        stats = {
            "recipe": self.recipe.name,
            "recipe_hash": self.recipe.hash,
            "shards": len(names),
            "totals": totals,
            "skipped_records": dict(sorted(skipped.items())),
            "steps": [s.to_dict() for s in merged],
        }
        return merged, stats

    def _write_outputs(self, out, stats, results_by_stage, names) -> None:
        write_atomic(out / "stats.json", _dumps(stats))
        lines = []
        for results in results_by_stage:
            for name in names:
                for err in results[name].errors:
                    lines.append(orjson.dumps({"shard": name, **err}, option=orjson.OPT_SORT_KEYS))
        write_atomic(out / "errors.jsonl", b"".join(line + b"\n" for line in lines))

    def _write_manifest(self, out: Path, names: list[str], files: list[str],
                        identity: dict[str, Any], keep_dropped: bool) -> None:
        manifest = {
            "identity": identity,
            "keep_dropped": keep_dropped,
            "recipe": self.recipe.to_dict(),
            "recipe_hash": self.recipe.hash,
            "seed": self.recipe.seed,
            "inputs": [{"shard": n, "path": f} for n, f in zip(names, files, strict=True)],
            "versions": package_versions(),
            "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv)),
        }
        write_atomic(out / MANIFEST, _dumps(manifest))


@dataclass
class _Run:
    """One run's settings, and its executor, started when a stage first needs it (a rerun
    with nothing to do starts none) and closed at the end unless the caller passed it in."""

    out: Path
    executor_spec: str | Executor
    workers: int | None
    ray_address: str | None
    keep_dropped: bool
    progress: bool
    keep_work: bool
    _started: Executor | None = None

    @property
    def state(self) -> Path:
        return self.out / ".state"

    def executor(self) -> Executor:
        if not isinstance(self.executor_spec, str):
            return self.executor_spec
        if self._started is None:
            self._started = make_executor(self.executor_spec, self.workers, self.ray_address,
                                          quiet=not self.progress)
        return self._started

    def close(self) -> None:
        if self._started is not None:
            self._started.close()
            self._started = None


def _manifest(out: Path) -> dict[str, Any]:
    return orjson.loads((out / MANIFEST).read_bytes())


def _attribute_task(task: tuple[str, dict[str, str]]) -> int:
    return write_attribute_files(*task)


def _label(path: str) -> str:
    return path.rsplit("/", 1)[-1]
