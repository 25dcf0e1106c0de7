"""Diverse selection: when more records pass than the target needs, keep the k that cover the space best.

* :func:`k_center_greedy` (farthest-point): repeatedly take the row farthest (lowest max cosine) from
  everything chosen so far; a 2-approximation of the k-center objective, O(n·k·d), O(n) memory.
* :func:`cluster_stratified`: k-means into c clusters, an equal share per cluster (water-filling: small
  clusters give their unused share to the others), farthest-point inside each cluster.
"""

from __future__ import annotations

import numpy as np

from ..atomic import equal_shares

STRATEGIES = ("first", "k_center", "cluster_stratified")


def k_center_greedy(embeddings: np.ndarray, k: int, seed: int = 0, first: int | None = None,
                    ordered: bool = False) -> np.ndarray:
    """Indices of ``k`` rows in the order chosen: start at ``first`` (default: the row nearest the mean,
    ties by ``seed``), then each time the row whose best cosine to the chosen set is lowest. With ``k ≥ n``
    every row is chosen, returned in input order unless ``ordered`` (a caller that takes prefixes, like the
    mix's measured share, needs the farthest-point order of all of them)."""
    e = np.asarray(embeddings, dtype=np.float32)
    n = len(e)
    if k >= n and not ordered:
        return np.arange(n)
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = _start(e, seed) if first is None else first
    closest = e @ e[chosen[0]]
    for step in range(1, k):
        closest[chosen[step - 1]] = np.inf
        chosen[step] = int(closest.argmin())
        np.maximum(closest, e @ e[chosen[step]], out=closest)
    return chosen


def _start(e: np.ndarray, seed: int) -> int:
    scores = e @ e.mean(axis=0)
    jitter = np.random.default_rng(seed).random(len(e)) * 1e-9
    return int((scores + jitter).argmax())


def shares(sizes: np.ndarray, k: int) -> np.ndarray:
    """Water-filling: per-cluster counts summing to min(k, Σ sizes), as equal as sizes allow."""
    return np.asarray(equal_shares([int(n) for n in sizes], k), dtype=np.int64)


def cluster_stratified(embeddings: np.ndarray, k: int, clusters: int | None = None, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``k`` rows: equal shares of c = ``clusters`` (default min(k, ⌈√n⌉)) k-means
    clusters, farthest-point inside each."""
    from .clusters import assign_clusters, fit_clusters

    e = np.asarray(embeddings, dtype=np.float32)
    n = len(e)
    if k >= n:
        return np.arange(n)
    c = max(1, min(clusters or min(k, int(np.ceil(np.sqrt(n)))), n))
    labels = assign_clusters(e, fit_clusters(e, c, seed)) if c > 1 else np.zeros(n, dtype=np.int64)
    members = [np.flatnonzero(labels == j) for j in range(c)]
    counts = shares(np.array([len(m) for m in members]), k)
    picked = [m[k_center_greedy(e[m], int(q), seed)] for m, q in zip(members, counts) if q > 0]
    return np.sort(np.concatenate(picked))


def select_diverse(embeddings: np.ndarray, k: int, strategy: str = "k_center", seed: int = 0) -> np.ndarray:
    """Indices of the ``k`` rows to keep: ``first`` (the first k), ``k_center`` or ``cluster_stratified``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown selection strategy {strategy!r}: use one of {STRATEGIES}")
    if strategy == "first":
        return np.arange(min(k, len(embeddings)))
    if strategy == "k_center":
        return k_center_greedy(embeddings, k, seed)
    return cluster_stratified(embeddings, k, seed=seed)
