"""Every registered step, importable as `gristmill.steps`.

Importing this module imports each stage package's step modules so their `@register`
decorators run; recipes then refer to steps by name.
"""

from __future__ import annotations

import importlib

from gristmill.core.step import registry as _registry

# Stage modules that define steps. A module listed here but not yet present is skipped, so
# stages can land one at a time.
STEP_MODULES = (
    "gristmill.extract.steps",
    "gristmill.filters",
    "gristmill.dedup",
    "gristmill.quality",
    "gristmill.tokenize.steps",
)

for _mod in STEP_MODULES:
    try:
        importlib.import_module(_mod)
    except ModuleNotFoundError as exc:
        if exc.name is None or not _mod.startswith(exc.name):
            raise


def names() -> list[str]:
    """Sorted names of all registered steps."""
    return sorted(_registry())
