"""The experiment file: a pool, datasets (recipes), arms (a dataset and a training variant),
questions (arms compared against the question's first arm), one scale, one token budget.

::

    name: dclm-small
    pool: [../shared/data/commoncrawl/crawl-data/PAGES-2026/segments/sample/warc]
    assets: ../shared/data/filters          # ${assets} in recipes
    classifiers:                            # stand-in quality classifiers, ${classifier:NAME}
      stand_in: {positive: [{path: ..., skip: 24}], negative: refinedweb_bff}
    datasets:
      raw: {recipe: raw}
      wet: {recipe: raw, overrides: {extract_text: {backend: resiliparse_full}}}
    arms:
      raw: {dataset: raw}
      raw_meco: {dataset: raw, meco: true}
    questions:
      - {name: MeCo, arms: [raw, raw_meco]}
    tokenizer: {fit_on: raw, documents: 2000}   # or {file: TOKENIZER.json}
    train: {scale: cpu-200k, tokens: 600000, seeds: 3}
    evaluate: {tasks: small, limit: 200}
    decontaminate: {evals: ../shared/data/evals/icl}

Relative paths resolve against the experiment file's folder, so an experiment names shared
data as ``../shared/data/...`` without machine paths. Every error names the file and the arm,
dataset or key (DCLM's protocol: only the data changes between arms, dclm.md §2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from gristmill.core.errors import RecipeError
from gristmill.engine.recipe import Recipe, StepSpec, load_recipe
from gristmill.train.scales import get_scale

TOP_KEYS = {"name", "description", "pool", "assets", "classifiers", "datasets", "arms", "questions",
            "tokenizer", "train", "evaluate", "decontaminate", "seed"}
CLASSIFIER_TOKEN = "${classifier:"


@dataclass(frozen=True)
class PositiveSource:
    """Reference text for a stand-in classifier; the first ``skip`` records are left out (they
    are the evaluation's held-out text: `gristmill.evaluate.small.BPB_DOCS`)."""

    path: str
    skip: int = 0


@dataclass(frozen=True)
class ClassifierSpec:
    """A fastText quality classifier trained with DCLM's settings on reference text (positive)
    against a dataset of the experiment (negative), as DCLM trained OH-2.5+ELI5 vs RefinedWeb."""

    name: str
    positive: tuple[PositiveSource, ...]
    negative: str  # a dataset name
    max_per_class: int = 5000
    chunk_chars: int = 4000  # long books are split into pieces of about this many characters


@dataclass
class DatasetSpec:
    """A recipe (shipped name or path) with step overrides, run over the pool."""

    name: str
    recipe_name: str
    overrides: dict[str, dict[str, Any]]
    recipe: Recipe


@dataclass(frozen=True)
class ArmSpec:
    name: str
    dataset: str
    meco: bool = False
    meco_mode: str = "host"
    cooldown_fraction: float = 0.1


@dataclass(frozen=True)
class Question:
    name: str
    arms: tuple[str, ...]  # the first is the baseline every other arm is compared with


@dataclass(frozen=True)
class TrainSpec:
    scale: str
    tokens: int
    seeds: int = 3
    compile: str = "off"
    precision: str = "auto"
    device: str = "auto"


@dataclass(frozen=True)
class DownloadPool:
    """A pool still to be fetched with `gristmill download` (crawl, file kind, file count)."""

    crawl: str
    kind: str = "warc"
    files: int = 1
    base_url: str | None = None


@dataclass
class ExperimentSpec:
    name: str
    source: Path
    pool: list[str]
    download: DownloadPool | None
    assets: Path | None
    classifiers: dict[str, ClassifierSpec]
    datasets: dict[str, DatasetSpec]
    arms: dict[str, ArmSpec]
    questions: list[Question]
    tokenizer: dict[str, Any]
    train: TrainSpec
    evaluate: dict[str, Any]
    decontaminate: dict[str, Any] | None
    description: str = ""
    seed: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    def dataset_of(self, arm: str) -> DatasetSpec:
        return self.datasets[self.arms[arm].dataset]

    def classifiers_used(self, dataset: DatasetSpec) -> list[str]:
        text = orjson.dumps([s.kwargs for s in dataset.recipe.steps]).decode()
        return [n for n in self.classifiers if f"{CLASSIFIER_TOKEN}{n}}}" in text]


def _fail(spec: Path, where: str, message: str) -> RecipeError:
    return RecipeError(f"{spec}: {where}: {message}")


def _mapping(value: Any, spec: Path, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(spec, where, f"must be a mapping, got {type(value).__name__}")
    return value


def _resolve(base: Path, value: str) -> str:
    if "://" in value:
        return value
    path = Path(value)
    return str(path if path.is_absolute() else base / path)


def _known(d: dict[str, Any], keys: set[str], spec: Path, where: str) -> None:
    unknown = sorted(set(d) - keys)
    if unknown:
        raise _fail(spec, where, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(keys))})")


