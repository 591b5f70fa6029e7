"""Recipes: YAML lists of registered steps with keyword arguments, validated before anything runs.

A recipe looks like DCLM's `baselines_configs/*.yaml` (a list of steps by name) with a small
header::

    name: refinedweb
    description: DCLM's RefinedWeb reproduction
    seed: 0
    plugins: [my_lab.filters]              # optional: modules that register steps of your own
    extends: c4                            # optional: another recipe's steps come first
    steps:
      - extract_text: {backend: auto}
      - language_filter: {languages: [en], threshold: 0.65}
      - page_length_filter                 # a bare name uses the step's defaults
      - my_lab.filters:BoilerplateFilter: {max_share: 0.3}   # a class path needs no registration

``- step: NAME`` followed by the keyword arguments on the same mapping is also accepted (DCLM's
``func:`` style). Shipped recipes live in the package (``gristmill/recipes/*.yaml``) and are
found by name. Unknown top-level keys, repeated keys, unknown steps, unknown keyword arguments,
values of the wrong type and values outside a step's declared range are errors that name the
file and line. ``${assets}`` in any string resolves
to the assets folder (``--assets DIR``, else ``$GRISTMILL_ASSETS``, else the user cache), so
recipes name word lists and models without machine paths. YAML is parsed with the safe loader:
a recipe never executes code.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from gristmill.core.errors import RecipeError
from gristmill.core.step import Step
from gristmill.engine.registry import build_step, import_plugins, step_name

TOP_LEVEL_KEYS = {"name", "description", "seed", "plugins", "steps", "extends"}
ASSETS_TOKEN = "${assets}"
RECIPES_PACKAGE = "gristmill.recipes"


def default_assets_dir() -> Path:
    """Where `${assets}` points when neither ``--assets`` nor GRISTMILL_ASSETS is set."""
    env = os.environ.get("GRISTMILL_ASSETS")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gristmill" / "assets"


@dataclass(frozen=True)
class StepSpec:
    """One recipe entry: a step name, its keyword arguments, and where it was written."""

    name: str
    kwargs: dict[str, Any]
    line: int | None = None

    def where(self, source: str) -> str:
        return f"{source} line {self.line}" if self.line is not None else source


@dataclass
class Recipe:
    """A validated recipe. ``steps`` keep ``${assets}`` unresolved so the hash is portable."""

    name: str
    steps: list[StepSpec]
    description: str = ""
    seed: int = 0
    source: str = "<recipe>"
    assets: Path | None = None
    plugins: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            **({"plugins": list(self.plugins)} if self.plugins else {}),
            "steps": [{s.name: s.kwargs} for s in self.steps],
        }

    @property
    def hash(self) -> str:
        """sha256 of the canonical recipe (steps, arguments, seed, plugin modules), independent
        of file layout."""
        body: dict[str, Any] = {"seed": self.seed, "steps": [[s.name, s.kwargs] for s in self.steps]}
        if self.plugins:
            body["plugins"] = sorted(self.plugins)
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()

    def add_plugins(self, modules: list[str]) -> None:
        """Import more plugin modules (``--plugins``) and record them, so workers import them."""
        import_plugins(modules)
        self.plugins.extend(m for m in modules if m not in self.plugins)

    def resolved_kwargs(self, spec: StepSpec) -> dict[str, Any]:
        assets = str(self.assets or default_assets_dir())
        return _substitute(spec.kwargs, assets)

    def build_steps(self) -> list[Step]:
        """Construct (and so validate) every step; raises RecipeError naming the line."""
        import_plugins(self.plugins)
        return [
            build_step(spec.name, self.resolved_kwargs(spec), spec.where(self.source))
            for spec in self.steps
        ]


def _substitute(value: Any, assets: str) -> Any:
    if isinstance(value, str):
        return value.replace(ASSETS_TOKEN, assets)
    if isinstance(value, list):
        return [_substitute(v, assets) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, assets) for k, v in value.items()}
    return value


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _construct(node: yaml.Node, where: str) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{where} line {_line(node)}: {exc}") from exc
    finally:
        loader.dispose()


def _parse_step(item: yaml.Node, source: str) -> StepSpec:
    line = _line(item)
    if isinstance(item, yaml.ScalarNode):
        name = _construct(item, source)
        if not isinstance(name, str):
            raise RecipeError(f"{source} line {line}: a step must be a name or a mapping")
        return StepSpec(name, {}, line)
    if not isinstance(item, yaml.MappingNode) or not item.value:
        raise RecipeError(f"{source} line {line}: a step must be a name or a mapping")
    keys = [_construct(k, source) for k, _ in item.value]
    if "step" in keys:  # DCLM style: {step: name, key: value, ...}
        body = _construct(item, source)
        name = body.pop("step")
        if not isinstance(name, str):
            raise RecipeError(f"{source} line {line}: 'step' must be a step name")
        return StepSpec(name, body, line)
    if len(item.value) != 1:
        raise RecipeError(
            f"{source} line {line}: a step is a one-key mapping 'name: {{arguments}}', "
            f"got keys {', '.join(map(str, keys))}"
        )
    key_node, value_node = item.value[0]
    name = keys[0]
    kwargs = _construct(value_node, source)
    if kwargs is None:
        kwargs = {}
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise RecipeError(
            f"{source} line {_line(value_node)}: arguments of step {name!r} must be a mapping"
        )
    return StepSpec(name, kwargs, _line(key_node))


def _check_duplicate_keys(node: yaml.Node, source: str) -> None:
    """Refuse a mapping that repeats a key: YAML loaders keep the last value without a word
    (YAML 1.2 §3.2.1.1 requires keys to be unique), so the first would be ignored silently."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
                if key in seen:
                    raise RecipeError(f"{source} line {_line(key_node)}: duplicate key {key!r} "
                                      f"(first given on line {seen[key]})")
                seen[key] = _line(key_node)
            _check_duplicate_keys(value_node, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item, source)


