"""Every built-in step, importable as `gristmill.steps`.

Importing this module imports each stage package's step modules so their `@register`
decorators run (`gristmill.engine.registry`); recipes then refer to steps by name.
"""

from __future__ import annotations

from gristmill.engine.registry import all_steps, load_builtin_steps

load_builtin_steps()


def names() -> list[str]:
    """Sorted names of all known steps (built-in, plugins, entry points)."""
    return sorted(all_steps())
