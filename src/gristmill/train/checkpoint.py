"""Checkpoints as safetensors: model, optimizer, RNG states and the data cursor.

One folder per checkpoint (``checkpoints/step-00001234/``, the layout of
`gristmill.io.run_folder`) holding ``model.safetensors``,
``optimizer.safetensors`` (AdamW moments and step per parameter name), ``rng.safetensors`` and
``state.json`` (step, tokens seen, data cursor, chunks completed, optimizer param groups). Full
(unsharded) state dicts are gathered through ``torch.distributed.checkpoint.state_dict``, which
handles plain, DDP and FSDP models alike. Folders are written under a temporary name and renamed,
then ``checkpoints/latest`` is replaced, so a kill never leaves a half-written "latest".
Nothing is unpickled on load: safetensors and JSON only (DESIGN: weights_only).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from gristmill.core.errors import GristmillError
from gristmill.io.atomic import give_usual_mode, write_atomic
from gristmill.io.run_folder import (  # noqa: F401  (the layout, re-exported for callers)
    CHECKPOINTS,
    LATEST,
    checkpoint_name,
    latest_checkpoint,
    read_state,
    resolve_checkpoint,
)

_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def gather_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict, list]:
    """Full model and optimizer tensors (collective under DDP/FSDP: call on every rank; with
    ``cpu_offload`` only rank 0 receives the tensors, the others get empty dicts)."""
    model_sd = {k: v.contiguous() for k, v in get_model_state_dict(model, options=_FULL).items()}
    optim_sd = get_optimizer_state_dict(model, optimizer, options=_FULL)
    tensors = {
        f"{name}/{key}": value.detach().reshape(value.shape).contiguous()
        for name, state in optim_sd.get("state", {}).items()
        for key, value in state.items()
    }
    groups = [dict(g) for g in optim_sd.get("param_groups", [])]
    return model_sd, tensors, groups


def _rng_tensors() -> dict[str, torch.Tensor]:
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"cuda{i}"] = state
    return rng


def save_checkpoint(
    run_dir: Path,
    step: int,
    model_sd: dict[str, torch.Tensor],
    optim_tensors: dict[str, torch.Tensor],
    param_groups: list[dict[str, Any]],
    state: dict[str, Any],
) -> Path:
    """Write one checkpoint folder atomically and point ``latest`` at it (rank 0 only)."""
    root = run_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / checkpoint_name(step)
    tmp = root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(model_sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    save_file(optim_tensors, str(tmp / "optimizer.safetensors"))
    save_file(_rng_tensors(), str(tmp / "rng.safetensors"))
    give_usual_mode(tmp.glob("*.safetensors"))
    (tmp / "state.json").write_text(json.dumps(state | {"param_groups": param_groups}, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    write_atomic(root / LATEST, final.name.encode())
    return final


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file of a checkpoint; a missing or corrupt file is a one-line user error."""
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError (not an OSError)
        raise GristmillError(f"{path}: unreadable checkpoint file ({_os_reason(path) or exc})"
                             ) from exc


def _os_reason(path: Path) -> str | None:
    """Why the OS refuses to open ``path`` (None if it opens): safetensors reports every
    failure to open as "No such file or directory", a permission denied too."""
    try:
        with path.open("rb"):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def load_model_tensors(ckpt: Path) -> dict[str, torch.Tensor]:
    return _load_tensors(ckpt / "model.safetensors")


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer, ckpt: Path) -> dict[str, Any]:
    """Load model, optimizer and RNG states from ``ckpt`` (on every rank); returns state.json."""
    state = read_state(ckpt)
    set_model_state_dict(model, load_model_tensors(ckpt), options=_FULL)
    flat = _load_tensors(ckpt / "optimizer.safetensors")
    per_param: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        name, field = key.rsplit("/", 1)
        per_param.setdefault(name, {})[field] = value
    set_optimizer_state_dict(
        model, optimizer, {"state": per_param, "param_groups": state["param_groups"]}, options=_FULL
    )
    rng = _load_tensors(ckpt / "rng.safetensors")
    torch.set_rng_state(rng["torch"])
    if torch.cuda.is_available():
        states = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
        if states:
            torch.cuda.set_rng_state_all(states)
    return state
