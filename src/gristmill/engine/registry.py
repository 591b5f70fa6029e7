"""Finding step classes by the names recipes use.

A recipe names a step in one of three ways:

* a registered name (``language_filter``): the built-in stage modules are imported, and
  packages that publish steps under the ``gristmill.steps`` entry-point group are found
  through their installed metadata (``[project.entry-points."gristmill.steps"]`` with
  ``my_filter = "my_package.filters:MyFilter"``, or a module whose ``@register`` decorators
  run on import);
* ``package.module:ClassName``: a `Step` subclass in any importable module, registered or
  not (its name in stats and logs is then that string);
* a name registered by a module imported with ``gristmill run --plugins MODULE``.

Executors ship only step names and plugin module names to their workers, which resolve them
here, so a user's own step runs on every executor without being pickled.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from collections.abc import Iterable
from typing import Any

from gristmill.core.errors import RecipeError
from gristmill.core.step import Step, make_step, registered_steps

# Stage modules that define built-in steps. A module listed here but not present is skipped,
# so a stage can land one module at a time.
BUILTIN_STEP_MODULES = (
    "gristmill.extract.steps",
    "gristmill.filters",
    "gristmill.dedup",
    "gristmill.quality",
    "gristmill.decontam",
    "gristmill.mix",
    "gristmill.tokenize.steps",
)
ENTRY_POINT_GROUP = "gristmill.steps"


@functools.cache
def load_builtin_steps() -> None:
    """Import every built-in stage module so its ``@register`` decorators run."""
    for module in BUILTIN_STEP_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise


def import_plugins(modules: Iterable[str]) -> None:
    """Import user modules that register steps (``--plugins``); a failure names the module."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise RecipeError(f"cannot import plugin module {module!r}: {exc}") from exc


@functools.cache
def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load_entry_point(name: str, where: str) -> type[Step] | None:
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        loaded: Any = ep.load()
    except Exception as exc:
        raise RecipeError(
            f"{where}step {name!r}: its entry point {ep.value!r} ({ENTRY_POINT_GROUP}) failed to "
            f"load: {type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(loaded, type) and issubclass(loaded, Step):
        if "name" not in vars(loaded) or not loaded.name:
            loaded.name = name
        return loaded
    return registered_steps().get(name)  # a module whose import registered the step


def _class_from_path(spec: str, where: str) -> type[Step]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise RecipeError(f"{where}step {spec!r}: write a class path as package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RecipeError(f"{where}step {spec!r}: cannot import {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise RecipeError(f"{where}step {spec!r}: {module_name} has no attribute {attr!r}")
    if not (isinstance(obj, type) and issubclass(obj, Step)):
        raise RecipeError(f"{where}step {spec!r}: {attr} is not a gristmill Step subclass")
    if "name" not in vars(obj) or not obj.name:
        obj.name = spec
    return obj


def step_class(name: str, where: str = "") -> type[Step]:
    """The class a recipe's step name refers to; `RecipeError` naming ``where`` otherwise."""
    at = f"{where}: " if where else ""
    if ":" in name:
        return _class_from_path(name, at)
    steps = registered_steps()
    if name not in steps:
        load_builtin_steps()
        steps = registered_steps()
    if name in steps:
        return steps[name]
    cls = _load_entry_point(name, at)
    if cls is not None:
        return cls
    known = sorted(all_steps())
    close = [s for s in known if s.startswith(name[:3])][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise RecipeError(
        f"{at}unknown step {name!r}{hint} (a step of your own: package.module:ClassName, "
        f"--plugins MODULE, or a {ENTRY_POINT_GROUP!r} entry point)"
    )


def all_steps() -> dict[str, type[Step]]:
    """Every step known by name: built-in, registered by plugins, and from entry points."""
    load_builtin_steps()
    steps = registered_steps()
    for name in _entry_points():
        if name not in steps:
            try:
                cls = _load_entry_point(name, "")
            except RecipeError:
                continue  # listed, but broken: reported when a recipe uses it
            if cls is not None:
                steps[name] = cls
    return steps


def build_step(name: str, kwargs: dict[str, Any], where: str = "") -> Step:
    """Resolve ``name`` and construct the step from validated ``kwargs``."""
    return make_step(step_class(name, where), kwargs, where)


def step_name(cls: type[Step]) -> str:
    """How a recipe names ``cls``: its registered name, else ``module:ClassName``."""
    if cls.name and registered_steps().get(cls.name) is cls:
        return cls.name
    if cls.name and ":" in cls.name:
        return cls.name
    return f"{cls.__module__}:{cls.__qualname__}"