def _dataset(name: str, d: dict[str, Any], spec: Path, assets: Path | None) -> DatasetSpec:
    where = f"dataset {name!r}"
    _known(d, {"recipe", "overrides"}, spec, where)
    if not isinstance(d.get("recipe"), str):
        raise _fail(spec, where, "needs 'recipe' (a shipped recipe name or a path)")
    recipe_ref = d["recipe"]
    if recipe_ref.endswith((".yaml", ".yml")):
        recipe_ref = _resolve(spec.parent, recipe_ref)
    try:
        base = load_recipe(recipe_ref, assets=assets)
    except RecipeError as exc:
        raise _fail(spec, where, str(exc)) from None
    overrides = _mapping(d.get("overrides"), spec, f"{where} overrides")
    names = {s.name for s in base.steps}
    for step, kw in overrides.items():
        if step not in names:
            raise _fail(spec, where, f"override of {step!r}, a step recipe {d['recipe']!r} does not have "
                        f"(its steps: {', '.join(dict.fromkeys(s.name for s in base.steps))})")
        _mapping(kw, spec, f"{where} overrides.{step}")
    steps = [StepSpec(s.name, {**s.kwargs, **overrides.get(s.name, {})}, s.line) for s in base.steps]
    recipe = Recipe(name=base.name, steps=steps, description=base.description, seed=base.seed,
                    source=base.source, assets=assets, plugins=list(base.plugins))
    try:
        recipe.build_steps()
    except (RecipeError, ValueError, TypeError) as exc:
        raise _fail(spec, where, str(exc)) from None
    return DatasetSpec(name, d["recipe"], overrides, recipe)


def _classifier(name: str, d: dict[str, Any], spec: Path, datasets: dict[str, Any]) -> ClassifierSpec:
    where = f"classifier {name!r}"
    _known(d, {"positive", "negative", "max_per_class", "chunk_chars"}, spec, where)
    sources = []
    for item in d.get("positive") or []:
        item = {"path": item} if isinstance(item, str) else _mapping(item, spec, f"{where} positive")
        _known(item, {"path", "skip"}, spec, f"{where} positive")
        path = Path(_resolve(spec.parent, str(item.get("path", ""))))
        if not path.is_file():
            raise _fail(spec, where, f"positive text not found: {path}")
        sources.append(PositiveSource(str(path), int(item.get("skip", 0))))
    if not sources:
        raise _fail(spec, where, "needs 'positive' reference files")
    if d.get("negative") not in datasets:
        raise _fail(spec, where, f"'negative' must name a dataset ({', '.join(datasets)})")
    return ClassifierSpec(name, tuple(sources), d["negative"], int(d.get("max_per_class", 5000)),
                          int(d.get("chunk_chars", 4000)))


def _arm(name: str, d: dict[str, Any], spec: Path, datasets: dict[str, Any]) -> ArmSpec:
    where = f"arm {name!r}"
    d = {"dataset": d} if isinstance(d, str) else _mapping(d, spec, where)
    _known(d, {"dataset", "meco", "meco_mode", "cooldown_fraction"}, spec, where)
    if d.get("dataset") not in datasets:
        raise _fail(spec, where, f"unknown dataset {d.get('dataset')!r} (datasets: {', '.join(datasets)})")
    cooldown = float(d.get("cooldown_fraction", 0.1))
    if not 0 <= cooldown < 1:
        raise _fail(spec, where, f"cooldown_fraction must be in [0, 1), got {cooldown}")
    return ArmSpec(name, d["dataset"], bool(d.get("meco", False)), str(d.get("meco_mode", "host")), cooldown)


def _train(d: dict[str, Any], spec: Path) -> TrainSpec:
    _known(d, {"scale", "tokens", "seeds", "compile", "precision", "device"}, spec, "train")
    try:
        scale = get_scale(str(d.get("scale")))
    except Exception as exc:
        raise _fail(spec, "train", str(exc)) from None
    tokens = int(d.get("tokens", scale.tokens))
    if tokens < scale.tokens_per_step:
        raise _fail(spec, "train", f"tokens {tokens:,} is less than one step of {scale.name} "
                    f"({scale.tokens_per_step:,} tokens)")
    seeds = int(d.get("seeds", 3))
    if seeds < 1:
        raise _fail(spec, "train", "seeds must be at least 1")
    return TrainSpec(scale.name, tokens, seeds, str(d.get("compile", "off")),
                     str(d.get("precision", "auto")), str(d.get("device", "auto")))


def _pool(value: Any, spec: Path) -> tuple[list[str], DownloadPool | None]:
    if isinstance(value, dict):
        _known(value, {"download"}, spec, "pool")
        d = _mapping(value.get("download"), spec, "pool.download")
        _known(d, {"crawl", "kind", "files", "base_url"}, spec, "pool.download")
        if not isinstance(d.get("crawl"), str):
            raise _fail(spec, "pool.download", "needs 'crawl' (e.g. CC-MAIN-2024-51)")
        return [], DownloadPool(d["crawl"], str(d.get("kind", "warc")), int(d.get("files", 1)), d.get("base_url"))
    paths = [value] if isinstance(value, str) else value
    if not paths or not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise _fail(spec, "pool", "must be a list of paths (files, folders, globs) or {download: ...}")
    return [_resolve(spec.parent, p) for p in paths], None


