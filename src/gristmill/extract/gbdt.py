"""A small gradient-boosted tree ensemble for block scoring, in numpy only.

Second-order boosting of the logistic loss with complete binary trees of fixed depth on
quantile-binned features: the XGBoost formulation (Chen & Guestrin 2016, "XGBoost: A Scalable
Tree Boosting System", KDD, eqs. 5-7: leaf weight ``-G / (H + lambda)``, split gain
``G_L^2/(H_L+lambda) + G_R^2/(H_R+lambda) - G^2/(H+lambda)``) with LightGBM's histogram split
search (Ke et al. 2017, NeurIPS). Deterministic: no sampling, ties go to the lowest feature and
bin. A node that cannot split (too little hessian on a side) passes its rows to its left child
with a split that sends everything left, so every tree stays complete and prediction is a fixed
number of vectorised steps over all trees at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BINS = 32


@dataclass(frozen=True)
class Trees:
    """Complete trees of depth ``depth``: per tree, internal nodes in heap order (feature,
    threshold: a row goes right when ``x[feature] >= threshold``) and leaf values."""

    depth: int
    base: float
    features: np.ndarray  # (n_trees, 2**depth - 1) int
    thresholds: np.ndarray  # (n_trees, 2**depth - 1) float
    leaves: np.ndarray  # (n_trees, 2**depth) float

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Summed raw scores (log-odds) of rows ``x``."""
        n, n_trees = len(x), len(self.leaves)
        if n == 0:
            return np.zeros(0)
        trees = np.arange(n_trees)
        rows = np.arange(n)[:, None]
        node = np.zeros((n, n_trees), dtype=np.int64)
        for _ in range(self.depth):
            feature = self.features[trees, node]
            right = x[rows, feature] >= self.thresholds[trees, node]
            node = 2 * node + 1 + right
        leaf = node - (2**self.depth - 1)
        return self.base + self.leaves[trees, leaf].sum(axis=1)


def _bin_edges(x: np.ndarray, n_bins: int) -> list[np.ndarray]:
    quantiles = np.linspace(0, 1, n_bins + 1)[1:-1]
    return [np.unique(np.quantile(x[:, j], quantiles)) for j in range(x.shape[1])]


def fit_trees(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    n_trees: int = 100,
    depth: int = 3,
    learning_rate: float = 0.1,
    l2: float = 1.0,
    min_hessian: float = 1.0,
) -> Trees:
    """Boost ``n_trees`` trees on rows ``x`` with 0/1 targets ``y`` and sample ``weights``."""
    n, d = x.shape
    edges = _bin_edges(x, N_BINS)
    binned = np.stack([np.searchsorted(edges[j], x[:, j], side="right") for j in range(d)], axis=1)
    offsets = np.arange(d) * (N_BINS + 1)
    flat_bins = binned + offsets  # one histogram cell per (feature, bin)
    target = y.astype(float)
    prior = float(np.clip(np.average(target, weights=weights), 1e-6, 1 - 1e-6))
    base = float(np.log(prior / (1 - prior)))
    margin = np.full(n, base)
    n_inner = 2**depth - 1
    features = np.zeros((n_trees, n_inner), dtype=np.int64)
    thresholds = np.full((n_trees, n_inner), np.inf)
    leaves = np.zeros((n_trees, 2**depth))
    for t in range(n_trees):
        p = 1.0 / (1.0 + np.exp(-margin))
        grad = weights * (p - target)
        hess = weights * p * (1 - p)
        node = np.zeros(n, dtype=np.int64)
        for level in range(depth):
            first = 2**level - 1
            for k in range(first, 2 * first + 1):
                rows = np.flatnonzero(node == k)
                split = _best_split(flat_bins[rows], grad[rows], hess[rows], d, l2, min_hessian)
                if split is not None:
                    j, b = split
                    features[t, k], thresholds[t, k] = j, edges[j][b]
            feature = features[t, node]
            right = x[np.arange(n), feature] >= thresholds[t, node]
            node = 2 * node + 1 + right
        leaf = node - n_inner
        g_sum = np.bincount(leaf, weights=grad, minlength=2**depth)
        h_sum = np.bincount(leaf, weights=hess, minlength=2**depth)
        leaves[t] = -learning_rate * g_sum / (h_sum + l2)
        margin += leaves[t][leaf]
    return Trees(depth, base, features, thresholds, leaves)


def _best_split(
    flat_bins: np.ndarray, grad: np.ndarray, hess: np.ndarray, d: int, l2: float, min_hessian: float
) -> tuple[int, int] | None:
    """(feature, edge index) of the best split of one node's rows, None when none gains."""
    if len(grad) == 0:
        return None
    cells = d * (N_BINS + 1)
    g = np.bincount(flat_bins.ravel(), weights=np.repeat(grad, d), minlength=cells).reshape(d, N_BINS + 1)
    h = np.bincount(flat_bins.ravel(), weights=np.repeat(hess, d), minlength=cells).reshape(d, N_BINS + 1)
    # Left side of a split at edge b holds bins 0..b (values below edge b).
    g_left = np.cumsum(g, axis=1)[:, :-1]
    h_left = np.cumsum(h, axis=1)[:, :-1]
    g_total, h_total = g.sum(axis=1, keepdims=True), h.sum(axis=1, keepdims=True)
    g_right, h_right = g_total - g_left, h_total - h_left
    gain = g_left**2 / (h_left + l2) + g_right**2 / (h_right + l2) - g_total**2 / (h_total + l2)
    gain[(h_left < min_hessian) | (h_right < min_hessian)] = -np.inf
    best = int(np.argmax(gain))
    j, b = divmod(best, N_BINS)
    if not np.isfinite(gain[j, b]) or gain[j, b] <= 1e-12:
        return None
    return j, b
