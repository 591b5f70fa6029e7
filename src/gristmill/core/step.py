"""The step contract: what every filter, modifier, enricher and extractor implements.

A step is built from keyword arguments (its config, straight from a recipe), prepares heavy
state once per worker in `setup`, then maps one document at a time (or one batch) to either a
`Document` (kept, possibly rewritten or enriched) or a `Drop` carrying the reason.

The keyword-only signature of a step's ``__init__`` *is* its config: `Step` records the
arguments it was built with (defaults filled in) as ``self.config`` before ``__init__`` runs,
so a subclass only validates and derives what it needs. Every runner calls `setup` exactly
once, before the first document. Steps are registered by name with `@register`; the engine
(`gristmill.engine.registry`) also finds steps named ``package.module:ClassName`` and steps
that other packages publish under the ``gristmill.steps`` entry-point group. This module
imports no stage package: it is the contract the stages implement.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

from gristmill.core.document import Document
from gristmill.core.errors import RecipeError
from gristmill.core.executor import Executor
from gristmill.core.ranges import range_of

StepKind = Literal["extractor", "filter", "modifier", "enricher", "global"]


@dataclass(frozen=True, slots=True)
class Drop:
    """A step's decision to remove a document, with a short machine-readable reason."""

    reason: str


@dataclass(frozen=True)
class StepContext:
    """What a step may know about the run besides its own config.

    Attributes:
        seed: the run's seed (``--seed`` or the recipe's ``seed``); steps that draw random
            numbers or hash with a seed use it unless their own config fixes one.
        assets: the folder ``${assets}`` resolves to.
        extra: anything else a runner passes down (free-form).
    """

    seed: int = 0
    assets: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Step:
    """Base class of every step.

    Subclasses declare their config as typed keyword-only arguments of ``__init__`` (the
    engine validates recipe kwargs against that signature), prepare models or patterns in
    `setup`, and implement `apply`, or `apply_batch` where batching pays (model inference,
    vectorised rules). ``self.config`` holds every config value, defaults included.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[StepKind] = "filter"
    config: dict[str, Any]
    context: StepContext

    def __new__(cls, *args: Any, **kwargs: Any) -> Step:
        if args:
            raise TypeError(f"{cls.__name__} takes keyword arguments only (its config)")
        self = super().__new__(cls)
        self.config = _bound_config(cls, kwargs)
        self.context = StepContext()
        return self

    def __init__(self, **config: Any) -> None:
        """A step without its own ``__init__`` takes any keyword arguments as its config."""

    def setup(self, context: StepContext) -> None:
        """Load models and compile patterns; every runner calls it once before any document."""
        self.context = context

    def apply(self, doc: Document) -> Document | Drop:
        raise NotImplementedError

    def apply_batch(self, docs: list[Document]) -> list[Document | Drop]:
        """Default: one `apply` per document. Override to vectorise or batch model calls."""
        return [self.apply(d) for d in docs]

    def attribute_keys(self) -> tuple[str, ...]:
        """Metadata keys this step writes that the run also stores as attribute side files
        (``OUT/attributes/<key>/<shard>.jsonl.zst``, row-aligned with the documents, in
        Dolma's layout): scores, so that a threshold can change without rescoring."""
        return ()

    def describe(self) -> dict[str, Any]:
        """The config form of this step: enough to rebuild it on another worker."""
        return {"step": self.name, **self.config}


def _bound_config(cls: type[Step], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The config a step is built with: its declared parameters in order, defaults filled in
    (extra or missing keys are left for ``__init__`` to refuse)."""
    params = step_parameters(cls)
    if not params:
        return dict(kwargs)
    config = {}
    for key, (_, default) in params.items():
        if key in kwargs:
            config[key] = kwargs[key]
        elif default is not inspect.Parameter.empty:
            config[key] = default
    return config


StepT = TypeVar("StepT", bound=type[Step])
_REGISTRY: dict[str, type[Step]] = {}


def register(name: str) -> Callable[[StepT], StepT]:
    """Class decorator registering a step under ``name`` for use in recipes."""

    def wrap(cls: StepT) -> StepT:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"step name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def registered_steps() -> dict[str, type[Step]]:
    """The steps registered so far in this process (the engine imports the modules that
    define them: `gristmill.engine.registry`)."""
    return dict(_REGISTRY)


@functools.cache
def step_parameters(cls: type[Step]) -> dict[str, tuple[Any, Any]]:
    """Map each config key of ``cls`` to (type annotation, default or inspect.Parameter.empty)."""
    init = cls.__init__
    sig = inspect.signature(init)
    hints = typing.get_type_hints(init, include_extras=True)  # keeps Annotated ranges
    params: dict[str, tuple[Any, Any]] = {}
    for pname, p in sig.parameters.items():
        if pname == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        params[pname] = (hints.get(pname, Any), p.default)
    return params


def _type_ok(value: Any, annotation: Any) -> bool:
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return _type_ok(value, args[0])
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if origin is Literal:
        return value in args
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple, typing.Sequence, Iterable):
        inner = args[0] if args else Any
        return isinstance(value, (list, tuple)) and all(_type_ok(v, inner) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            return False
        kt, vt = args if args else (Any, Any)
        return all(_type_ok(k, kt) and _type_ok(v, vt) for k, v in value.items())
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Annotated:
        return _type_name(typing.get_args(annotation)[0])
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _range_problem(value: Any, annotation: Any) -> str | None:
    """Why ``value`` (already of the right type) is outside the `Range` its annotation
    declares (``Annotated[int, Range(1)]``, also inside ``| None`` and lists); None if not."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        allowed = range_of(annotation)
        return allowed.problem(value) if allowed is not None else None
    if origin in (Union, types.UnionType):
        member = next((a for a in args if _type_ok(value, a)), None)
        return None if member is None else _range_problem(value, member)
    if origin in (list, tuple, typing.Sequence, Iterable) and args and isinstance(value, (list, tuple)):
        for item in value:
            problem = _range_problem(item, args[0])
            if problem is not None:
                return f"items {problem}"
    return None


def config_problem(cls: type[Step], key: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``key`` of step ``cls`` (wrong type or out of range), in
    words that follow the key's name ("must be ..."); None when it is valid."""
    annotation, _ = step_parameters(cls)[key]
    if not _type_ok(value, annotation):
        return f"must be {_type_name(annotation)}, got {type(value).__name__} {value!r}"
    return _range_problem(value, annotation)


def make_step(cls: type[Step], kwargs: dict[str, Any], where: str = "") -> Step:
    """Validate ``kwargs`` against the config signature of ``cls`` and construct it.

    Raises `RecipeError` naming the step (and ``where``, e.g. "recipe.yaml line 7") for an
    unknown or missing key, a value of the wrong type, or a value the step refuses.
    """
    at = f"{where}: " if where else ""
    name = cls.name or cls.__name__
    params = step_parameters(cls)
    for key, value in kwargs.items():
        if key not in params:
            if not params and not _declares_init(cls):
                continue  # a step without its own __init__ takes any config
            known = ", ".join(sorted(params)) or "none"
            raise RecipeError(f"{at}step {name!r}: unknown key {key!r} (known keys: {known})")
        problem = config_problem(cls, key, value)
        if problem is not None:
            raise RecipeError(f"{at}step {name!r}: key {key!r} {problem}")
    missing = [k for k, (_, d) in params.items() if d is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise RecipeError(f"{at}step {name!r}: missing required key(s) {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise RecipeError(f"{at}step {name!r}: {exc}") from exc


def _declares_init(cls: type[Step]) -> bool:
    """Whether some class between ``cls`` and `Step` defines its own ``__init__``."""
    for klass in cls.__mro__:
        if klass is Step:
            return False
        if "__init__" in vars(klass):
            return True
    return False


@dataclass
class GlobalTask:
    """What a global step (dedup, quantile thresholds) is given by the pipeline engine.

    Attributes:
        inputs: (shard name, path of its `.jsonl.zst`) in shard order — the previous stage's output.
        out_dir: write each surviving shard as ``out_dir/<shard name>.jsonl.zst``.
        dropped_dir: when not None, write removed documents under it (``<reason>/<shard>.jsonl.zst``),
            each with ``metadata["drop_reason"]`` and, for duplicates, ``metadata["duplicate_of"]``.
        work_dir: scratch space for intermediate (partitioned) files; kept for resume.
        executor: runs the step's per-shard / per-partition tasks (local or ray); see
            `gristmill.core.executor.Executor`.
        context: seed and assets of the run.
    """

    inputs: list[tuple[str, Path]]
    out_dir: Path
    dropped_dir: Path | None
    work_dir: Path
    executor: Executor
    context: StepContext


class GlobalStep(Step):
    """A step that needs the whole corpus; runs as a multi-phase job over shard files.

    No single task may hold the whole corpus: phases exchange partitioned files through
    ``task.work_dir``. The result must not depend on executor kind or worker count.
    """

    kind: ClassVar[StepKind] = "global"  # type: ignore[assignment]

    def run(self, task: GlobalTask) -> dict[str, Any]:
        """Process every shard; return ``{shard name: StepStats}`` (gristmill.core.stats)."""
        raise NotImplementedError

    def apply(self, doc: Document) -> Document | Drop:  # pragma: no cover - not per document
        raise TypeError(f"{self.name} is a global step and runs over whole shards")
