"""The shipped block model: a JSON file in the package, with what it was fitted on.

``block_model.json`` (beside this module) holds the `BlockModel` weights, the feature names
they belong to, and a ``provenance`` record: the gold sources and page/block counts per
source, a digest of the training pages, the fitting settings, the date and the code version
(gristmill version and git commit of the tree that fitted it). It is written by
``python benchmarks/extraction.py --fit --write-model`` (`gristmill.extract.fit` is the
procedure) and never edited by hand; `load_model` refuses a file whose feature names are not
the ones the current code computes, so a feature change cannot silently reuse stale weights.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from gristmill.extract.cleanup import EXPANDED_NAMES, BlockModel

MODEL_FILE = "block_model.json"


def model_to_json(model: BlockModel, provenance: dict[str, Any]) -> str:
    """The JSON text of a model file (stable key order, one weight per line for diffs)."""
    record = {
        "format": 1,
        "provenance": provenance,
        "features": list(EXPANDED_NAMES),
        **linear_record(model),
        "region_threshold": model.region_threshold,
        "keep_threshold": model.keep_threshold,
    }
    return json.dumps(record, indent=1, ensure_ascii=False) + "\n"


def linear_record(model: Any) -> dict[str, Any]:
    """The standardisation and weights of a fitted linear scorer (the block model, the fallback
    router: ``mean``, ``scale``, ``coef``, ``intercept``) as its fitted file stores them."""
    return {"mean": list(model.mean), "scale": list(model.scale), "coef": list(model.coef),
            "intercept": model.intercept}


def linear_fields(record: dict[str, Any]) -> dict[str, Any]:
    """`linear_record`'s fields read back from a fitted file, as the scorer's constructor takes them."""
    return {"mean": tuple(record["mean"]), "scale": tuple(record["scale"]), "coef": tuple(record["coef"]),
            "intercept": float(record["intercept"])}


def read_fitted_file(shipped: str, path: Path | None = None) -> dict[str, Any]:
    """The raw JSON record of a fitted file: ``path``, or the one shipped in this package."""
    if path is None:
        text = resources.files("gristmill.extract").joinpath(shipped).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def read_model_file(path: Path | None = None) -> dict[str, Any]:
    """The raw record of a model file (the shipped one by default)."""
    return read_fitted_file(MODEL_FILE, path)


def load_model(path: Path | None = None) -> BlockModel:
    """The `BlockModel` of a model file (the shipped one by default)."""
    record = read_model_file(path)
    if tuple(record["features"]) != EXPANDED_NAMES:
        stale = sorted(set(record["features"]) ^ set(EXPANDED_NAMES)) or ["(their order)"]
        raise ValueError(
            f"{path or MODEL_FILE}: its features differ from the code's in {', '.join(stale)}; "
            "refit with benchmarks/extraction.py --fit --write-model"
        )
    return BlockModel(
        **linear_fields(record),
        region_threshold=float(record["region_threshold"]),
        keep_threshold=float(record["keep_threshold"]),
    )


@lru_cache(maxsize=1)
def default_model() -> BlockModel:
    """The shipped model, loaded once per process."""
    return load_model()
