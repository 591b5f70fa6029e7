"""Resolving the word lists, blocklists and models that filter steps name in recipes.

A recipe names a file as ``${assets}/<file>`` (substituted by the recipe loader) or as a plain
path. A bare file name of the asset registry is also looked up in the step context's assets
directory. A missing file is a `GristmillError` that says how to get it.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from gristmill.assets.registry import asset_by_name
from gristmill.core.errors import GristmillError
from gristmill.core.step import StepContext


def resolve_asset(spec: str, context: StepContext | None = None) -> Path:
    """The existing file that ``spec`` (a path or a registered asset file name) refers to."""
    if "${assets}" in spec:
        if context is None or context.assets is None:
            raise GristmillError(f"{spec}: no assets directory given (use --assets DIR or GRISTMILL_ASSETS)")
        spec = spec.replace("${assets}", str(context.assets))
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if context is not None and context.assets is not None and not path.is_absolute():
        candidate = Path(context.assets) / path.name
        if candidate.is_file():
            return candidate
    asset = asset_by_name(path.name)
    hint = (
        f"; fetch it with `gristmill download assets --out DIR` ({asset.url})" if asset else ""
    )
    raise GristmillError(f"asset file not found: {path}{hint}")


def read_lines(path: Path, member: str | None = None) -> list[str]:
    """The non-empty lines of a UTF-8 text file (or of ``member`` of a ``.tar.gz``)."""
    return [line for line in read_text(path, member).splitlines() if line]


def read_text(path: Path, member: str | None = None) -> str:
    """The text of a UTF-8 file, or of one member of a tar archive."""
    try:
        if member is not None or path.name.endswith((".tar.gz", ".tgz", ".tar")):
            return read_tar_member(path, member or "domains").decode("utf-8", "replace")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, tarfile.TarError) as exc:
        raise GristmillError(f"cannot read asset {path}: {exc}") from exc


def read_tar_member(path: Path, member: str) -> bytes:
    """The bytes of the archive member whose base name is ``member`` (e.g. UT1's ``domains``)."""
    with tarfile.open(path) as tar:
        for info in tar:
            if info.isfile() and Path(info.name).name == member:
                extracted = tar.extractfile(info)
                assert extracted is not None
                with io.BufferedReader(extracted) as f:  # type: ignore[arg-type]
                    return f.read()
    raise GristmillError(f"{path}: no member named {member!r}")
