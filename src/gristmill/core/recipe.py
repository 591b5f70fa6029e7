"""Recipes: YAML lists of registered steps with keyword arguments, validated before anything runs.

A recipe looks like DCLM's `baselines_configs/*.yaml` (a list of steps by name) with a small
header::

    name: refinedweb
    description: DCLM's RefinedWeb reproduction
    seed: 0
    steps:
      - extract_text: {backend: auto}
      - language_filter: {languages: [en], threshold: 0.65}
      - page_length_filter                 # a bare name uses the step's defaults

``- step: NAME`` followed by the keyword arguments on the same mapping is also accepted (DCLM's
``func:`` style). Unknown top-level keys, unknown steps, unknown keyword arguments and values
of the wrong type are errors that name the file and line. ``${assets}`` in any string resolves
to the assets folder (``--assets DIR``, else ``$GRISTMILL_ASSETS``, else the user cache), so
recipes name word lists and models without machine paths. YAML is parsed with the safe loader:
a recipe never executes code.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from gristmill.core.errors import RecipeError
from gristmill.core.step import Step, build_step

TOP_LEVEL_KEYS = {"name", "description", "seed", "steps"}
ASSETS_TOKEN = "${assets}"
RECIPES_DIR = Path(__file__).resolve().parents[3] / "recipes"


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "steps": [{s.name: s.kwargs} for s in self.steps],
        }

    @property
    def hash(self) -> str:
        """sha256 of the canonical recipe (steps, arguments, seed), independent of file layout."""
        canonical = orjson.dumps(
            {"seed": self.seed, "steps": [[s.name, s.kwargs] for s in self.steps]},
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(canonical).hexdigest()

    def resolved_kwargs(self, spec: StepSpec) -> dict[str, Any]:
        assets = str(self.assets or default_assets_dir())
        return _substitute(spec.kwargs, assets)

    def build_steps(self) -> list[Step]:
        """Construct (and so validate) every step; raises RecipeError naming the line."""
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
    recipe = Recipe(
        name=header.get("name") or Path(source).stem,
        description=header.get("description", ""),
        seed=seed,
        steps=[_parse_step(item, source) for item in steps_node.value],
        source=source,
        assets=assets,
    )
    if not recipe.steps:
        raise RecipeError(f"{source}: recipe has no steps")
    recipe.build_steps()  # validate names, keys and types now, before any work
    return recipe


def find_recipe(name_or_path: str) -> Path:
    """A recipe file by path, or a shipped recipe by name (``refinedweb`` → recipes/refinedweb.yaml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = RECIPES_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    available = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")) if RECIPES_DIR.is_dir() else []
    hint = f" (shipped recipes: {', '.join(available)})" if available else ""
    raise RecipeError(f"recipe not found: {name_or_path}{hint}")


def load_recipe(name_or_path: str, assets: Path | None = None) -> Recipe:
    """Load and validate a recipe file or shipped recipe name."""
    path = find_recipe(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from exc
    return parse_recipe(text, source=str(path), assets=assets)


def recipe_from_steps(steps: list[Any], name: str = "custom", seed: int = 0,
                      assets: Path | None = None) -> Recipe:
    """A recipe from Python: steps given as `Step` objects, names, or ``{name: kwargs}``."""
    specs: list[StepSpec] = []
    for s in steps:
        if isinstance(s, Step):
            specs.append(StepSpec(s.name, dict(s.config)))
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
