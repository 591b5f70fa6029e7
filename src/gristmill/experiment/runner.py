"""The experiment as a graph of cached stages: pool → datasets → classifiers → decontamination
reports → tokenizer → tokens per arm → training per arm and seed → evaluation → leaderboard.

Stage keys chain by hash (`gristmill.experiment.cache`): a dataset's key holds its recipe and
the pool's file digests (or, when its recipe begins with every step of another dataset's, that
dataset's key and the remaining steps: dclm-baseline reuses refinedweb + BFF instead of
recomputing it), a token folder's key the dataset's and the tokenizer's, a training run's the
token folder's, the scale, the budget and the seed. So the whole plan, and which stages are
already done, is known before anything runs (``--dry-run``).

Stages run one after another: training uses both cores of the target machine through torch's
threads and curation through the executor's worker processes, so two arms side by side would
only share the same cores (DCLM runs arms in parallel on separate GPUs instead).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gristmill.core.errors import GristmillError
from gristmill.engine.recipe import Recipe, StepSpec
from gristmill.evaluate.tasks import resolve_tasks
from gristmill.experiment import stages
from gristmill.experiment.cache import Stage, StageCache
from gristmill.experiment.spec import CLASSIFIER_TOKEN, DatasetSpec, ExperimentSpec
from gristmill.io.paths import expand_inputs
from gristmill.train.scales import get_scale

DEFAULT_DECONTAM_TASKS: tuple[str, ...] = ()  # every task file in the evals folder


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _canonical_steps(steps: list[StepSpec]) -> list[list[Any]]:
    return [[s.name, s.kwargs] for s in steps]


def _bind(value: Any, models: dict[str, str]) -> Any:
    """``${classifier:NAME}`` → the trained model's path."""
    if isinstance(value, str):
        for name, path in models.items():
            value = value.replace(f"{CLASSIFIER_TOKEN}{name}}}", path)
        return value
    if isinstance(value, list):
        return [_bind(v, models) for v in value]
    if isinstance(value, dict):
        return {k: _bind(v, models) for k, v in value.items()}
    return value