def parse_recipe(text: str, source: str = "<recipe>", assets: Path | None = None) -> Recipe:
    """Parse and validate recipe YAML text; every error names ``source`` and the line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{source}{at}: invalid YAML: {problem}") from exc
    if root is None:
        raise RecipeError(f"{source}: empty recipe")
    _check_duplicate_keys(root, source)
    if isinstance(root, yaml.SequenceNode):  # a bare list of steps
        header: dict[str, Any] = {}
        steps_node: yaml.Node = root
    elif isinstance(root, yaml.MappingNode):
        header = {}
        steps_node = None  # type: ignore[assignment]
        for key_node, value_node in root.value:
            key = _construct(key_node, source)
            if key not in TOP_LEVEL_KEYS:
                raise RecipeError(
                    f"{source} line {_line(key_node)}: unknown key {key!r} "
                    f"(known: {', '.join(sorted(TOP_LEVEL_KEYS))})"
                )
            if key == "steps":
                steps_node = value_node
            else:
                header[key] = _construct(value_node, source)
        if steps_node is None:
            raise RecipeError(f"{source}: recipe has no 'steps'")
    else:
        raise RecipeError(f"{source} line {_line(root)}: a recipe is a mapping with 'steps'")
    if not isinstance(steps_node, yaml.SequenceNode):
        raise RecipeError(f"{source} line {_line(steps_node)}: 'steps' must be a list")
    seed = header.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RecipeError(f"{source}: 'seed' must be an integer, got {seed!r}")
    for key in ("name", "description"):
        if key in header and not isinstance(header[key], str):
            raise RecipeError(f"{source}: {key!r} must be a string")
    plugins = header.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(m, str) for m in plugins):
        raise RecipeError(f"{source}: 'plugins' must be a list of module names")
    base: list[StepSpec] = []
    if "extends" in header:
        # ``extends: refinedweb``: the steps of another recipe (shipped name or path) first.
        if not isinstance(header["extends"], str) or header["extends"] == Path(source).stem:
            raise RecipeError(f"{source}: 'extends' must name another recipe")
        base = load_recipe(header["extends"], assets=assets).steps
    recipe = Recipe(
        name=header.get("name") or Path(source).stem,
        description=header.get("description", ""),
        seed=seed,
        steps=base + [_parse_step(item, source) for item in steps_node.value],
        source=source,
        assets=assets,
        plugins=list(plugins),
    )
    if not recipe.steps:
        raise RecipeError(f"{source}: recipe has no steps")
    recipe.build_steps()  # validate names, keys and types now, before any work
    return recipe


def shipped_recipes() -> list[str]:
    """Names of the recipes that ship inside the package."""
    folder = importlib.resources.files(RECIPES_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_recipe(name_or_path: str) -> tuple[str, str]:
    """(text, source name) of a recipe file by path, or of a shipped recipe by name."""
    path = Path(name_or_path)
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise RecipeError(f"cannot read recipe {path}: {exc}") from exc
    if "/" not in name_or_path and not name_or_path.endswith((".yaml", ".yml")):
        shipped = importlib.resources.files(RECIPES_PACKAGE) / f"{name_or_path}.yaml"
        if shipped.is_file():
            return shipped.read_text(encoding="utf-8"), f"{name_or_path}.yaml (shipped)"
    raise RecipeError(
        f"recipe not found: {name_or_path} (shipped recipes: {', '.join(shipped_recipes())})"
    )


def load_recipe(name_or_path: str, assets: Path | None = None) -> Recipe:
    """Load and validate a recipe file or shipped recipe name."""
    text, source = _read_recipe(name_or_path)
    return parse_recipe(text, source=source, assets=assets)


def recipe_from_steps(steps: list[Any], name: str = "custom", seed: int = 0,
                      assets: Path | None = None) -> Recipe:
    """A recipe from Python: steps given as `Step` objects, names, or ``{name: kwargs}``."""
    specs: list[StepSpec] = []
    for s in steps:
        if isinstance(s, Step):
            specs.append(StepSpec(step_name(type(s)), dict(s.config)))
        elif isinstance(s, str):
            specs.append(StepSpec(s, {}))
        elif isinstance(s, dict) and len(s) == 1:
            (n, kw), = s.items()
            specs.append(StepSpec(n, dict(kw or {})))
        else:
            raise RecipeError(f"cannot make a step from {s!r}")
    recipe = Recipe(name=name, steps=specs, seed=seed, source=f"<{name}>", assets=assets)
    recipe.build_steps()
    return recipe