def load_experiment(path: str | Path, *, seeds: int | None = None) -> ExperimentSpec:
    """Parse and validate an experiment file; raises `RecipeError` naming what is wrong."""
    spec = Path(path)
    try:
        raw = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read experiment {spec}: {exc}") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{spec}: invalid YAML: {exc}") from None
    raw = _mapping(raw, spec, "top level")
    _known(raw, TOP_KEYS, spec, "top level")
    assets = Path(_resolve(spec.parent, raw["assets"])) if raw.get("assets") else None
    pool, download = _pool(raw.get("pool"), spec)
    datasets = {n: _dataset(n, _mapping(d, spec, f"dataset {n!r}"), spec, assets)
                for n, d in _mapping(raw.get("datasets"), spec, "datasets").items()}
    if not datasets:
        raise _fail(spec, "datasets", "none defined")
    classifiers = {n: _classifier(n, _mapping(d, spec, f"classifier {n!r}"), spec, datasets)
                   for n, d in _mapping(raw.get("classifiers"), spec, "classifiers").items()}
    arms = {n: _arm(n, d, spec, datasets) for n, d in _mapping(raw.get("arms"), spec, "arms").items()}
    if not arms:
        raise _fail(spec, "arms", "none defined")
    questions = []
    for i, q in enumerate(raw.get("questions") or []):
        q = _mapping(q, spec, f"question {i + 1}")
        _known(q, {"name", "arms"}, spec, f"question {i + 1}")
        members = tuple(q.get("arms") or ())
        bad = [a for a in members if a not in arms]
        if bad or len(members) < 2:
            raise _fail(spec, f"question {q.get('name', i + 1)!r}",
                        f"needs two or more known arms (unknown: {', '.join(bad) or 'none'})")
        questions.append(Question(str(q.get("name", f"question {i + 1}")), members))
    experiment = ExperimentSpec(
        name=str(raw.get("name") or spec.stem), source=spec, pool=pool, download=download, assets=assets,
        classifiers=classifiers, datasets=datasets, arms=arms, questions=questions,
        tokenizer=_mapping(raw.get("tokenizer"), spec, "tokenizer"),
        train=_train(_mapping(raw.get("train"), spec, "train"), spec),
        evaluate=_mapping(raw.get("evaluate"), spec, "evaluate"),
        decontaminate=raw.get("decontaminate") and _mapping(raw["decontaminate"], spec, "decontaminate"),
        description=str(raw.get("description", "")), seed=int(raw.get("seed", 0)), raw=raw)
    _known(experiment.evaluate, {"tasks", "limit", "data", "allow_missing"}, spec, "evaluate")
    if seeds is not None:
        if seeds < 1:
            raise RecipeError("--seeds must be at least 1")
        t = experiment.train
        experiment.train = TrainSpec(t.scale, t.tokens, seeds, t.compile, t.precision, t.device)
    _check_references(experiment)
    return experiment


def _check_references(exp: ExperimentSpec) -> None:
    _known(exp.tokenizer, {"fit_on", "documents", "vocab_size", "file"}, exp.source, "tokenizer")
    if exp.tokenizer.get("file"):
        if not (exp.source.parent / exp.tokenizer["file"]).is_file():
            raise _fail(exp.source, "tokenizer", f"file not found: {exp.tokenizer['file']}")
    elif exp.tokenizer.get("fit_on") not in exp.datasets:
        raise _fail(exp.source, "tokenizer", f"'fit_on' must name a dataset ({', '.join(exp.datasets)})")
    for ds in exp.datasets.values():
        text = orjson.dumps([s.kwargs for s in ds.recipe.steps]).decode()
        for part in text.split(CLASSIFIER_TOKEN)[1:]:
            name = part.split("}", 1)[0]
            if name not in exp.classifiers:
                raise _fail(exp.source, f"dataset {ds.name!r}", f"unknown classifier {name!r} in "
                            f"${{classifier:{name}}} (classifiers: {', '.join(exp.classifiers) or 'none'})")
        for c in exp.classifiers_used(ds):
            if exp.classifiers[c].negative == ds.name:
                raise _fail(exp.source, f"dataset {ds.name!r}", f"classifier {c!r} is trained on this dataset")
    if exp.decontaminate is not None and not Path(_resolve(exp.source.parent, str(exp.decontaminate.get("evals", "")))).exists():
        raise _fail(exp.source, "decontaminate", f"evals folder not found: {exp.decontaminate.get('evals')}")


def digest(value: Any) -> str:
    """sha256 of a JSON-able value in canonical form (sorted keys)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
