"""Run a snippet in a fresh Python process: determinism is shown across processes (other
hash seeds, other import order), never by calling the same function twice in one."""

from __future__ import annotations

import subprocess
import sys


def python_output(code: str) -> str:
    """The stdout of ``code`` run by this interpreter in a new process (PYTHONHASHSEED random)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PYTHONHASHSEED": "random", "PATH": ""}, check=False)
    if done.returncode != 0:
        raise AssertionError(done.stderr)
    return done.stdout
