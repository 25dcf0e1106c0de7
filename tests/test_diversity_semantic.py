"""Embedding metrics: closed forms against brute force, hand-computed values, Vendi against `vendi-score`."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_diversity import blobs
from synthgen.diversity.clusters import assign_clusters, cluster_count, fit_clusters
from synthgen.diversity.metrics import MetricSettings, embedding_table
from synthgen.diversity.results import NotComputed
from synthgen.diversity.semantic import (cluster_coverage, cluster_histogram, js_divergence, max_similarity,
                                         mean_pairwise_cosine, nearest_neighbour_similarities,
                                         similarity_summary, vendi_score)


def unit(n: int, d: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


def test_mean_pairwise_cosine_by_hand():
    # pairs: (1,2) 0, (1,3) 1, (2,3) 0 → 1/3; closed form (‖(2,1)‖² − 3)/(3·2) = 1/3
    assert mean_pairwise_cosine(np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)) == pytest.approx(1 / 3)


def test_mean_pairwise_cosine_matches_brute_force():
    e = unit(300, 16, seed=1) + 0.3  # not unit rows: the Σ‖e‖² form still holds
    gram = e.astype(np.float64) @ e.T.astype(np.float64)
    brute = (gram.sum() - np.trace(gram)) / (300 * 299)
    assert mean_pairwise_cosine(e) == pytest.approx(brute, rel=1e-9)


def test_max_similarity_blocks_agree_with_the_full_matrix():
    e = unit(50, 8, seed=2)
    sims = e @ e.T
    np.fill_diagonal(sims, -np.inf)
    best, arg = max_similarity(e, e, exclude=np.arange(50), budget=1)  # one row per block
    assert np.allclose(best, sims.max(axis=1)) and (arg == sims.argmax(axis=1)).all()


def test_nearest_neighbour_similarities_sampled_queries_are_exact_rows():
    e = unit(200, 8, seed=3)
    every = nearest_neighbour_similarities(e)
    rows = np.sort(np.random.default_rng(5).choice(200, size=40, replace=False))
    assert np.allclose(nearest_neighbour_similarities(e, queries=40, seed=5), every[rows])


def test_similarity_summary_by_hand():
    mean, details = similarity_summary(np.array([0.2, 0.4, 0.6, 1.0]))
    assert mean == pytest.approx(0.55) and details["share_ge_0.9"] == 0.25 and details["max"] == 1.0


def test_vendi_by_hand():
    assert vendi_score(np.ones((5, 3))) == pytest.approx(1.0)  # all identical
    assert vendi_score(np.eye(4)) == pytest.approx(4.0)  # n ≤ d: primal K = I
    assert vendi_score(np.vstack([np.eye(4), np.eye(4)])) == pytest.approx(4.0)  # n > d: dual, λ = 1/4 each


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("q", [1, 0.5, 2, np.inf])
def test_vendi_matches_the_vendi_score_package(q):
    vendi = pytest.importorskip("vendi_score.vendi")
    pkg_q = "inf" if np.isinf(q) else q
    dual = unit(300, 16, seed=4, dtype=np.float64)  # d < n: dual form on both sides
    assert vendi_score(dual, q) == pytest.approx(vendi.score_dual(dual, q=pkg_q), abs=1e-6)
    primal = unit(12, 40, seed=5, dtype=np.float64)  # n < d: the n×n kernel
    assert vendi_score(primal, q) == pytest.approx(vendi.score_K(primal @ primal.T, q=pkg_q), abs=1e-6)


def test_vendi_dual_equals_primal():
    e = unit(120, 10, seed=6)
    gram_vs = np.exp(-sum(l * np.log(l) for l in np.linalg.eigvalsh((e @ e.T).astype(np.float64) / 120) if l > 0))
    assert vendi_score(e) == pytest.approx(gram_vs, rel=1e-5)


def test_cluster_coverage_histogram_and_js_by_hand():
    assert cluster_coverage(np.array([0, 0, 2]), 4) == 0.5
    assert cluster_histogram(np.array([0, 0, 2]), 4).tolist() == [2 / 3, 0, 1 / 3, 0]
    assert js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_divergence([0.3, 0.7], [0.3, 0.7]) == pytest.approx(0.0)
    # M = (.75, .25): ½[.5 log2(.5/.75) + .5 log2(.5/.25)] + ½[log2(1/.75)]
    assert js_divergence([0.5, 0.5], [1, 0]) == pytest.approx(0.311278, abs=1e-6)


def test_assign_clusters_is_nearest_centroid():
    x, c = unit(100, 6, seed=7), unit(5, 6, seed=8)
    brute = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    assert (assign_clusters(x, c) == brute).all()


def test_cluster_count_needs_enough_real_rows():
    assert cluster_count(1000, 100) == 100 and cluster_count(60, 100) == 12
    with pytest.raises(NotComputed, match="at least 10 real samples"):
        cluster_count(9, 100)


def test_kmeans_finds_planted_clusters():
    x, labels = blobs([40, 40, 40], dim=8)
    found = assign_clusters(x, fit_clusters(x, 3, seed=0))
    assert len({(a, b) for a, b in zip(labels, found)}) == 3


@pytest.mark.parametrize("bad", [[], [1.0, 2.0]])
def test_bad_shapes(bad):
    with pytest.raises((NotComputed, ValueError)):
        mean_pairwise_cosine(np.array(bad))


def test_embedding_table_flags_a_collapsed_batch():
    real, _ = blobs([60] * 8, dim=16, spread=0.3, seed=1)
    collapsed, _ = blobs([200, 10], dim=16, spread=0.1, seed=2)
    rows = {r.metric: r for r in embedding_table(collapsed, real, MetricSettings(clusters=8, min_samples=20))}
    assert rows["mean_pairwise_cosine"].value > rows["mean_pairwise_cosine"].reference + 0.05
    assert rows["vendi"].ratio < 0.8 and rows["cluster_coverage"].ratio < 0.9
    assert rows["cluster_js_divergence"].value > rows["cluster_js_divergence"].reference
    assert rows["vendi"].details["n"] == 210  # equal n: both sides sampled to min(210, 480)


def test_embedding_table_too_few_samples_is_not_computed():
    rows = embedding_table(unit(50, 8), unit(5, 8, seed=1), MetricSettings(min_samples=20))
    assert all(r.value is None for r in rows)
    assert "5 samples at equal n (batch 50, reference 5)" in rows[0].reason
