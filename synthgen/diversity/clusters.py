"""k-means on real embeddings (scikit-learn's ``KMeans`` / ``MiniBatchKMeans`` under a thread limit), and
nearest-centroid assignment in blocks of plain matrix products: O(rows · k · d)."""

from __future__ import annotations

import os

import numpy as np

from .results import NotComputed
from .semantic import block_rows

MAX_FIT_ROWS = 10_000  # above this many rows k-means is MiniBatchKMeans; assignment covers every row


def cluster_count(n_fit: int, k: int, per_cluster: int = 5) -> int:
    """k, lowered so that every cluster has about ``per_cluster`` fitting rows; NotComputed below 2."""
    usable = min(k, n_fit // per_cluster)
    if usable < 2:
        raise NotComputed(
            f"cluster coverage needs at least {2 * per_cluster} real samples to fit 2 clusters, got {n_fit}"
        )
    return usable


def fit_clusters(embeddings: np.ndarray, k: int, seed: int = 0, max_rows: int = MAX_FIT_ROWS,
                 iterations: int = 30, threads: int | None = None) -> np.ndarray:
    """Centroids (k, d) by scikit-learn: ``KMeans`` (k-means++ seeding, one init, ≤ ``iterations`` Lloyd
    steps) on up to ``max_rows`` rows, ``MiniBatchKMeans`` on more (batches of 4,096, no subsample), both
    under a BLAS/OpenMP limit of ``threads`` (default: every core, at most 4) set with threadpoolctl.
    Both sides of a comparison are assigned to the same centroids, so a rough optimum is enough."""
    x = np.asarray(embeddings, dtype=np.float32)
    if not 1 <= k <= len(x):
        raise ValueError(f"k-means needs 1 ≤ k ≤ rows, got k={k} for {len(x)} rows")
    model = _kmeans(k, seed, iterations, minibatch=len(x) > max_rows)
    with _thread_limit(threads):
        model.fit(x)
    return np.asarray(model.cluster_centers_, dtype=np.float32)


def _kmeans(k: int, seed: int, iterations: int, minibatch: bool):
    try:
        from sklearn.cluster import KMeans, MiniBatchKMeans
    except ImportError as exc:  # pragma: no cover - a core dependency
        from ..errors import MissingDependencyError

        raise MissingDependencyError("cluster coverage needs scikit-learn", hint="pip install scikit-learn") from exc
    if minibatch:
        return MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=1, max_iter=iterations)
    return KMeans(n_clusters=k, random_state=seed, n_init=1, max_iter=iterations, tol=1e-6)


def _thread_limit(threads: int | None):
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads or min(4, os.cpu_count() or 1))


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
