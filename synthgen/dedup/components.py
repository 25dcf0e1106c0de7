"""The distributed dedup's pure steps: bucket pairs, verified edges, connected components, survivors.

The local engine keeps a text unless an earlier *kept* text shares its exact key, or shares an LSH band
with it at estimated Jaccard ``Ĵ ≥ threshold`` (the best such, ties to the earliest). Call such a pair a
verified edge. A text's verdict depends only on its earlier neighbours along verified edges, so the graph
splits into connected components that are decided independently: in each, rows are visited in input order
and the engine's rule is applied to the neighbours already kept. A component whose rows are all pairwise
duplicates keeps one survivor (its first row); a chain ``a ~ b ~ c`` with ``a ≁ c`` keeps ``a`` and ``c``,
exactly as the engine does.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

EXACT_BAND = -1  # the band number under which exact keys are shuffled


def partition_of(keys: np.ndarray, partitions: int) -> np.ndarray:
    """Shuffle partition of each bucket key (keys are already well-mixed 64-bit hashes)."""
    return (keys % np.uint64(partitions)).astype(np.int64)


def bucket_pairs(bands: np.ndarray, keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``(i < j)`` of rows in the same (band, key) bucket, and whether the bucket is the exact one.

    Buckets with ``m`` members give ``m(m − 1)/2`` pairs; duplicates across bands are left to the caller."""
    order = np.lexsort((rows, keys, bands))
    bands, keys, rows = bands[order], keys[order], rows[order]
    new = np.ones(len(rows), bool)
    new[1:] = (bands[1:] != bands[:-1]) | (keys[1:] != keys[:-1])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(rows)))
    left, right, exact = [], [], []
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
        members = rows[start:start + size]
        i, j = np.triu_indices(size, 1)
        left.append(members[i])
        right.append(members[j])
        exact.append(np.full(len(i), bands[start] == EXACT_BAND))
    if not left:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, bool)
    return np.concatenate(left), np.concatenate(right), np.concatenate(exact)


def merge_pairs(i: np.ndarray, j: np.ndarray, exact: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unique pairs with two flags: shares the exact key, shares an LSH band."""
    if not len(i):
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0, bool), np.empty(0, bool)
    pairs, inverse = np.unique(np.stack([i, j], axis=1), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    by_exact = np.zeros(len(pairs), bool)
    by_band = np.zeros(len(pairs), bool)
    np.logical_or.at(by_exact, inverse, exact)
    np.logical_or.at(by_band, inverse, ~exact)
    return pairs[:, 0], pairs[:, 1], by_exact, by_band


def components(n_nodes: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected component label of every node (scipy's union-find on the sparse edge list)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n_nodes, n_nodes))
    return connected_components(graph, directed=False)[1]


def resolve_component(rows: np.ndarray, i: np.ndarray, j: np.ndarray, jac: np.ndarray, exact_edge: np.ndarray,
                      near_edge: np.ndarray) -> Iterator[tuple[int, str, int, float]]:
    """``(row, reason, matched row, score)`` for each dropped row of one component (module docstring)."""
    kept: set[int] = set()
    by_right: dict[int, list[int]] = {}
    for edge, right in enumerate(j.tolist()):
        by_right.setdefault(right, []).append(edge)
    for row in np.sort(rows).tolist():
        edges = [e for e in by_right.get(row, ()) if int(i[e]) in kept]
        exact = [int(i[e]) for e in edges if exact_edge[e]]
        if exact:
            yield row, "exact_duplicate", min(exact), 1.0
            continue
        near = [(-float(jac[e]), int(i[e])) for e in edges if near_edge[e]]
        if near:
            score, match = min(near)
            yield row, "near_duplicate", match, -score
            continue
        kept.add(row)
