"""Named public assets (word lists, blocklists, models) that recipes refer to as files.

Recipes name asset files under ``${assets}`` (``--assets DIR`` or ``GRISTMILL_ASSETS``);
`gristmill download assets` fills such a directory from the public sources listed in
`gristmill.assets.registry`.
"""

from gristmill.assets.registry import ASSETS, Asset, asset_by_file, asset_by_name

__all__ = ["ASSETS", "Asset", "asset_by_file", "asset_by_name"]
