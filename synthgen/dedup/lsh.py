"""MinHash LSH banding: choose (b, r), hash bands, find candidate pairs.

A pair with Jaccard ``s`` becomes a candidate with probability ``P(s) = 1 − (1 − s^r)^b`` when the
signature is cut into ``b`` bands of ``r`` rows and a shared band is enough. :func:`optimal_params` picks
(b, r) like ``datasketch.MinHashLSH`` (equal weights): it minimises ``FP + FN`` with
``FP = ∫_0^t P(s) ds`` and ``FN = ∫_t^1 (1 − P(s)) ds``. For 128 permutations and t = 0.7 that is
(b, r) = (14, 9): P(0.7) ≈ 0.44, P(0.8) ≈ 0.87, P(0.85) ≈ 0.97, P(0.9) ≈ 0.999.

Two indexes: :class:`BandTable` (dict buckets, grows one record at a time: the run's own records) and
:class:`FrozenBands` (sorted arrays, queried a batch at a time: real data and history).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .minhash import POSITION_CONSTANTS, fmix64

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)


def candidate_probability(s: np.ndarray | float, b: int, r: int) -> np.ndarray:
    """``P(s) = 1 − (1 − s^r)^b``: the chance a pair of Jaccard ``s`` shares at least one band."""
    return 1.0 - (1.0 - np.asarray(s, dtype=float) ** r) ** b


def _integral(f, lo: float, hi: float) -> float:
    """Gauss–Legendre quadrature of ``f`` over [lo, hi] (96 nodes)."""
    half = (hi - lo) / 2.0
    return float(half * np.sum(_WEIGHTS * f(half * _NODES + (lo + hi) / 2.0)))


@lru_cache(maxsize=64)
def optimal_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(b, r) with ``b·r ≤ num_perm`` minimising ``FP + FN`` around ``threshold`` (datasketch's rule)."""
    best, best_error = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _integral(lambda s: candidate_probability(s, b, r), 0.0, threshold)
            fn = _integral(lambda s: 1.0 - candidate_probability(s, b, r), threshold, 1.0)
            if fp + fn < best_error:
                best, best_error = (b, r), fp + fn
    return best


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n, bands)`` uint64 keys; band ``j`` covers positions ``j·r … j·r + r − 1`` (datasketch's cut).

    ``key = fmix64(Σ_i sig_{j·r+i} · c_i)``; equal bands give equal keys, unequal ones collide with
    negligible probability (a collision only costs one extra verification).
    """
    n = signatures.shape[0]
    cut = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    acc = np.zeros((n, bands), dtype=np.uint64)
    for i in range(rows):
        acc += cut[:, :, i] * POSITION_CONSTANTS[i]
    return fmix64(acc)


class BandTable:
    """Growing LSH index: one dict per band, ``key → record number`` (a list once a bucket is shared)."""

    def __init__(self, bands: int):
        self.tables: list[dict[int, int | list[int]]] = [{} for _ in range(bands)]

    def candidates(self, keys: list[int]) -> set[int]:
        found: set[int] = set()
        for table, key in zip(self.tables, keys):
            hit = table.get(key)
            if hit is None:
                continue
            if isinstance(hit, int):
                found.add(hit)
            else:
                found.update(hit)
        return found

    def add(self, keys: list[int], number: int) -> None:
        for table, key in zip(self.tables, keys):
            hit = table.get(key)
            if hit is None:
                table[key] = number
            elif isinstance(hit, int):
                table[key] = [hit, number]
            else:
                hit.append(number)


class FrozenBands:
    """Static LSH index over ``keys (n, bands)``: per band, keys sorted with their record numbers."""

    def __init__(self, keys: np.ndarray):
        self.n = keys.shape[0]
        self.order_ = np.argsort(keys, axis=0, kind="stable")
        self.sorted_ = np.take_along_axis(keys, self.order_, axis=0)

    def candidate_pairs(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All ``(query row, record number)`` pairs sharing at least one band, deduplicated."""
        q_parts, r_parts = [], []
        for band in range(queries.shape[1]):
            column = self.sorted_[:, band]
            lo = np.searchsorted(column, queries[:, band], side="left")
            hi = np.searchsorted(column, queries[:, band], side="right")
            q, r = _expand_ranges(lo, hi)
            q_parts.append(q)
            r_parts.append(self.order_[r, band])
        if not q_parts:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        pairs = np.unique(np.stack([np.concatenate(q_parts), np.concatenate(r_parts)]), axis=1)
        return pairs[0], pairs[1]


def _expand_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges ``[lo_i, hi_i)``: the row ``i`` and position of every element, as two flat arrays."""
    counts = hi - lo
    rows = np.repeat(np.arange(len(lo)), counts)
    first = np.cumsum(counts) - counts
    positions = np.repeat(lo, counts) + (np.arange(int(counts.sum())) - np.repeat(first, counts))
    return rows, positions
