"""What an output folder holds, and refusing to mix two runs in one.

A run's identity is its recipe hash (steps, arguments, seed, plugins) and its inputs: shard
names with file sizes. It is recorded in ``manifest.json`` before any work starts. A later
run into the same folder either has the same identity (it resumes, or finds nothing to do)
or is refused with a one-line reason naming what differs; ``overwrite`` replaces the old run
instead. Without this, a rerun with another input list mixes two runs' shards in
``documents/`` and leaves a manifest that describes neither.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import orjson

from gristmill.core.errors import GristmillError
from gristmill.io.http import local_path
from gristmill.io.lock import LOCK_NAME

MANIFEST = "manifest.json"
# Everything a run writes into its folder; `clear_run` removes exactly these.
RUN_ENTRIES = ("documents", "dropped", "quarantine", ".state", "stats.json", "errors.jsonl",
               "report.html", MANIFEST)
# Inputs named in a refusal before "and N more".
_NAMES_SHOWN = 3


def input_size(path: str) -> int | None:
    """A local input's size in bytes; None for a URL (unknown without a request)."""
    local = local_path(path)
    if local is None:
        return None
    try:
        return local.stat().st_size
    except OSError:
        return None


def run_identity(recipe_name: str, recipe_hash: str, seed: int,
                 shards: list[tuple[str, str]]) -> dict[str, Any]:
    """The identity recorded in the manifest: recipe, seed and sorted inputs with sizes."""
    return {
        "recipe": recipe_name,
        "recipe_hash": recipe_hash,
        "seed": seed,
        "inputs": sorted(({"shard": name, "size": input_size(path)} for name, path in shards),
                         key=lambda i: i["shard"]),
    }


def _previous_identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """The identity of a recorded run (manifests written before identities existed give the
    recipe hash and shard names, sizes unknown)."""
    if "identity" in manifest:
        return manifest["identity"]
    return {
        "recipe": (manifest.get("recipe") or {}).get("name"),
        "recipe_hash": manifest.get("recipe_hash"),
        "seed": manifest.get("seed"),
        "inputs": [{"shard": i.get("shard"), "size": None} for i in manifest.get("inputs", [])],
    }


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def identity_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """What differs between two run identities, in words; None when they are the same run."""
    parts = []
    if old.get("recipe_hash") != new["recipe_hash"]:
        if old.get("seed") is not None and old.get("seed") != new["seed"]:
            parts.append(f"seed {old.get('seed')} -> {new['seed']}")
        else:
            parts.append(f"recipe {old.get('recipe')} ({str(old.get('recipe_hash'))[:12]}) -> "
                         f"{new['recipe']} ({new['recipe_hash'][:12]})")
    before = {i["shard"]: i.get("size") for i in old.get("inputs", [])}
    after = {i["shard"]: i.get("size") for i in new["inputs"]}
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    resized = sorted(n for n in set(before) & set(after)
                     if None not in (before[n], after[n]) and before[n] != after[n])
    if added:
        parts.append(f"{len(added)} input(s) added: {_names(added)}")
    if removed:
        parts.append(f"{len(removed)} input(s) removed: {_names(removed)}")
    if resized:
        parts.append(f"{len(resized)} input(s) changed size: {_names(resized)}")
    return "; ".join(parts) or None


def _holds_anything(out: Path) -> bool:
    return out.is_dir() and any(p.name != LOCK_NAME for p in out.iterdir())


def prepare_output(out: Path, identity: dict[str, Any], *, overwrite: bool) -> bool:
    """Check that ``out`` is empty or holds this same run; with ``overwrite``, empty it of a
    different (or the same) run first. Returns True when ``out`` holds this run already.

    Raises `GristmillError`, naming what differs, for a folder holding another run, and for
    a non-empty folder that holds no gristmill run (never deleted, even with ``overwrite``).
    """
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        if _holds_anything(out):
            raise GristmillError(f"output folder {out} is not empty and holds no gristmill run; "
                                 "choose an empty or new folder")
        return False
    try:
        manifest = orjson.loads(manifest_path.read_bytes())
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        if not overwrite:
            raise GristmillError(f"{manifest_path} is damaged ({exc}); use --overwrite to "
                                 "replace the run in that folder") from None
        clear_run(out)
        return False
    difference = identity_difference(_previous_identity(manifest), identity)
    if overwrite:
        clear_run(out)
        return False
    if difference is not None:
        raise GristmillError(f"{out} holds a different run ({difference}); use --overwrite to "
                             "replace it, or another output folder")
    return True


def clear_run(out: Path) -> None:
    """Remove what a run wrote into ``out`` (and nothing else)."""
    for name in RUN_ENTRIES:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def check_inputs_outside(files: list[str], out: Path) -> None:
    """Refuse inputs that lie inside the output folder: the run would read what it writes
    (and ``--overwrite`` would delete its own input)."""
    root = os.path.realpath(out)
    for f in files:
        local = local_path(f)
        if local is None:
            continue
        real = os.path.realpath(local)
        if os.path.commonpath([root, real]) == root:
            raise GristmillError(f"input {f} lies inside the output folder {out}; "
                                 "write the output somewhere else")