@dataclass
class ExperimentResult:
    work: Path
    leaderboard: dict[str, Any]
    stages_run: list[str] = field(default_factory=list)
    stages_reused: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Experiment:
    """One experiment file bound to a work folder: the stage graph, planned or run."""

    def __init__(self, spec: ExperimentSpec, work: Path, *, executor: str = "local", workers: int | None = None) -> None:
        self.spec = spec
        self.cache = StageCache(work)
        self.executor = executor
        self.workers = workers
        self.run_log: list[str] = []
        self.reused_log: list[str] = []
        self._memo: dict[tuple[str, str], Stage] = {}
        self._results: dict[Path, dict[str, Any]] = {}
        self.scale = get_scale(spec.train.scale)
        self.eval_tasks = resolve_tasks(str(spec.evaluate.get("tasks", "small")))

    # -- the pool ------------------------------------------------------------------------

    def pool_files(self) -> list[str]:
        if self.spec.download is not None:
            stage = self.pool_stage()
            return stage.result()["files"] if stage.done else []
        files = expand_inputs(self.spec.pool)
        if not files:
            raise GristmillError(f"{self.spec.source}: pool: no input files in {', '.join(self.spec.pool)}")
        return files

    def pool_stage(self) -> Stage:
        d = self.spec.download
        if d is not None:
            return self._stage("pool", "download", {"crawl": d.crawl, "kind": d.kind, "files": d.files})
        digests = [[Path(f).name, self.cache.file_digest(Path(f))] for f in self.pool_files()]
        return self._stage("pool", "files", {"files": digests})

    def _download(self, folder: Path) -> dict[str, Any]:
        from gristmill.io.download import DEFAULT_BASE_URL, download_crawl

        d = self.spec.download
        assert d is not None
        results = download_crawl(d.crawl, d.kind, d.files, folder, base_url=d.base_url or DEFAULT_BASE_URL,
                                 progress=True)
        return {"files": [str(r.local_path) for r in results]}

    # -- stage keys ----------------------------------------------------------------------

    def _stage(self, kind: str, name: str, key: dict[str, Any]) -> Stage:
        memo = (kind, name)
        if memo not in self._memo:
            self._memo[memo] = self.cache.stage(kind, name, key)
        return self._memo[memo]

    def parent_dataset(self, ds: DatasetSpec) -> DatasetSpec | None:
        """The dataset whose steps are the longest proper prefix of ``ds``'s (same seed)."""
        mine = _canonical_steps(ds.recipe.steps)
        best = None
        for other in self.spec.datasets.values():
            theirs = _canonical_steps(other.recipe.steps)
            if (other.name != ds.name and len(theirs) < len(mine) and mine[: len(theirs)] == theirs
                    and other.recipe.seed == ds.recipe.seed and (best is None or len(theirs) > len(best.recipe.steps))):
                best = other
        return best

    def dataset_stage(self, name: str) -> Stage:
        ds = self.spec.datasets[name]
        parent = self.parent_dataset(ds)
        steps = ds.recipe.steps[len(parent.recipe.steps):] if parent else ds.recipe.steps
        key: dict[str, Any] = {
            "steps": _canonical_steps(steps), "seed": ds.recipe.seed, "plugins": sorted(ds.recipe.plugins),
            "classifiers": {c: self.classifier_stage(c).hash for c in self.spec.classifiers_used(ds)},
            "input": self.dataset_stage(parent.name).hash if parent else self.pool_stage().hash,
        }
        return self._stage("datasets", name, key)

    def classifier_stage(self, name: str) -> Stage:
        c = self.spec.classifiers[name]
        positives = [[p.skip, self.cache.file_digest(Path(p.path))] for p in c.positive]
        key = {"positive": positives, "negative": self.dataset_stage(c.negative).hash,
               "max_per_class": c.max_per_class, "chunk_chars": c.chunk_chars, "seed": self.spec.seed}
        return self._stage("classifiers", name, key)

    def decontam_stage(self, dataset: str) -> Stage:
        cfg = self.spec.decontaminate or {}
        evals = self._evals_folder()
        digests = sorted([p.name, self.cache.file_digest(p)] for p in Path(evals).glob("*.jsonl"))
        key = {"dataset": self.dataset_stage(dataset).hash, "evals": digests, "tasks": list(cfg.get("tasks", []))}
        return self._stage("decontamination", dataset, key)

    def tokenizer_file(self) -> Path | None:
        t = self.spec.tokenizer
        return (self.spec.source.parent / t["file"]).resolve() if t.get("file") else None

    def tokenizer_stage(self) -> Stage:
        t = self.spec.tokenizer
        file = self.tokenizer_file()
        if file is not None:
            return self._stage("tokenizer", "file", {"file": self.cache.file_digest(file)})
        key = {"dataset": self.dataset_stage(t["fit_on"]).hash,
               "vocab_size": int(t.get("vocab_size", self.scale.vocab_size)), "documents": int(t.get("documents", 2000))}
        return self._stage("tokenizer", "bpe", key)

    def tokens_stage(self, arm: str) -> Stage:
        a = self.spec.arms[arm]
        key = {"dataset": self.dataset_stage(a.dataset).hash, "tokenizer": self.tokenizer_stage().hash,
               "seq_len": self.scale.seq_len, "meco": [a.meco, a.meco_mode, a.cooldown_fraction] if a.meco else None,
               "seed": self.spec.seed}
        # Arms with the same data and MeCo setting share one token folder.
        return self._stage("tokens", f"{a.dataset}{'-meco' if a.meco else ''}", key)

    def train_stage(self, arm: str, seed: int) -> Stage:
        a = self.spec.arms[arm]
        t = self.spec.train
        key = {"tokens": self.tokens_stage(arm).hash, "scale": self.scale.to_dict(), "budget": t.tokens,
               "meco": a.meco, "cooldown": a.cooldown_fraction if a.meco else None, "seed": seed,
               "precision": t.precision, "compile": t.compile}
        return self._stage("train", f"{arm}-seed{seed}", key)

    def eval_stage(self, arm: str, seed: int) -> Stage:
        key = {"train": self.train_stage(arm, seed).hash, "tasks": self.eval_tasks,
               "limit": self.spec.evaluate.get("limit")}
        if self.spec.evaluate.get("allow_missing"):
            key["allow_missing"] = True
        return self._stage("eval", f"{arm}-seed{seed}", key)

    def _evals_folder(self) -> str:
        cfg = self.spec.decontaminate or {}
        return str((self.spec.source.parent / str(cfg.get("evals", ""))).resolve())

    def data_root(self) -> Path:
        return (self.spec.source.parent / str(self.spec.evaluate.get("data", "../../shared/data"))).resolve()

    # -- running -------------------------------------------------------------------------

    def _run(self, stage: Stage, label: str, work: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        """The stage's result: remembered for this run, read from its ``done.json``, or computed."""
        if stage.folder in self._results:
            return self._results[stage.folder]
        if not stage.done:
            _say(f"[experiment] {label}: running ({stage.folder})")
        result, reused = self.cache.run(stage, work)
        (self.reused_log if reused else self.run_log).append(f"{stage.kind}/{stage.name}")
        if not reused:
            _say(f"[experiment] {label}: done in {result['seconds']:.1f} s")
        self._results[stage.folder] = result
        return result

    def pool(self) -> list[str]:
        if self.spec.download is not None:
            return self._run(self.pool_stage(), "download pool", self._download)["files"]
        return self.pool_files()

    def classifier(self, name: str) -> dict[str, Any]:
        c = self.spec.classifiers[name]
        negatives = self.dataset(c.negative)["documents"]
        return self._run(self.classifier_stage(name), f"classifier {name}",
                         lambda folder: stages.train_stand_in(folder, c, negatives, self.spec.seed))

    def dataset(self, name: str) -> dict[str, Any]:
        ds = self.spec.datasets[name]
        stage = self.dataset_stage(name)
        if stage.done:
            return self._run(stage, f"dataset {name}", lambda f: {})
        parent = self.parent_dataset(ds)
        if parent is not None:
            inputs = self.dataset(parent.name)["documents"]
            if not inputs:
                raise GristmillError(f"dataset {name!r}: its input dataset {parent.name!r} kept no documents")
            steps = ds.recipe.steps[len(parent.recipe.steps):]
        else:
            inputs, steps = self.pool(), ds.recipe.steps
        models = {c: self.classifier(c)["model"] for c in self.spec.classifiers_used(ds)}
        bound = [StepSpec(s.name, _bind(s.kwargs, models), s.line) for s in steps]
        recipe = Recipe(name=f"{ds.recipe.name}", steps=bound, seed=ds.recipe.seed, source=ds.recipe.source,
                        assets=ds.recipe.assets, plugins=list(ds.recipe.plugins))
        return self._run(stage, f"dataset {name}", lambda folder: stages.curate(
            folder, inputs, recipe, executor=self.executor, workers=self.workers)
            | {"from": parent.name if parent else "pool"})

    def decontamination(self, name: str) -> dict[str, Any] | None:
        if self.spec.decontaminate is None:
            return None
        docs = self.dataset(name)["documents"]
        tasks = list(self.spec.decontaminate.get("tasks", DEFAULT_DECONTAM_TASKS))
        return self._run(self.decontam_stage(name), f"decontamination {name}", lambda folder: stages.decontamination(
            folder, docs, self._evals_folder(), tasks, executor=self.executor, workers=self.workers))

    def tokenizer(self) -> dict[str, Any]:
        t = self.spec.tokenizer
        file = self.tokenizer_file()
        if file is not None:
            return self._run(self.tokenizer_stage(), "tokenizer", lambda folder: {"tokenizer": str(file)})
        docs = self.dataset(t["fit_on"])["documents"]
        return self._run(self.tokenizer_stage(), "tokenizer", lambda folder: stages.fit_tokenizer(
            folder, docs, int(t.get("vocab_size", self.scale.vocab_size)), int(t.get("documents", 2000))))

    def tokens(self, arm: str) -> dict[str, Any]:
        a = self.spec.arms[arm]
        data = self.dataset(a.dataset)
        if data["kept"] == 0:
            raise GristmillError(f"arm {arm!r}: dataset {a.dataset!r} is empty after filtering "
                                 f"(0 of {data['input_records']} records kept)")
        tok = self.tokenizer()
        out = self._run(self.tokens_stage(arm), f"tokens {arm}", lambda folder: stages.tokenize_arm(
            folder, data["documents"], tok["tokenizer"], self.scale.seq_len, a, self.spec.seed))
        sequences = out["sequences"]["main"]
        if sequences < self.scale.global_batch:
            raise GristmillError(f"arm {arm!r}: dataset {a.dataset!r} has {sequences} sequences, fewer than "
                                 f"one batch of {self.scale.global_batch}")
        return out

    def epochs(self, arm: str, tokens: dict[str, Any]) -> float:
        """Passes over the arm's main-phase data that the token budget makes."""
        available = tokens["sequences"]["main"] * self.scale.seq_len
        return self.spec.train.tokens / available

    def train(self, arm: str, seed: int) -> dict[str, Any]:
        tok = self.tokens(arm)
        return self._run(self.train_stage(arm, seed), f"train {arm} seed {seed}", lambda folder: stages.train_arm(
            folder, tok["tokens_dir"], self.spec.train, self.spec.arms[arm], seed))

    def evaluate(self, arm: str, seed: int) -> dict[str, Any]:
        run = self.train(arm, seed)["run"]
        return self._run(self.eval_stage(arm, seed), f"eval {arm} seed {seed}", lambda folder: stages.evaluate_arm(
            folder, run, self.eval_tasks, self.data_root(), self.spec.evaluate.get("limit"),
            bool(self.spec.evaluate.get("allow_missing", False))))

    def check_budget(self) -> dict[str, float]:
        """Curate and tokenize every arm's data (an empty dataset is an error naming the arm)
        and warn where the token budget repeats a dataset; returns epochs per arm."""
        epochs = {}
        for arm in self.spec.arms:
            epochs[arm] = self.epochs(arm, self.tokens(arm))
            if epochs[arm] > 1:
                _say(f"[experiment] warning: arm {arm!r}: the budget of {self.spec.train.tokens:,} tokens repeats "
                     f"dataset {self.spec.arms[arm].dataset!r} {epochs[arm]:.2f} times (epochs)")
        return epochs

    def run(self) -> dict[str, Any]:
        """Every stage, arm by arm and seed by seed; returns the leaderboard document."""
        from gristmill.experiment.leaderboard import build_leaderboard

        self.check_budget()
        for name in self.spec.datasets:
            self.dataset(name)
            self.decontamination(name)
        for seed in range(self.spec.train.seeds):
            for arm in self.spec.arms:
                self.evaluate(arm, seed)
        return build_leaderboard(self)


def run_experiment(spec: ExperimentSpec, work: Path, *, executor: str = "local", workers: int | None = None) -> ExperimentResult:
    """Run (or resume, or reuse) every stage; the plan is written to ``work/plan.json`` first."""
    import time

    from gristmill.experiment.plan import build_plan, write_plan

    started = time.perf_counter()
    exp = Experiment(spec, work, executor=executor, workers=workers)
    write_plan(build_plan(exp, measure=False), work)
    board = exp.run()
    return ExperimentResult(work, board, exp.run_log, exp.reused_log, time.perf_counter() - started)
