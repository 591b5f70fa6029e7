"""`gristmill download assets`: fetch every registered asset file into one directory.

Each asset comes from its public source (`gristmill.assets.registry`), or, with ``base_url``,
from ``<base_url>/<file>`` (a mirror laid out flat, such as ``../shared/data/filters``).
Transfers go through `gristmill.io.transfer.fetch_url`, so they resume, retry and land
atomically; a file already present is kept. Every file is checked against the digest the
recipes were validated with; a mismatch is reported (the upstream list may have changed) and
the file kept, so that a user can decide.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gristmill.assets.registry import ASSETS, Asset, asset_by_name
from gristmill.core.errors import GristmillError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchedAsset:
    """The outcome for one asset."""

    asset: Asset
    path: Path
    sha256: str

    @property
    def verified(self) -> bool:
        return self.sha256 == self.asset.sha256


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def asset_source(asset: Asset, base_url: str | None = None) -> str:
    """Where ``asset`` is fetched from: its public URL, or ``<base_url>/<file>``."""
    if base_url:
        return f"{base_url.rstrip('/')}/{asset.file}"
    return asset.url


def download_assets(
    out_dir: Path | str,
    base_url: str | None = None,
    names: list[str] | None = None,
    **fetch_options: Any,
) -> list[FetchedAsset]:
    """Download the registered assets (all, or those in ``names``) into ``out_dir``.

    ``fetch_options`` (``retries``, ``backoff``, ``timeout``, ``progress``) go to
    `gristmill.io.transfer.fetch_url`.
    """
    from gristmill.io.transfer import fetch_url

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if names:
        wanted = []
        for name in names:
            asset = asset_by_name(name)
            if asset is None:
                known = ", ".join(a.name for a in ASSETS)
                raise GristmillError(f"unknown asset {name!r} (known: {known})")
            wanted.append(asset)
    else:
        wanted = [a for a in ASSETS if not a.packaged]
    fetched = []
    for asset in wanted:
        dest = out / asset.file
        fetch_url(asset_source(asset, base_url), dest, **fetch_options)
        result = FetchedAsset(asset, dest, _sha256(dest))
        if not result.verified:
            log.warning(
                "%s: sha256 %s differs from the checked version %s (upstream changed?)",
                dest, result.sha256, asset.sha256,
            )
        fetched.append(result)
    return fetched
