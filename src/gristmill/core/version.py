"""gristmill's version, read from the installed package metadata (pyproject.toml is the one
place it is written), so no module needs to import the package root for it."""

from __future__ import annotations

import importlib.metadata


def gristmill_version() -> str:
    try:
        return importlib.metadata.version("gristmill")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"
