"""The shipped block model: a JSON file in the package, with what it was fitted on.

``block_model.json`` (beside this module) holds the `BlockModel` (``kind`` "logistic": weights
over `gristmill.extract.cleanup.expand_features`; "gbdt": boosted trees over the base
`gristmill.extract.blocks.block_features`), the feature names it reads, and a ``provenance`` record: the gold sources and page/block counts per
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

import numpy as np

from gristmill.extract.blocks import FEATURE_NAMES
from gristmill.extract.cleanup import EXPANDED_NAMES, BlockModel
from gristmill.extract.gbdt import Trees

MODEL_FILE = "block_model.json"


def model_to_json(model: BlockModel, provenance: dict[str, Any]) -> str:
    """The JSON text of a model file (stable key order, one weight per line for diffs)."""
    record: dict[str, Any] = {
        "format": 1,
        "provenance": provenance,
        "kind": "logistic" if model.trees is None else "gbdt",
        "region_threshold": model.region_threshold,
        "keep_threshold": model.keep_threshold,
    }
    if model.trees is None:
        record["features"] = list(EXPANDED_NAMES)
        record |= {"mean": list(model.mean), "scale": list(model.scale), "coef": list(model.coef)}
        record["intercept"] = model.intercept
    else:
        trees = model.trees
        record["features"] = list(FEATURE_NAMES)
        # Thresholds of nodes that do not split are +inf, which JSON cannot hold: null.
        thresholds = [[None if np.isinf(v) else float(v) for v in row] for row in trees.thresholds]
        record["trees"] = {
            "depth": trees.depth,
            "base": trees.base,
            "features": trees.features.tolist(),
            "thresholds": thresholds,
            "leaves": trees.leaves.tolist(),
        }
    return json.dumps(record, indent=1, ensure_ascii=False) + "\n"


def read_model_file(path: Path | None = None) -> dict[str, Any]:
    """The raw record of a model file (the shipped one by default)."""
    if path is None:
        text = resources.files("gristmill.extract").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def load_model(path: Path | None = None) -> BlockModel:
    """The `BlockModel` of a model file (the shipped one by default)."""
    record = read_model_file(path)
    expected = EXPANDED_NAMES if record["kind"] == "logistic" else FEATURE_NAMES
    if tuple(record["features"]) != expected:
        stale = sorted(set(record["features"]) ^ set(expected)) or ["(their order)"]
        raise ValueError(
            f"{path or MODEL_FILE}: its features differ from the code's in {', '.join(stale)}; "
            "refit with benchmarks/extraction.py --fit --write-model"
        )
    thresholds = (float(record["region_threshold"]), float(record["keep_threshold"]))
    if record["kind"] == "gbdt":
        t = record["trees"]
        trees = Trees(
            depth=int(t["depth"]),
            base=float(t["base"]),
            features=np.asarray(t["features"], dtype=np.int64),
            thresholds=np.asarray([[np.inf if v is None else v for v in row] for row in t["thresholds"]]),
            leaves=np.asarray(t["leaves"], dtype=float),
        )
        return BlockModel((), (), (), 0.0, *thresholds, trees=trees)
    return BlockModel(
        tuple(record["mean"]), tuple(record["scale"]), tuple(record["coef"]), float(record["intercept"]), *thresholds
    )


@lru_cache(maxsize=1)
def default_model() -> BlockModel:
    """The shipped model, loaded once per process."""
    return load_model()
