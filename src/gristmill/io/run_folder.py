"""The layout of a training run folder, shared by `train` (which writes it) and `tokenize`
(whose data-order records say which documents a checkpoint has seen).

    RUN/config.json                       scale, schedule, data path, environment
    RUN/checkpoints/step-00001234/        one folder per checkpoint:
        model.safetensors, optimizer.safetensors, rng.safetensors, state.json
    RUN/checkpoints/latest                name of the newest complete checkpoint folder

Only paths and JSON here: no tensors, so reading a run's layout needs no torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gristmill.core.errors import GristmillError

CHECKPOINTS = "checkpoints"
LATEST = "latest"
CONFIG = "config.json"
STATE = "state.json"
MODEL_WEIGHTS = "model.safetensors"


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``latest`` points at; when the pointer is missing or names no complete
    folder (deleted by hand, damaged), the newest complete ``step-N`` folder, so that a resume
    never silently restarts a run that has checkpoints."""
    root = run_dir / CHECKPOINTS
    pointer = root / LATEST
    if pointer.is_file():
        path = root / pointer.read_text(errors="replace").strip()
        if path.name and (path / STATE).is_file():
            return path
    complete = sorted(p for p in root.glob("step-*") if (p / STATE).is_file())
    return complete[-1] if complete else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run folder (its latest checkpoint)."""
    p = Path(path)
    if (p / MODEL_WEIGHTS).is_file() and (p / STATE).is_file():
        return p
    latest = latest_checkpoint(p)
    if latest is None:
        raise GristmillError(f"{p} is neither a checkpoint folder nor a run folder with checkpoints")
    return latest


def read_state(ckpt: Path) -> dict[str, Any]:
    """A checkpoint's ``state.json`` (step, tokens seen, data cursor, ...)."""
    path = ckpt / STATE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GristmillError(f"{path}: unreadable checkpoint state ({exc})") from exc


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """A run's ``config.json``; a missing or damaged file is a one-line user error."""
    path = Path(run_dir) / CONFIG
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GristmillError(f"{path}: unreadable run config ({exc})") from exc
