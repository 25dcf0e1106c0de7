"""k-means on real embeddings (numpy: k-means++ seeding, then Lloyd), and nearest-centroid assignment in
blocks. Plain matrix products, so its cost is predictable on a shared CPU: O(rows · k · d) per iteration."""

from __future__ import annotations

import numpy as np

from .results import NotComputed
from .semantic import block_rows

MAX_FIT_ROWS = 10_000  # k-means fits on a seeded sample this large; assignment still covers every row


def cluster_count(n_fit: int, k: int, per_cluster: int = 5) -> int:
    """k, lowered so that every cluster has about ``per_cluster`` fitting rows; NotComputed below 2."""
    usable = min(k, n_fit // per_cluster)
    if usable < 2:
        raise NotComputed(
            f"cluster coverage needs at least {2 * per_cluster} real samples to fit 2 clusters, got {n_fit}"
        )
    return usable


def fit_clusters(embeddings: np.ndarray, k: int, seed: int = 0, max_rows: int = MAX_FIT_ROWS,
                 iterations: int = 30) -> np.ndarray:
    """Centroids (k, d): k-means++ seeding then ≤ ``iterations`` Lloyd steps on ≤ ``max_rows`` seeded rows.
    Both sides of a comparison are assigned to the same centroids, so a rough optimum is enough."""
    rng = np.random.default_rng(seed)
    x = np.asarray(embeddings, dtype=np.float32)
    if len(x) > max_rows:
        x = x[rng.choice(len(x), size=max_rows, replace=False)]
    if not 1 <= k <= len(x):
        raise ValueError(f"k-means needs 1 ≤ k ≤ rows, got k={k} for {len(x)} rows")
    centroids = kmeans_plus_plus(x, k, rng)
    for _ in range(iterations):
        updated = cluster_means(x, assign_clusters(x, centroids), centroids)
        if np.allclose(updated, centroids, atol=1e-6):
            break
        centroids = updated
    return centroids


def kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy D² seeding (Arthur & Vassilvitskii 2007, as scikit-learn does it): draw 2 + ⌊ln k⌋ candidates
    ∝ squared distance to the nearest centre so far, keep the one that lowers the total the most."""
    sq = (x * x).sum(axis=1)
    trials = 2 + int(np.log(k))
    chosen = [int(rng.integers(len(x)))]
    d2 = np.maximum(sq + sq[chosen[0]] - 2 * (x @ x[chosen[0]]), 0)
    for _ in range(1, k):
        total = float(d2.sum())
        if total <= 0:
            chosen.append(int(rng.integers(len(x))))
            continue
        candidates = rng.choice(len(x), size=trials, p=d2 / total)
        dist = np.minimum(d2[:, None], np.maximum(sq[:, None] + sq[candidates] - 2 * (x @ x[candidates].T), 0))
        best = int(dist.sum(axis=0).argmin())
        chosen.append(int(candidates[best]))
        d2 = dist[:, best]
    return x[chosen].copy()


def cluster_means(x: np.ndarray, labels: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Mean of each cluster's rows; an empty cluster keeps its previous centre."""
    counts = np.bincount(labels, minlength=len(previous))
    present = np.flatnonzero(counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[present]
    sums = np.add.reduceat(x[np.argsort(labels, kind="stable")].astype(np.float64), starts, axis=0)
    out = previous.copy()
    out[present] = (sums / counts[present, None]).astype(np.float32)
    return out


def assign_clusters(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """label_i = argmin_c ‖e_i − c‖² = argmax_c (2 e_i·c − ‖c‖²), computed in row blocks."""
    x = np.asarray(embeddings, dtype=np.float32)
    c = np.asarray(centroids, dtype=np.float32)
    bias = (c * c).sum(axis=1)
    labels = np.empty(len(x), dtype=np.int64)
    step = block_rows(len(c))
    for start in range(0, len(x), step):
        labels[start:start + step] = (2 * (x[start:start + step] @ c.T) - bias).argmax(axis=1)
    return labels
