"""gristmill's version, read from the installed package metadata (pyproject.toml is the one
place it is written), so no module needs to import the package root for it; and the code
version that run folders and fitted model files record (LLM360-style provenance)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parents[1]


def gristmill_version() -> str:
    try:
        return importlib.metadata.version("gristmill")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


def code_version(*sources: str) -> dict[str, Any]:
    """gristmill's version; the git commit and whether tracked files differ from it, when the
    package runs from a checkout; and, for each named subpackage (``"train"``, ...), a sha256
    over its sources together, which identifies the code even outside git."""
    info: dict[str, Any] = {"gristmill": gristmill_version()}
    if sources:
        digest = hashlib.sha256()
        for sub in sources:
            for f in sorted((_PACKAGE / sub).glob("*.py")):
                digest.update(f.name.encode() + f.read_bytes())
        info["source_sha256"] = digest.hexdigest()
    try:
        commit = subprocess.run(["git", "-C", str(_PACKAGE), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "-C", str(_PACKAGE), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10)
            info["git_dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info
