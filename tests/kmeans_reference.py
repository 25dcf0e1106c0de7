"""The hand-written k-means that synthgen used before scikit-learn (kept only to check that the gate's
results did not move): numpy k-means++ seeding, then Lloyd steps."""

from __future__ import annotations

import numpy as np

from synthgen.diversity.clusters import assign_clusters


def fit_clusters(embeddings: np.ndarray, k: int, seed: int = 0, max_rows: int = 10_000,
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


