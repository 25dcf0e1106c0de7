"""Embedding diversity metrics: pure functions of float arrays (rows = texts, unit-normalised).

Nothing here builds an n×n matrix: pairwise means use the closed form, nearest neighbours use blocked
matrix products, Vendi uses the d×d dual when d < n. Each docstring gives the formula.
"""

from __future__ import annotations

import numpy as np

from .results import NotComputed

BLOCK_BYTES = 64 * 2**20  # working memory of one similarity block


def check_rows(embeddings: np.ndarray, need: int, metric: str) -> np.ndarray:
    e = np.asarray(embeddings)
    if e.ndim != 2:
        raise ValueError(f"{metric}: expected a 2-d array (n, d), got shape {e.shape}")
    if len(e) < need:
        raise NotComputed(f"{metric} needs at least {need} samples, got {len(e)}")
    return e


def mean_pairwise_cosine(embeddings: np.ndarray) -> float:
    """mean_{i≠j} e_i·e_j = (‖Σ_i e_i‖² − Σ_i ‖e_i‖²) / (n(n−1));
    for unit rows (‖Σe‖² − n)/(n(n−1)). O(n·d), float64 accumulation. 1 = all identical."""
    e = check_rows(embeddings, 2, "mean_pairwise_cosine").astype(np.float64, copy=False)
    n = len(e)
    total = e.sum(axis=0)
    return float((total @ total - np.einsum("ij,ij->", e, e)) / (n * (n - 1)))


def block_rows(n_columns: int, itemsize: int = 4, budget: int = BLOCK_BYTES) -> int:
    return max(1, budget // max(1, n_columns * itemsize))


def max_similarity(queries: np.ndarray, corpus: np.ndarray, exclude: np.ndarray | None = None,
                   budget: int = BLOCK_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """For each query row q: (max_j q·c_j, argmax_j) over corpus rows, skipping column ``exclude[q]``
    (its own index) when given. Blocked: at most ``budget`` bytes of similarities at once."""
    best = np.full(len(queries), -np.inf, dtype=np.float32)
    arg = np.full(len(queries), -1, dtype=np.int64)
    if len(corpus) == 0:
        return best, arg
    step = block_rows(len(corpus), budget=budget)
    for start in range(0, len(queries), step):
        sims = queries[start:start + step] @ corpus.T
        rows = np.arange(len(sims))
        if exclude is not None:
            sims[rows, exclude[start:start + step]] = -np.inf
        idx = sims.argmax(axis=1)
        best[start:start + step], arg[start:start + step] = sims[rows, idx], idx
    return best, arg


def nearest_neighbour_similarities(embeddings: np.ndarray, queries: int | None = None,
                                   seed: int = 0) -> np.ndarray:
    """s_i = max_{j≠i} e_i·e_j for every row i, or for ``queries`` rows drawn with ``seed`` (each still
    searched against all n rows: an unbiased sample of the distribution at O(queries·n·d))."""
    e = check_rows(embeddings, 2, "nearest_neighbour_similarity").astype(np.float32, copy=False)
    rows = np.arange(len(e))
    if queries is not None and queries < len(e):
        rows = np.sort(np.random.default_rng(seed).choice(len(e), size=queries, replace=False))
    best, _ = max_similarity(e[rows], e, exclude=rows)
    return best


def similarity_summary(similarities: np.ndarray, near: float = 0.9) -> tuple[float, dict]:
    """(mean, {p05, p50, p95, max, share ≥ near}) of a nearest-neighbour similarity sample."""
    s = np.asarray(similarities, dtype=np.float64)
    if len(s) == 0:
        raise NotComputed("nearest_neighbour_similarity: no similarities")
    p05, p50, p95 = np.quantile(s, [0.05, 0.5, 0.95])
    details = {"p05": float(p05), "p50": float(p50), "p95": float(p95), "max": float(s.max()),
               f"share_ge_{near}": float((s >= near).mean()), "n_queries": int(len(s))}
    return float(s.mean()), details


def vendi_score(embeddings: np.ndarray, q: float = 1.0) -> float:
    """VS_q = exp(H_q(λ)), λ = eigenvalues of K/n, K = XXᵀ (cosine kernel of the row-normalised X); H_1 =
    −Σ λ log λ, H_q = log(Σ λ^q)/(1−q), H_∞ = −log max λ; λ ≤ 0 ignored (Friedman & Dieng 2023). When
    d < n the nonzero λ are those of the d×d XᵀX/n: O(n·d²). 1 = all identical, n = all orthogonal."""
    x = check_rows(embeddings, 2, "vendi")
    n, d = x.shape
    if d < n:
        gram = _dual_gram(x)
    else:
        unit = _unit_rows(x)
        gram = unit @ unit.T
    return float(np.exp(_entropy(np.linalg.eigvalsh(gram / n), q)))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to norm 1 in float64 (zero rows stay zero, as in scikit-learn's ``normalize``)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def _dual_gram(x: np.ndarray, step: int = 8192) -> np.ndarray:
    """XᵀX of the row-normalised X in float64, one block of rows at a time (no float64 copy of X)."""
    out = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, len(x), step):
        block = _unit_rows(x[start:start + step])
        out += block.T @ block
    return out


def _entropy(eigenvalues: np.ndarray, q: float) -> float:
    p = eigenvalues[eigenvalues > 0]
    if q == 1:
        return float(-(p * np.log(p)).sum())
    if np.isinf(q):
        return float(-np.log(p.max()))
    return float(np.log((p ** q).sum()) / (1 - q))


def cluster_coverage(labels: np.ndarray, k: int) -> float:
    """coverage = |{c : some sample is assigned to cluster c}| / k."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise NotComputed("cluster_coverage: no samples")
    return len(np.unique(labels)) / k


def cluster_histogram(labels: np.ndarray, k: int) -> np.ndarray:
    """p_c = |{i : label_i = c}| / n for c = 0..k−1."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=k).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """JS(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M), M = (P + Q)/2, log base 2: 0 = identical, 1 = disjoint."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        raise NotComputed("js_divergence: an empty histogram")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return float(0.5 * _kl(p, m) + 0.5 * _kl(q, m))


def _kl(p: np.ndarray, m: np.ndarray) -> float:
    mask = p > 0
    return float((p[mask] * np.log2(p[mask] / m[mask])).sum())
